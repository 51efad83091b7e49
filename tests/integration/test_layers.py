"""tools/check-layers.sh keeps the layers of plugin/ honest: it passes on the
checkout and fails on the mistakes it is there to catch."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'check-layers.sh')


class LayerCheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='aio-layers-')
        shutil.copytree(os.path.join(ROOT, 'plugin'), os.path.join(self.tmp, 'plugin'))
        shutil.copytree(os.path.join(ROOT, 'tests', 'unit'), os.path.join(self.tmp, 'tests', 'unit'))
        os.makedirs(os.path.join(self.tmp, 'views'))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def check(self):
        return subprocess.run(['bash', SCRIPT, self.tmp], capture_output=True, text=True)

    def add_line(self, path, line):
        path = os.path.join(self.tmp, path)
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(line + '\n' + text)

    def test_the_checkout_passes(self):
        result = self.check()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('include rules hold', result.stdout)

    def test_uwsgi_h_outside_the_uwsgi_host_fails(self):
        self.add_line('plugin/engine/task.c', '#include <uwsgi.h>')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('plugin/engine/task.c includes uwsgi.h', result.stderr)

    def test_an_upward_include_fails(self):
        self.add_line('plugin/engine/executor.c', '#include "app/app.h"')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('"app/app.h", a layer above it', result.stderr)

    def test_the_framework_header_below_the_framework_fails(self):
        self.add_line('plugin/proto/http.c', '#include <uwsgi-aio/aio.h>')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('<uwsgi-aio/aio.h>', result.stderr)

    def test_one_host_including_the_other_fails(self):
        self.add_line('plugin/testing/app.c', '#include "uwsgi/host.h"')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('hosts never include each other', result.stderr)

    def test_a_unit_test_reaching_above_its_layer_fails(self):
        self.add_line('tests/unit/proto/test_http.c', '#include "engine/engine.h"')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('tests/unit/proto/test_http.c', result.stderr)

    def test_a_file_outside_the_layers_fails(self):
        with open(os.path.join(self.tmp, 'plugin', 'stray.c'), 'w') as f:
            f.write('int stray;\n')
        result = self.check()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('plugin/stray.c is in no layer', result.stderr)


if __name__ == '__main__':
    unittest.main()
