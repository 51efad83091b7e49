"""A view that crashes its worker: one line names the request whose code
was running (and a stack overflow as such) before the worker dies, and the
master respawns it. Stack overflows, in small steps or in one frame larger
than the stack, always fault in the guard region: the overflowing view
never answers, and no other request is silently corrupted."""
import re
import threading
import time
import unittest

from tests.integration.harness import (PROBE, SANITIZE, SANITIZER_REPORT, SLOWDOWN, Uwsgi,
                                       concurrent_gets, get)

# what a sanitizer says about the crash the test asked for (and nothing else)
EXPECTED_REPORT = re.compile(r'(ERROR|SUMMARY): AddressSanitizer:? (SEGV|FPE|ABRT|stack-overflow)')


class CrashingUwsgi(Uwsgi):
    """A master and one worker serving the probe module, expected to crash."""

    def __init__(self, *extra):
        super().__init__(modules=(PROBE,), extra=[('master', 'true')] + list(extra))

    def assert_clean_log(self):
        log = self.read_log()
        for report in SANITIZER_REPORT.finditer(log):
            if not EXPECTED_REPORT.match(log, report.start()):
                raise AssertionError('sanitizer report in the uwsgi log:\n' +
                                     log[report.start() - 200:][:6000])


def crash_line(server, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        lines = [l for l in server.read_log().splitlines() if l.startswith('aio: worker 1 (pid ')]
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError('no crash line:\n' + server.read_log()[-3000:])


def wait_respawned(test, server):
    deadline = time.monotonic() + 15 * SLOWDOWN
    while 'Respawned uWSGI worker 1' not in server.read_log():
        test.assertLess(time.monotonic(), deadline, server.read_log()[-3000:])
        time.sleep(0.05)
    server.wait_ready()
    test.assertEqual(get(server.port, '/probe/deep?kb=10').text, 'deep 10\n')


class CrashReportTest(unittest.TestCase):

    def crash(self, path, *extra):
        """GETs `path`, which must get no answer; returns the crash lines."""
        with CrashingUwsgi(*extra) as server:
            r = None
            try:
                r = get(server.port, path, timeout=10 * SLOWDOWN)
            except OSError:
                pass
            self.assertTrue(r is None or r.status == 0, r and r.text)  # it never answered
            lines = crash_line(server)
            wait_respawned(self, server)
            return lines, server.read_log()

    def test_a_segfault_names_the_request(self):
        lines, _ = self.crash('/probe/crash?how=segv')
        self.assertRegex(lines[0], r"^aio: worker 1 \(pid \d+\) got SIGSEGV at 0x10 while "
                                   r"running GET /probe/crash \(route 'crash'\); the worker "
                                   r"dies and the master respawns it$")

    def test_an_abort_names_the_request(self):
        lines, _ = self.crash('/probe/crash?how=abort')
        self.assertRegex(lines[0], r"got SIGABRT while running GET /probe/crash \(route 'crash'\)")

    @unittest.skipIf(SANITIZE, 'UBSan reports the division by zero itself, before the trap')
    def test_a_division_by_zero_names_the_request(self):
        lines, _ = self.crash('/probe/crash?how=fpe')
        self.assertRegex(lines[0], r"got SIGFPE while running GET /probe/crash \(route 'crash'\)")

    def test_a_crash_in_an_executor_thread_names_its_request(self):
        lines, _ = self.crash('/probe/crash/executor')
        self.assertRegex(lines[0], r"got SIGSEGV at 0x10 in an executor thread while running "
                                   r"GET /probe/crash/executor \(route 'crash_executor'\)")


@unittest.skipIf(SANITIZE, 'ASan reports the overflow itself, before the guard region')
class StackOverflowTest(unittest.TestCase):
    """aio-stack-size = 256k; while some requests sleep on their own
    coroutines, one overflows its stack."""

    def overflow(self, path):
        with CrashingUwsgi(('aio-stack-size', '256k')) as server:
            sleepers = threading.Thread(target=lambda: result.update(
                responses=concurrent_gets(server.port, ['/probe/sleep?s=2'] * 8,
                                          timeout=10 * SLOWDOWN)[0]))
            result = {}
            sleepers.start()
            time.sleep(0.3 * SLOWDOWN)
            r = None
            try:
                r = get(server.port, path, timeout=10 * SLOWDOWN)
            except OSError:
                pass
            self.assertTrue(r is None or r.status == 0, r and r.text)  # no answer, ever
            line, = crash_line(server)
            sleepers.join(20 * SLOWDOWN)
            # the sleepers died with their worker, uncorrupted: no answer, or the right one
            for response, _ in result['responses']:
                if getattr(response, 'status', 0):
                    self.assertEqual((response.status, response.text), (200, 'slept rc=0\n'))
            wait_respawned(self, server)
            return line

    def test_small_steps_fault_in_the_guard(self):
        line = self.overflow('/probe/deep?kb=400')
        self.assertRegex(line, r"got SIGSEGV: its coroutine overflowed its stack \(aio-stack-size "
                               r"= 256k\) while running GET /probe/deep \(route 'deep'\)")

    def test_one_frame_larger_than_the_stack_faults_in_the_guard(self):
        # 300 KiB: past the stack and its guard region without stack-clash
        # protection, into the neighbouring coroutine's stack
        line = self.overflow('/probe/frame?kb=%d' % (256 + 64 + 16))
        self.assertRegex(line, r"got SIGSEGV: its coroutine overflowed its stack \(aio-stack-size "
                               r"= 256k\) while running GET /probe/frame \(route 'frame'\)")

    def test_a_frame_that_fits_answers(self):
        with Uwsgi(modules=(PROBE,), extra=[('aio-stack-size', '256k')]) as server:
            self.assertEqual(get(server.port, '/probe/frame?kb=200').text, 'frame 200 x\n')


if __name__ == '__main__':
    unittest.main()
