"""A new project from a scaffold, as a user makes one: uwsgi-aio installed
into a prefix of its own (`make install PREFIX=...`), the project created
outside the checkout (`uwsgiconfig.py create --scaffold ...`), then, in the
project, `make`, `make test` and `uwsgi --ini development.ini`, which
serves on 127.0.0.1:6543 - found through pkg-config alone."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from tests.integration.harness import ROOT, SLOWDOWN, get
from tests.integration.wsclient import TEXT, WsClient

PORT = 6543  # what development.ini says


def port_busy(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


class ScaffoldTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix='aio-scaffold-')
        cls.prefix = os.path.join(cls.work, 'prefix')
        result = subprocess.run(['make', '-C', ROOT, 'install', 'PREFIX=' + cls.prefix],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise AssertionError('make install failed:\n' + result.stdout + result.stderr)
        cls.env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(cls.prefix, 'lib', 'pkgconfig'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def run_in(self, cwd, *cmd):
        result = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, '%s:\n%s%s' % (' '.join(cmd), result.stdout,
                                                             result.stderr))
        return result.stdout + result.stderr

    def create(self, scaffold, name):
        project = os.path.join(self.work, name)
        self.run_in(self.work, sys.executable, os.path.join(ROOT, 'uwsgiconfig.py'), 'create',
                    '--scaffold', scaffold, project)
        return project

    def build_and_test(self, project, tests):
        self.run_in(project, 'make')
        out = self.run_in(project, 'make', 'test')
        self.assertIn('[  PASSED  ] %d test(s).' % tests, out)

    def serve(self, project):
        """`uwsgi --ini development.ini` in the project, stopped after the test."""
        if port_busy(PORT):
            self.skipTest('127.0.0.1:%d is taken: development.ini serves there' % PORT)
        log = open(os.path.join(project, 'uwsgi.log'), 'w')
        proc = subprocess.Popen(['uwsgi', '--ini', 'development.ini'], cwd=project, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)

        def stop():
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15 * SLOWDOWN)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        self.addCleanup(stop)
        deadline = time.monotonic() + 20 * SLOWDOWN
        while not port_busy(PORT):
            if proc.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(project, 'uwsgi.log')) as f:
                    self.fail('development.ini did not serve:\n' + f.read()[-3000:])
            time.sleep(0.1)

    def test_aio_starter(self):
        project = self.create('aio_starter', 'starter_app')
        self.assertEqual(sorted(os.listdir(project)),
                         ['Makefile', 'README.rst', 'development.ini', 'tests', 'views'])
        self.build_and_test(project, 2)
        self.serve(project)
        r = get(PORT, '/?sleep=0')
        self.assertEqual(r.status, 200)
        self.assertIn('<h1>starter_app</h1>', r.text)

    def test_aio_websocket(self):
        project = self.create('aio_websocket', 'ws_app')
        self.build_and_test(project, 2)
        self.serve(project)
        r = get(PORT, '/')
        self.assertEqual(r.status, 200)
        self.assertIn('<title>ws_app websocket test</title>', r.text)
        self.assertIn('new WebSocket', r.text)
        c = WsClient(PORT, '/echo')
        c.send_text('Aiopyramid echo test.')
        self.assertEqual(c.recv(), (TEXT, b'Aiopyramid echo test.'))
        c.close()
        self.assertEqual(c.expect_close()[0], 1000)
        c.shutdown()

    def test_bad_project_names_and_places_are_refused(self):
        base = [sys.executable, os.path.join(ROOT, 'uwsgiconfig.py'), 'create', '--scaffold']
        for name in ('my-app', '1app'):
            r = subprocess.run(base + ['aio_starter', os.path.join(self.work, name)],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('must be a C identifier', r.stderr)
        taken = os.path.join(self.work, 'taken')
        os.makedirs(taken)
        open(os.path.join(taken, 'file'), 'w').close()
        r = subprocess.run(base + ['aio_starter', taken], capture_output=True, text=True)
        self.assertIn('exists and is not an empty directory', r.stderr)
        r = subprocess.run(base + ['nonesuch', os.path.join(self.work, 'x')],
                           capture_output=True, text=True)
        self.assertIn("invalid choice: 'nonesuch'", r.stderr)

    def test_make_says_what_is_missing_without_pkg_config_path(self):
        project = self.create('aio_starter', 'lost_app')
        env = dict(os.environ)
        env.pop('PKG_CONFIG_PATH', None)
        r = subprocess.run(['make'], cwd=project, env=env, capture_output=True, text=True)
        if r.returncode == 0:
            self.skipTest('a uwsgi-aio is installed system-wide')
        self.assertIn('uwsgi-aio not found by pkg-config', r.stderr)


if __name__ == '__main__':
    unittest.main()
