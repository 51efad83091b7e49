"""A coroutine view that blocks the loop is named in the log: the route,
method, path and how long every other request of the worker waited
(aio-stall-ms), at most once a second; views that suspend never are."""
import re
import threading
import time
import unittest

from tests.integration.harness import SLOWDOWN, Uwsgi, get

STALL = re.compile(r"aio: stall: GET /stall \(route 'stall'\) held the loop for (\d+) ms "
                   r"without suspending; every other request of this worker waited "
                   r"\(aio-stall-ms = (\d+)\)(?: \(and (\d+) more since the last report\))?")


def stalls(server):
    return [m.groups() for m in STALL.finditer(server.read_log())]


def wait_for_stalls(server, n, timeout=5.0):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while len(stalls(server)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return stalls(server)


class StallTest(unittest.TestCase):

    def test_a_blocking_coroutine_view_is_named_with_how_long_it_held_the_loop(self):
        with Uwsgi() as server:
            # a /hello sent meanwhile waits for the stall to end: what the line is about
            result, ms = {}, int(600 * SLOWDOWN)
            blocked = threading.Thread(target=lambda: result.update(
                r=get(server.port, '/stall?ms=%d' % ms)))
            blocked.start()
            time.sleep(0.2 * SLOWDOWN)
            start = time.monotonic()
            self.assertEqual(get(server.port, '/hello').status, 200)
            waited = time.monotonic() - start
            blocked.join(10 * SLOWDOWN)
            self.assertEqual(result['r'].status, 200)
            self.assertEqual(result['r'].text, 'held the loop for %d ms\n' % ms)
            self.assertGreater(waited, 0.15)
            (held, threshold, more), = wait_for_stalls(server, 1)
            self.assertGreaterEqual(int(held), ms)
            self.assertLess(int(held), ms + 1000 * SLOWDOWN)
            self.assertEqual((threshold, more), ('100', None))

    def test_suspending_and_short_views_are_not_reported(self):
        with Uwsgi() as server:
            for path in ['/?sleep=0.3', '/stall?ms=20'] + ['/hello'] * 50:
                self.assertEqual(get(server.port, path).status, 200)
            time.sleep(0.2)
            self.assertNotIn('stall:', server.read_log())

    def test_at_most_one_line_a_second_and_the_rest_counted(self):
        with Uwsgi(extra=[('aio-stall-ms', '30')]) as server:
            for _ in range(3):  # well within a second of the first report
                self.assertEqual(get(server.port, '/stall?ms=50').status, 200)
            self.assertEqual(len(wait_for_stalls(server, 1)), 1)
            time.sleep(1.1)
            self.assertEqual(get(server.port, '/stall?ms=50').status, 200)
            lines = wait_for_stalls(server, 2)
            self.assertEqual(len(lines), 2, server.read_log()[-2000:])
            self.assertEqual([l[1] for l in lines], ['30', '30'])
            self.assertEqual(lines[1][2], '2')  # the two unlogged ones

    def test_zero_turns_the_report_off(self):
        with Uwsgi(extra=[('aio-stall-ms', '0')]) as server:
            self.assertEqual(get(server.port, '/stall?ms=300').status, 200)
            time.sleep(0.2)
            self.assertNotIn('stall:', server.read_log())

    def test_bad_ms_is_refused(self):
        with Uwsgi() as server:
            for bad in ('-1', '10001'):
                r = get(server.port, '/stall?ms=' + bad)
                self.assertEqual(r.status, 400)
                self.assertEqual(r.text, 'ms must be from 0 to 10000\n')


if __name__ == '__main__':
    unittest.main()
