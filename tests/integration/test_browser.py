"""The tutorial page in a real browser: headless Chromium (Debian's), driven
by playwright-core, opens / and its JavaScript talks to the /echo websocket."""
import os
import shutil
import subprocess
import unittest

from tests.integration.harness import ROOT, SLOWDOWN, TUTORIAL, Uwsgi

SCRIPT = os.path.join(ROOT, 'tests', 'browser', 'tutorial.mjs')
EVENTS_SCRIPT = os.path.join(ROOT, 'tests', 'browser', 'events.mjs')
NODE_MODULES = os.path.join(ROOT, 'tests', 'browser', 'node_modules', 'playwright-core')


class BrowserTest(unittest.TestCase):

    def test_tutorial_page_websocket_test(self):
        self.assertTrue(shutil.which('node'), 'node is not installed (apt-get install nodejs)')
        self.assertTrue(os.path.exists('/usr/bin/chromium'),
                        'chromium is not installed (apt-get install chromium)')
        self.assertTrue(os.path.isdir(NODE_MODULES),
                        'run: npm ci --prefix tests/browser')
        with Uwsgi(modules=(TUTORIAL,)) as server:
            result = subprocess.run(['node', SCRIPT, 'http://127.0.0.1:%d/' % server.port],
                                    capture_output=True, text=True, timeout=90 * SLOWDOWN)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            lines = result.stdout.splitlines()
            self.assertEqual(lines, ['TITLE: aiotutorial websocket test', 'CONNECTED',
                                     'SENT: Aiopyramid echo test.',
                                     'RESPONSE: Aiopyramid echo test.', 'DISCONNECTED'])
            log = server.read_log()
            self.assertIn('GET /echo => generated 0 bytes', log)
            self.assertIn('(HTTP/1.1 101)', log)

    def test_server_sent_events_arrive_one_by_one(self):
        self.assertTrue(os.path.isdir(NODE_MODULES), 'run: npm ci --prefix tests/browser')
        with Uwsgi(modules=(TUTORIAL,)) as server:
            result = subprocess.run(['node', EVENTS_SCRIPT, 'http://127.0.0.1:%d/' % server.port,
                                     '5', '300'],
                                    capture_output=True, text=True, timeout=90 * SLOWDOWN)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            events = [line.split() for line in result.stdout.splitlines()]
            self.assertEqual([e[:3] for e in events],
                             [['EVENT', str(i), str(i + 1)] for i in range(5)])
            # 300 ms apart as sent, not all at once when the stream ends
            arrivals = [int(e[3]) for e in events]
            for before, after in zip(arrivals, arrivals[1:]):
                self.assertGreater(after - before, 150, arrivals)
