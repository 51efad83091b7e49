"""Request deadlines: aio-request-timeout, a view's own timeout_ms, and
uWSGI's harakiri mapped onto them. Past the deadline a request's waits
return AIO_ETIMEDOUT and the client gets 504; the worker and its other
requests live on."""
import re
import threading
import time
import unittest

from tests.integration.harness import PROBE, SLOWDOWN, Uwsgi, concurrent_gets, get
from tests.integration.wsclient import TEXT, WsClient

DEADLINE_LINE = re.compile(r"aio: GET (\S+) \(route '(\w+)'\) took longer than its deadline "
                           r"\((its view's timeout_ms|aio-request-timeout)\): answering 504")


def timed_get(port, path):
    start = time.monotonic()
    r = get(port, path, timeout=20 * SLOWDOWN)
    return r, time.monotonic() - start


class RequestTimeoutTest(unittest.TestCase):

    def test_a_request_past_the_deadline_gets_504_and_its_wait_times_out(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-request-timeout', '300')]) as server:
            r, took = timed_get(server.port, '/probe/sleep?s=5')
            self.assertEqual(r.status, 504)
            self.assertIn('The request took too long.', r.text)
            self.assertGreaterEqual(took, 0.3)
            self.assertLess(took, 0.3 + 1.0 * SLOWDOWN)
            log = server.read_log()
            self.assertIn('probe: sleep(5) returned -4 (', log)  # AIO_ETIMEDOUT, in the view
            self.assertEqual(DEADLINE_LINE.findall(log),
                             [('/probe/sleep', 'sleep', 'aio-request-timeout')])
            # in time: untouched; and the next request on the same core has no deadline left over
            self.assertEqual(get(server.port, '/probe/sleep?s=0.05').text, 'slept rc=0\n')

    def test_many_at_once_each_with_its_own_deadline(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-request-timeout', '400')]) as server:
            paths = ['/probe/sleep?s=3', '/probe/sleep?s=0.1'] * 20
            responses, _ = concurrent_gets(server.port, paths, timeout=20 * SLOWDOWN)
            self.assertEqual([r.status for r, _ in responses], [504, 200] * 20)

    def test_an_executor_view_answers_504_when_its_thread_returns(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-request-timeout', '200')]) as server:
            r, took = timed_get(server.port, '/probe/executor?ms=700')
            self.assertEqual(r.status, 504)
            self.assertGreaterEqual(took, 0.7)  # the thread ran to its end

    def test_a_views_own_timeout_and_none(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-request-timeout', '300')]) as server:
            r, took = timed_get(server.port, '/probe/quick?s=3')  # timeout_ms = 200
            self.assertEqual(r.status, 504)
            self.assertLess(took, 0.2 + 1.0 * SLOWDOWN)
            r, took = timed_get(server.port, '/probe/long-poll?s=0.6')  # AIO_NO_TIMEOUT
            self.assertEqual((r.status, r.text), (200, 'slept rc=0\n'))
            self.assertIn(('/probe/quick', 'quick', "its view's timeout_ms"),
                          DEADLINE_LINE.findall(server.read_log()))

    def test_websocket_sessions_have_no_deadline(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-request-timeout', '200')]) as server:
            c = WsClient(server.port, '/probe/ws/echo/1')
            time.sleep(0.6 * SLOWDOWN)
            c.send_text('still here')
            self.assertEqual(c.recv(), (TEXT, b'still here'))
            c.close()
            self.assertEqual(c.expect_close()[0], 1000)
            c.shutdown()

    def test_without_the_option_there_is_no_deadline(self):
        with Uwsgi(modules=(PROBE,)) as server:
            r, took = timed_get(server.port, '/probe/sleep?s=1')
            self.assertEqual((r.status, r.text), (200, 'slept rc=0\n'))


class HarakiriTest(unittest.TestCase):

    def test_harakiri_becomes_the_deadline_and_kills_nothing(self):
        with Uwsgi(modules=(PROBE,), extra=[('master', 'true'), ('harakiri', '1')]) as server:
            self.assertIn("aio: 'harakiri = 1' means here: a request still running after 1 s "
                          "gets 504 (aio-request-timeout = 1000)", server.read_log())
            pid = get(server.port, '/probe/pid').text.split()[0]
            result = {}
            other = threading.Thread(target=lambda: result.update(
                r=get(server.port, '/probe/sleep?s=0.5')))
            other.start()
            r, took = timed_get(server.port, '/probe/sleep?s=4')
            other.join(10)
            self.assertEqual(r.status, 504)
            self.assertLess(took, 1 + 1.5 * SLOWDOWN)
            self.assertEqual(result['r'].status, 200)  # its neighbour on the worker lives
            time.sleep(1.5)  # when uWSGI's harakiri would have struck
            self.assertEqual(get(server.port, '/probe/pid').text.split()[0], pid)
            self.assertNotIn('HARAKIRI', server.read_log())

    def test_an_explicit_request_timeout_wins(self):
        with Uwsgi(modules=(PROBE,), extra=[('harakiri', '30'),
                                            ('aio-request-timeout', '200')]) as server:
            self.assertIn("aio: 'harakiri = 30' ignored: 'aio-request-timeout' sets",
                          server.read_log())
            self.assertEqual(get(server.port, '/probe/sleep?s=2').status, 504)


if __name__ == '__main__':
    unittest.main()
