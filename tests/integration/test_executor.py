"""The executor (blocking views and aio_run_in_executor) and tasks started
with aio_spawn(), on a real uwsgi."""
import asyncio
import socket
import time
import unittest

from tests.integration.harness import (PROBE, SANITIZE, SLOWDOWN, TUTORIAL, ServerTestCase,
                                       Uwsgi, concurrent_gets, get)


class ExecutorViewTest(ServerTestCase):
    server_kwargs = {'modules': (PROBE, TUTORIAL)}

    def test_executor_view_uses_the_request_api_from_a_thread(self):
        r = get(self.port, '/probe/executor?ms=20&who=me')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['x-thread'], 'executor')
        # not a coroutine: suspending there is a scope error (-2)
        self.assertEqual(r.text, 'executor view: in_coroutine=0 sleep=-2 who=me\n')

    def test_default_mapper_runs_plain_views_in_the_executor(self):
        r = get(self.port, '/probe/default-mapper?ms=5')
        self.assertEqual(r.headers['x-thread'], 'executor')
        r = get(self.port, '/blocking?ms=50')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, 'blocked 50 ms in an executor thread\n')

    def test_run_in_executor_result_and_failure(self):
        self.assertEqual(get(self.port, '/probe/run?ms=30').text, 'result=60 on_loop=0\n')
        self.assertEqual(get(self.port, '/probe/run?ms=5&fail=1').text,
                         'result=-42 on_loop=0\n')

    def test_blocking_views_do_not_block_the_loop(self):
        """16 threads, 32 requests blocking 1 s: about 2 s in all, and
        meanwhile /hello answers every time in well under 50 ms."""
        async def scenario():
            async def fetch(path):
                start = time.monotonic()
                reader, writer = await asyncio.open_connection('127.0.0.1', self.port)
                writer.write(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
                data = await reader.read()
                writer.close()
                return data, time.monotonic() - start
            start = time.monotonic()
            blocking = [asyncio.ensure_future(fetch('/blocking?ms=1000')) for _ in range(32)]
            await asyncio.sleep(0.2)
            hello = []
            while not all(b.done() for b in blocking):
                data, latency = await fetch('/hello')
                self.assertIn(b'Hello World', data)
                hello.append(latency)
                await asyncio.sleep(0.05)
            results = await asyncio.gather(*blocking)
            return results, time.monotonic() - start, hello
        results, elapsed, hello = asyncio.run(scenario())
        for data, _ in results:
            self.assertIn(b'blocked 1000 ms', data)
        self.assertGreaterEqual(elapsed, 2.0)
        self.assertLess(elapsed, 2.0 + 0.8 * SLOWDOWN)
        self.assertGreater(len(hello), 10)
        self.assertLess(max(hello), 0.05 * SLOWDOWN, sorted(hello)[-5:])


class TaskTest(ServerTestCase):
    server_kwargs = {'modules': (PROBE,)}

    def count(self):
        text = get(self.port, '/probe/counter').text
        return dict(kv.split('=') for kv in text.split())

    def test_fire_and_forget_task(self):
        before = int(self.count()['count'])
        r = get(self.port, '/probe/spawn?ms=300')
        self.assertEqual(r.text, 'spawned rc=0 count=%d\n' % before)  # answered at once
        self.assertEqual(int(self.count()['count']), before)
        time.sleep(0.6 * SLOWDOWN)
        self.assertEqual(int(self.count()['count']), before + 1)
        self.wait_for_log('probe: background task done (count=%d)' % (before + 1))

    def test_joinable_task_sleeps_and_uses_the_executor(self):
        start = time.monotonic()
        self.assertEqual(get(self.port, '/probe/join?ms=100').text, 'join rc=0 result=200\n')
        self.assertGreaterEqual(time.monotonic() - start, 0.15)

    def test_failing_task_is_logged(self):
        self.assertEqual(get(self.port, '/probe/spawn-fail').text, 'spawned rc=0\n')
        self.wait_for_log("aio: task 'failing' failed: the background work went wrong")

    def test_task_spawned_by_aio_main_runs(self):
        first = int(self.count()['heartbeats'])
        time.sleep(0.5)
        self.assertGreater(int(self.count()['heartbeats']), first)


class ExecutorLimitsTest(unittest.TestCase):

    def test_full_queue_rejects_with_503(self):
        with Uwsgi(modules=(TUTORIAL,), extra=[('aio-executor-threads', '1'),
                                               ('aio-executor-queue', '1')]) as server:
            first = socket.create_connection(('127.0.0.1', server.port))
            first.sendall(b'GET /blocking?ms=600 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            time.sleep(0.2)  # the only thread runs it: the queue is empty
            responses, _ = concurrent_gets(server.port, ['/blocking?ms=100'] * 3)
            statuses = sorted(r.status for r, _ in responses)
            self.assertEqual(statuses, [200, 503, 503])  # one queued, two rejected
            first.settimeout(5)
            self.assertIn(b'200 OK', first.recv(4096))
            first.close()
            busy = [r for r, _ in responses if r.status == 503][0]
            self.assertEqual(busy.headers['retry-after'], '1')
            self.assertIn('executor queue full', server.read_log())

    def test_full_queue_can_wait_instead(self):
        with Uwsgi(modules=(TUTORIAL,), extra=[('aio-executor-threads', '1'),
                                               ('aio-executor-queue', '1'),
                                               ('aio-executor-when-full', 'wait')]) as server:
            responses, elapsed = concurrent_gets(server.port, ['/blocking?ms=300'] * 4)
            self.assertEqual([r.status for r, _ in responses], [200] * 4)
            self.assertGreaterEqual(elapsed, 1.2)  # one at a time

    def test_client_leaving_during_an_executor_job(self):
        with Uwsgi(modules=(PROBE, TUTORIAL)) as server:
            clients = []
            for path in ('/blocking?ms=800', '/probe/run?ms=800'):
                s = socket.create_connection(('127.0.0.1', server.port))
                s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
                clients.append(s)
            time.sleep(0.3)
            for s in clients:
                s.close()
            deadline = time.monotonic() + 3 * SLOWDOWN
            while server.read_log().count('client went away') < 2:
                self.assertLess(time.monotonic(), deadline, server.read_log()[-2000:])
                time.sleep(0.05)
            # the jobs finish; then the requests end, answering nothing
            deadline = time.monotonic() + 3 * SLOWDOWN
            while 'run_in_executor(800) came back to a cancelled request' not in server.read_log():
                self.assertLess(time.monotonic(), deadline, server.read_log()[-2000:])
                time.sleep(0.05)
            self.assertEqual(get(server.port, '/hello').status, 200)
            server.stop()
            log = server.read_log()
            self.assertIn('2 cancelled', log)
            self.assertEqual(log.count('=> generated 0 bytes'), 2)

    def test_graceful_stop_cancels_tasks_and_waits_for_jobs(self):
        with Uwsgi(modules=(PROBE, TUTORIAL)) as server:
            s = socket.create_connection(('127.0.0.1', server.port))
            s.sendall(b'GET /blocking?ms=700 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            time.sleep(0.2)
            start = time.monotonic()
            server.stop()
            self.assertGreaterEqual(time.monotonic() - start, 0.4)  # the job was waited for
            s.settimeout(5)
            self.assertIn(b'blocked 700 ms', s.recv(4096) + s.recv(4096))
            s.close()
            self.assertIn('probe: heartbeat stopped (cancelled=1)', server.read_log())


class ExecutorConfigTest(unittest.TestCase):

    def test_bad_executor_options(self):
        from tests.integration.test_config import start_and_fail
        for options, needle in [
                ([('aio-executor-threads', '0')], "'aio-executor-threads' must be an integer "
                                                  "from 1 to 1024"),
                ([('aio-executor-threads', '5000')], "'aio-executor-threads'"),
                ([('aio-executor-queue', 'x')], "'aio-executor-queue'"),
                ([('aio-executor-when-full', 'maybe')], "'reject' or 'wait'"),
                ([('aio-max-tasks', '0')], "'aio-max-tasks'")]:
            with self.subTest(options=options):
                code, log = start_and_fail([('aio', '10')] + options)
                self.assertNotEqual(code, 0)
                lines = [l for l in log.splitlines() if 'configuration error' in l]
                self.assertEqual(len(lines), 1, log[-2000:])
                self.assertIn(needle, lines[0])
