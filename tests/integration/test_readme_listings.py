"""Every listing of README.rst is extracted and checked against the real
thing, so that what a new user copies works: C is compiled with the
README's own command (the tutorial's module is built and served), shell
lines are run, ini and nginx text is what the files say, excerpts are in
the files they come from, and log lines are what the server writes. A
listing without a check fails the test: a new listing needs one."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from tests.integration.harness import (BUILD, ROOT, SLOWDOWN, TUTORIAL, Uwsgi, get)

README = os.path.join(ROOT, 'README.rst')


def listings():
    """(line number, text) of each literal block (a paragraph ending in
    '::', not a directive), its indentation removed."""
    lines = open(README).read().split('\n')
    found = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.endswith('::') and not line.lstrip().startswith('..'):
            indent = len(lines[i]) - len(lines[i].lstrip())
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            start = j
            inner = len(lines[start]) - len(lines[start].lstrip()) if start < len(lines) else 0
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip()) >= inner > indent):
                j += 1
            block = '\n'.join(l[inner:] for l in lines[start:j]).strip('\n')
            found.append((start + 1, block))
            i = j
        else:
            i += 1
    return found


def squeezed(text):
    """Text without C comments and whitespace: an excerpt check that does
    not care how lines are broken or what the comments say."""
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    return re.sub(r'\s+', '', text)


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


PRELUDE = '''#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <uwsgi-aio/aio_testing.h>
'''


class ReadmeListingsTest(unittest.TestCase):

    def setUp(self):
        self.work = tempfile.mkdtemp(prefix='aio-readme-')
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)

    def compiles(self, code, name='listing'):
        """The README's command for a module of your own (gcc -std=gnu11
        -fstack-clash-protection -fPIC -shared -I.../plugin/include), syntax
        only: the listing with the headers a module includes."""
        path = os.path.join(self.work, name + '.c')
        with open(path, 'w') as f:
            f.write(PRELUDE + code + '\n')
        r = subprocess.run(['gcc', '-std=gnu11', '-fstack-clash-protection', '-fPIC', '-fsyntax-only',
                            '-Wall', '-Werror=implicit-function-declaration',
                            '-Wno-unused-function', '-Wno-unused-variable',
                            '-I' + os.path.join(ROOT, 'plugin', 'include'),
                            '-DAIO_TEST_MODULE="x.so"', path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, '%s\n%s' % (code, r.stderr))

    def in_order(self, pieces, rel):
        """Each piece (squeezed) is in the file (squeezed), after the one
        before: the listing shows the file's code, leaving parts out."""
        text, at = squeezed(read(rel)), 0
        for piece in pieces:
            found = text.find(piece, at)
            self.assertGreaterEqual(found, 0, '%r is not in %s (in this order)' % (piece, rel))
            at = found + len(piece)

    def excerpt_statements(self, block, rel):
        self.in_order([s + ';' for s in squeezed(block).split(';') if s], rel)

    def excerpt_lines(self, block, rel):
        self.in_order([squeezed(line) for line in block.splitlines() if squeezed(line)], rel)

    # ---- what each listing is, by its first line --------------------------------

    def check_setup_commands(self, block):
        # the two set-up commands: the second is what CI runs (.ci/run); the
        # first serves example.ini, which test_docs starts
        self.assertIn('bash tools/dev.sh test', read('.ci/run'))
        self.assertIn('example)', read('tools/dev.sh'))

    def check_tutorial_module(self, block):
        """Built with `uwsgiconfig.py module DIR` (the README's command) and
        served, with the tutorial's templates."""
        src = os.path.join(self.work, 'mytutorial')
        shutil.copytree(os.path.join(ROOT, 'views', 'tutorial', 'templates'),
                        os.path.join(src, 'templates'))
        with open(os.path.join(src, 'mytutorial.c'), 'w') as f:
            f.write(block + '\n')
        r = subprocess.run([sys.executable, os.path.join(ROOT, 'uwsgiconfig.py'), 'module', src],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn('warning', r.stdout + r.stderr)
        with Uwsgi(modules=(src + '.so',)) as server:
            self.assertEqual(get(server.port, '/hello').text, 'Hello World\n')
            page = get(server.port, '/?sleep=0')
            self.assertEqual(page.status, 200)
            self.assertIn('<title>aiotutorial websocket test</title>', page.text)
            self.assertEqual(get(server.port, '/?sleep=abc').status, 400)

    def check_view_and_registration(self, block):
        """A view, '...', then what aio_main() says of it."""
        top, _, statements = block.partition('\n...\n')
        self.compiles(top + '\nint aio_main(aio_config *cfg)\n{\n' + statements +
                      '\n    return 0;\n}\n')

    def check_page_output(self, block):
        for line in block.splitlines():  # what the page prints: the browser test's lines
            self.assertIn(line.strip().split(':')[0], read('tests/integration/test_browser.py'))

    def check_ini(self, block):
        ini = read('example.ini')
        self.assertEqual(block.strip() + '\n', ini[ini.index('[uwsgi]'):])

    def check_project_commands(self, block):
        """Run as written, with HOME a temporary directory; the server is
        left out (test_scaffolds serves one)."""
        script = block.replace('&& uwsgi --ini development.ini', '')
        home = os.path.join(self.work, 'home')
        os.makedirs(home)
        r = subprocess.run(['bash', '-e', '-c', script], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, HOME=home))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('[  PASSED  ] 2 test(s).', r.stdout + r.stderr)
        self.assertTrue(os.path.exists(os.path.join(home, 'src', 'myapp', 'build', 'myapp.so')))

    def check_module_command(self, block):
        self.assertEqual(block.split('#')[0].split(), ['python3', 'uwsgiconfig.py', 'module',
                                                       'path/to/mymodule'])
        # the command itself is run on the tutorial listing (check_tutorial_module)

    def check_list_template(self, block):
        self.excerpt_lines(block, 'views/tutorial/templates/list.html')

    def check_secure_routes(self, block):
        tests = read('tests/integration/test_secure.py')
        for line in block.splitlines():
            method, path = line.split()[:2]
            self.assertIn(path, tests, 'no test of %s %s' % (method, path))

    def check_secure_main(self, block):
        self.excerpt_statements(block, 'views/secure/secure.c')

    def check_testing_file(self, block):
        self.compiles(block)

    def check_testing_statements(self, block):
        self.compiles('static void f(aio_testing *t)\n{\n    int status;\n' + block + '\n}\n')

    def check_config_error(self, block):
        server = Uwsgi(modules=(TUTORIAL,), aio='many')
        server.start(wait=False)
        self.assertIsNotNone(server.wait_exit(15 * SLOWDOWN))
        self.assertIn(block.strip(), server.read_log())
        server.log.close()

    def check_stall_line(self, block):
        pattern = re.escape(block.strip()).replace('400', r'\d+')
        with Uwsgi(modules=(TUTORIAL,)) as server:
            self.assertEqual(get(server.port, '/stall?ms=400').status, 200)
            # the line is written as the request is freed, after its answer went
            deadline = time.monotonic() + 5 * SLOWDOWN
            while not re.search(pattern, server.read_log()) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertRegex(server.read_log(), pattern)

    def check_nginx(self, block):
        self.excerpt_lines(block, 'deploy/nginx.conf')

    def check_executor_statements(self, block):
        self.compiles('static int count_rows(void *db) { (void)db; return 0; }\n'
                      'static int view(aio_request *req)\n{\n    void *db = NULL;\n' + block +
                      '\n    return rows;\n}\n')

    def check_two_instances(self, block):
        # a session by hand (it needs redis-server): every option it uses is
        # one of ours or uWSGI's, and test_scaleout runs exactly this layout
        for option in re.findall(r'--([a-z-]+)', block):
            if option.startswith('aio'):
                self.assertIn('"%s"' % option, read('plugin/uwsgi/plugin.c'))
        self.assertIn('aio-broadcast', read('tests/integration/test_scaleout.py'))

    def check_database_excerpt(self, block):
        self.excerpt_statements(block, 'views/database/database.c')

    def check_relay_excerpt(self, block):
        self.excerpt_statements(block, 'views/tutorial/tutorial.c')

    def check_crash_lines(self, block):
        tests = read('tests/integration/test_crash.py')
        self.assertIn('got SIGSEGV at 0x10 while', tests)
        self.assertIn('its coroutine overflowed its stack', tests)

    CHECKS = {
        'bash tools/dev.sh example': check_setup_commands,
        '#include <uwsgi-aio/aio.h>': check_tutorial_module,
        '/* GET /blocking?ms=N': check_view_and_registration,
        '/* /echo (websocket)': check_view_and_registration,
        'aiotutorial websocket test': check_page_output,
        '[uwsgi]': check_ini,
        'make install PREFIX=$HOME/.local': check_project_commands,
        'python3 uwsgiconfig.py module': check_module_command,
        '{{#any}}': check_list_template,
        'POST /login': check_secure_routes,
        'int rc = aio_use_authtkt(cfg,': check_secure_main,
        'static const struct aio_ace aces[]': check_secure_main,
        '#include <uwsgi-aio/aio_testing.h>': check_testing_file,
        'aio_testing_ws *ws': check_testing_statements,
        "aio: configuration error: option 'aio'": check_config_error,
        'aio: stall: GET /stall': check_stall_line,
        'upstream uwsgi_aio {': check_nginx,
        'int rows;': check_executor_statements,
        'redis-server --port 6379': check_two_instances,
        'aio: worker 1 (pid 4711) got SIGSEGV': check_crash_lines,
        'PGresult *res;\nint rc = aio_pg_query': check_database_excerpt,
        'aio_http_response *res;': check_relay_excerpt,
    }

    def test_every_listing(self):
        seen = set()
        for line, block in listings():
            check = next((fn for start, fn in self.CHECKS.items() if block.startswith(start)), None)
            with self.subTest(line=line, listing=block.split('\n')[0][:60]):
                self.assertIsNotNone(check, 'README.rst:%d: a listing without a check' % line)
                check(self, block)
                seen.add(check)
        self.assertEqual(len(seen), len(set(self.CHECKS.values())), 'a check lost its listing')


if __name__ == '__main__':
    unittest.main()
