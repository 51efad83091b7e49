"""Users build their own view modules against aio.h with uwsgiconfig.py."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests.integration.harness import ROOT, SANITIZE, Uwsgi, get

MODULE = r'''
#include <uwsgi-aio/aio.h>

static int page(aio_request *req)
{
    const char *who = aio_param(req, "who");
    return aio_render(req, "templates/page.html", "who", who ? who : "world", NULL);
}

int aio_main(aio_config *cfg)
{
    aio_add_route(cfg, "page", "/greet");
    return aio_add_view(cfg, "page", page, AIO_COROUTINE | AIO_GET);
}
'''


# The module's own test, in-process: passes, or fails when FAIL is defined.
MODULE_TEST = r'''
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uwsgi-aio/aio_testing.h>

static void greets(void **state)
{
    (void)state;
    aio_testing *t = aio_testing_new();
    assert_int_equal(aio_testing_option(t, "aio-views", AIO_TEST_MODULE), AIO_OK);
    assert_int_equal(aio_testing_start(t), AIO_OK);
    aio_request *req = aio_testing_request(t, "GET", "/greet?who=tests");
    assert_int_equal(aio_testing_run_view(t, req, "page"), AIO_OK);
#ifdef FAIL
    assert_string_equal(aio_rendered_value(req, "who"), "somebody else");
#else
    assert_string_equal(aio_rendered_value(req, "who"), "tests");
#endif
    aio_testing_request_free(req);
    aio_testing_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(greets)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
'''


class OwnModuleTest(unittest.TestCase):

    def test_build_and_serve_a_module(self):
        work = tempfile.mkdtemp(prefix='aio-module-')
        try:
            src = os.path.join(work, 'greeter')
            os.makedirs(os.path.join(src, 'templates'))
            with open(os.path.join(src, 'greeter.c'), 'w') as f:
                f.write(MODULE)
            with open(os.path.join(src, 'templates', 'page.html'), 'w') as f:
                f.write('<p>Hello {{who}}!</p>\n')
            cmd = [sys.executable, os.path.join(ROOT, 'uwsgiconfig.py')]
            cmd += ['--sanitize'] if SANITIZE else []
            cmd += ['module', src]
            subprocess.run(cmd, check=True, cwd=work, capture_output=True)
            module = src + '.so'
            self.assertTrue(os.path.exists(module))
            with Uwsgi(modules=(module,)) as server:
                r = get(server.port, '/greet?who=%3Cyou%3E')
                self.assertEqual(r.status, 200)
                self.assertEqual(r.text, '<p>Hello &lt;you&gt;!</p>\n')
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_a_module_with_its_own_tests(self):
        """`uwsgiconfig.py test DIR` builds the module and DIR/tests/*.c against
        libaio_testing, runs them, and fails when a test does."""
        work = tempfile.mkdtemp(prefix='aio-module-')
        try:
            src = os.path.join(work, 'greeter')
            os.makedirs(os.path.join(src, 'templates'))
            os.makedirs(os.path.join(src, 'tests'))
            with open(os.path.join(src, 'greeter.c'), 'w') as f:
                f.write(MODULE)
            with open(os.path.join(src, 'templates', 'page.html'), 'w') as f:
                f.write('<p>Hello {{who}}!</p>\n')
            with open(os.path.join(src, 'tests', 'test_greeter.c'), 'w') as f:
                f.write(MODULE_TEST)
            cmd = [sys.executable, os.path.join(ROOT, 'uwsgiconfig.py')]
            cmd += ['--sanitize'] if SANITIZE else []
            result = subprocess.run(cmd + ['test', src], cwd=work, capture_output=True,
                                    text=True)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn('[  PASSED  ] 1 test(s).', result.stdout + result.stderr)
            # the test binary is built in a build directory, not among the sources
            self.assertEqual(os.listdir(os.path.join(src, 'tests')), ['test_greeter.c'])
            self.assertTrue(os.path.exists(os.path.join(src, 'build', 'tests', 'test_greeter')))
            with open(os.path.join(src, 'tests', 'test_greeter.c'), 'w') as f:
                f.write('#define FAIL\n' + MODULE_TEST)
            result = subprocess.run(cmd + ['test', src], cwd=work, capture_output=True,
                                    text=True)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn('FAILED', result.stdout + result.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_a_users_module_builds_as_plain_c_with_their_cflags(self):
        """Outside this checkout: usleep() without feature macros, an unused
        argument (a warning, not an error), and CFLAGS from the environment."""
        work = tempfile.mkdtemp(prefix='aio-module-')
        try:
            src = os.path.join(work, 'plain')
            os.makedirs(src)
            with open(os.path.join(src, 'plain.c'), 'w') as f:
                f.write('#include <uwsgi-aio/aio.h>\n#include <unistd.h>\n'
                        'static int blocking(aio_request *req)\n'
                        '{ usleep(1000); return aio_printf(req, "%d\\n", GREETING); }\n'
                        'static int unused(aio_request *req) { return 0; }\n'
                        'int aio_main(aio_config *cfg)\n'
                        '{ aio_add_route(cfg, "b", "/b"); (void)unused;\n'
                        '  return aio_add_view(cfg, "b", blocking, AIO_GET); }\n')
            env = dict(os.environ, CFLAGS='-DGREETING=42 -O1')
            result = subprocess.run([sys.executable, os.path.join(ROOT, 'uwsgiconfig.py'),
                                     'module', src], cwd=work, capture_output=True, text=True,
                                    env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn('unused parameter', result.stderr)  # said, and built anyway
            with Uwsgi(modules=(src + '.so',)) as server:
                self.assertEqual(get(server.port, '/b').text, '42\n')
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_compile_errors_are_reported(self):
        work = tempfile.mkdtemp(prefix='aio-module-')
        try:
            src = os.path.join(work, 'broken')
            os.makedirs(src)
            with open(os.path.join(src, 'broken.c'), 'w') as f:
                f.write('#include <uwsgi-aio/aio.h>\nint aio_main(aio_config *cfg) { return no_such; }\n')
            result = subprocess.run([sys.executable, os.path.join(ROOT, 'uwsgiconfig.py'),
                                     'module', src], cwd=work, capture_output=True, text=True)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn('broken.c', result.stderr)
            self.assertFalse(os.path.exists(src + '.so'))
        finally:
            shutil.rmtree(work, ignore_errors=True)
