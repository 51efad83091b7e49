"""Many requests at once on one worker: suspended requests cost no thread,
slow clients cannot starve the others, and a full worker queues new
connections instead of failing them."""
import asyncio
import time
import unittest

from tests.integration.harness import (PROBE, SANITIZE, SLOWDOWN, TUTORIAL, Uwsgi,
                                       concurrent_gets, get, trickling_clients)


def slowloris(port, connections, seconds):
    """Opens `connections` connections that send a request head one byte a
    second for `seconds`, then hang up. Returns how many the server cut."""
    head = b'GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ' + b'a' * 64
    return trickling_clients(port, connections, b'', lambda i: head[i:i + 1], seconds, 1.0)


class ConcurrencyTest(unittest.TestCase):

    def test_500_concurrent_sleeps_on_one_worker(self):
        with Uwsgi(modules=(TUTORIAL,), aio=1000, extra=[('processes', '1')]) as server:
            responses, elapsed = concurrent_gets(server.port, ['/?sleep=1'] * 500)
            statuses = [r.status if not isinstance(r, Exception) else repr(r)
                        for r, _ in [(x if isinstance(x, Exception) else x[0], 0)
                                     for x in responses]]
            self.assertEqual(statuses.count(200), 500, statuses[:5])
            for r, _ in responses:
                self.assertIn('aiotutorial websocket test', r.text)
            self.assertGreaterEqual(elapsed, 1.0)
            self.assertLess(elapsed, 2.5 * (2 if SANITIZE else 1))
            log = server.read_log()
            self.assertEqual(log.count('GET /?sleep=1 => generated'), 500)
            self.assertIn('spawned uWSGI worker 1 (and the only)', log)

    def test_full_worker_queues_connections(self):
        """4 cores, 20 requests of 0.5 s: all succeed, in about 5 rounds."""
        with Uwsgi(modules=(PROBE,), aio=4) as server:
            responses, elapsed = concurrent_gets(server.port, ['/probe/sleep?s=0.5'] * 20)
            self.assertEqual([r.status for r, _ in responses], [200] * 20)
            self.assertGreaterEqual(elapsed, 2.5)
            self.assertLess(elapsed, 2.5 + 2.0 * SLOWDOWN)
            self.assertEqual(get(server.port, '/probe/request').status, 200)

    def test_slowloris_does_not_block_others(self):
        """500 connections trickle their heads a byte a second; /hello keeps
        answering at once (the seeds' "Extra Credit")."""
        with Uwsgi(modules=(TUTORIAL,), aio=1000, extra=[('socket-timeout', '30')]) as server:
            async def scenario():
                attack = asyncio.ensure_future(slowloris(server.port, 500, 6)())
                await asyncio.sleep(1.5)  # every slow connection is open and trickling
                latencies = []
                for _ in range(10):
                    start = time.monotonic()
                    reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
                    writer.write(b'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                    data = await asyncio.wait_for(reader.read(), 5)
                    writer.close()
                    latencies.append(time.monotonic() - start)
                    self.assertIn(b'Hello World', data)
                    await asyncio.sleep(0.2)
                cut = await attack
                return latencies, cut
            latencies, cut = asyncio.run(scenario())
            self.assertLess(max(latencies), 0.2 * SLOWDOWN, latencies)
            self.assertEqual(cut, 0)  # they were merely slow, and left alone

    def test_slow_heads_are_dropped_when_the_worker_is_full(self):
        """More slow connections than cores: once they are over 1 s old the
        oldest are dropped so that a real request gets a core."""
        with Uwsgi(modules=(TUTORIAL,), aio=16, extra=[('socket-timeout', '30')]) as server:
            async def scenario():
                attack = asyncio.ensure_future(slowloris(server.port, 100, 5)())
                await asyncio.sleep(1.0)
                start = time.monotonic()
                reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
                writer.write(b'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                data = await asyncio.wait_for(reader.read(), 10)
                writer.close()
                elapsed = time.monotonic() - start
                cut = await attack
                return data, elapsed, cut
            data, elapsed, cut = asyncio.run(scenario())
            self.assertIn(b'Hello World', data)
            self.assertLess(elapsed, 2.0 * SLOWDOWN)
            self.assertGreater(cut, 0)
            deadline = time.monotonic() + 3
            while 'worker full: dropped' not in server.read_log() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertIn('worker full: dropped', server.read_log())

    def test_incomplete_head_times_out(self):
        """socket-timeout bounds the time to send a request head: a partial
        head gets 408, a silent connection is closed without a word."""
        import socket
        with Uwsgi(modules=(TUTORIAL,), extra=[('socket-timeout', '2')]) as server:
            partial = socket.create_connection(('127.0.0.1', server.port))
            silent = socket.create_connection(('127.0.0.1', server.port))
            partial.sendall(b'GET /hello HTTP/1.1\r\nHost: x\r\n')
            start = time.monotonic()
            partial.settimeout(10)
            silent.settimeout(10)
            answer = partial.recv(4096)
            self.assertGreaterEqual(time.monotonic() - start, 1.9)
            self.assertTrue(answer.startswith(b'HTTP/1.1 408 Request Timeout'), answer)
            self.assertEqual(silent.recv(4096), b'')
            partial.close()
            silent.close()
            self.assertIn('request head not complete after 2 s', server.read_log())
