"""Long-lived slow clients cannot starve plain requests. When every async
core is taken and a complete request waits, the core whose client has
neither sent nor read anything for over a second (a trickled upload,
R-U-D-Y; a reader that does not read) is freed for it, as slow heads are
(test_concurrency)."""
import asyncio
import os
import socket
import struct
import time
import unittest

from tests.integration.harness import (PROBE, SLOWDOWN, TUTORIAL, Uwsgi, raise_fd_limit,
                                       raw_request, trickling_clients, worker_rss_kib)
from tests.integration.wsclient import TEXT, WsClient


def rudy(port, connections, seconds, every=2.0):
    """`connections` POSTs announcing a 1 MB body and sending one byte of it
    every `every` s for `seconds`, each starting at its own moment within
    the first `every` s (as independent attackers would). Returns how many
    the server cut."""
    head = b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n'
    return trickling_clients(port, connections, head, lambda i: b'x', seconds, every,
                             jitter=every)


async def timed_hellos(port, count, pause=0.2):
    latencies = []
    for _ in range(count):
        start = time.monotonic()
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        writer.write(b'GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b'Hello World' in data, data
        latencies.append(time.monotonic() - start)
        await asyncio.sleep(pause)
    return latencies


class SlowBodiesTest(unittest.TestCase):

    def test_1200_trickled_uploads_on_1000_cores_leave_hello_answering(self):
        with Uwsgi(modules=(TUTORIAL, PROBE), aio=1000,
                   extra=[('socket-timeout', '30'), ('listen', '2048')]) as server:
            async def scenario():
                attack = asyncio.ensure_future(rudy(server.port, 1200, 8)())
                await asyncio.sleep(3.0)  # every core taken, the rest parked, all trickling
                latencies = await timed_hellos(server.port, 10)
                cut = await attack
                return latencies, cut
            latencies, cut = asyncio.run(scenario())
            self.assertLess(max(latencies), 0.2 * SLOWDOWN, latencies)
            self.assertGreater(cut, 0)  # some of them made room
            self.assertIn('worker full: dropped', server.read_log())

    def test_uploads_that_keep_coming_are_left_alone(self):
        """Not a single byte for a second is what makes a client evictable:
        with cores to spare, trickling uploads are merely slow."""
        with Uwsgi(modules=(TUTORIAL, PROBE), aio=100, extra=[('socket-timeout', '30')]) as server:
            async def scenario():
                attack = asyncio.ensure_future(rudy(server.port, 50, 4)())
                await asyncio.sleep(1.5)
                latencies = await timed_hellos(server.port, 5)
                return latencies, await attack
            latencies, cut = asyncio.run(scenario())
            self.assertLess(max(latencies), 0.2 * SLOWDOWN, latencies)
            self.assertEqual(cut, 0)


class WebsocketCoresTest(unittest.TestCase):

    def test_idle_websockets_leave_cores_for_plain_requests(self):
        """aio = 8: by default 6 cores may hold websocket sessions; the 7th
        upgrade gets 503 and /hello still finds a core at once."""
        with Uwsgi(modules=(TUTORIAL,), aio=8) as server:
            sessions = [WsClient(server.port, '/echo') for _ in range(6)]
            with self.assertRaises(AssertionError) as refused:
                WsClient(server.port, '/echo')
            self.assertIn('503', str(refused.exception))
            latencies = asyncio.run(timed_hellos(server.port, 5, pause=0.05))
            self.assertLess(max(latencies), 0.2 * SLOWDOWN, latencies)
            self.assertIn('refused (503): 6 sessions hold the cores aio-websocket-cores allows',
                          server.read_log())
            sessions[0].close()
            sessions[0].expect_close()
            sessions[0].shutdown()
            deadline = time.monotonic() + 5 * SLOWDOWN
            while True:  # its core is back once the session has ended
                try:
                    again = WsClient(server.port, '/echo')
                    break
                except AssertionError:
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
            again.send_text('in')
            self.assertEqual(again.recv(), (TEXT, b'in'))
            for c in sessions[1:] + [again]:
                c.shutdown()

    def test_the_share_is_an_option(self):
        with Uwsgi(modules=(TUTORIAL,), aio=8, extra=[('aio-websocket-cores', '2')]) as server:
            sessions = [WsClient(server.port, '/echo') for _ in range(2)]
            r = raw_request(server.port, b'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
                                         b'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
                                         b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
            self.assertEqual(r.status, 503)
            self.assertEqual(r.headers['retry-after'], '1')
            for c in sessions:
                c.shutdown()


HANDSHAKE = (b'GET /probe/ws/callbacks?tag=%d HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
             b'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
             b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
WELCOME = b'\x81\x07welcome'  # the callbacks view's on_open, as a server frame


def masked_text(text):
    """A client's text frame (RFC 6455 §5.3: clients mask)."""
    data = text.encode()
    mask = os.urandom(4)
    return (struct.pack('!BB', 0x81, 0x80 | len(data)) + mask +
            bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def read_until(s, end):
    data = b''
    while not data.endswith(end):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError('closed after %r' % data[:200])
        data += chunk
    return data


class IdleCallbackSessionsTest(unittest.TestCase):
    """A callbacks websocket view holds no async core and no coroutine while
    its session is idle: its callbacks run in a coroutine taken when a
    message arrives. So a worker holds many more sessions than `aio`."""

    SESSIONS = 5000

    def setUp(self):
        # this process and the server each hold one end of every connection
        raise_fd_limit(self, self.SESSIONS + 1000)

    def open_sessions(self, port, n, batch=250):
        sessions = []
        for start in range(0, n, batch):
            group = [socket.create_connection(('127.0.0.1', port), timeout=30 * SLOWDOWN)
                     for _ in range(min(batch, n - start))]
            for i, s in enumerate(group):
                s.sendall(HANDSHAKE % (start + i))
            for s in group:
                head = read_until(s, WELCOME)
                self.assertTrue(head.startswith(b'HTTP/1.1 101 '), head[:100])
            sessions += group
        return sessions

    def test_5000_idle_sessions_on_100_cores_leave_hello_answering(self):
        with Uwsgi(modules=(TUTORIAL, PROBE), aio=100, extra=[('listen', '1024')]) as server:
            before = worker_rss_kib(server.proc.pid)
            sessions = self.open_sessions(server.port, self.SESSIONS)
            try:
                after = worker_rss_kib(server.proc.pid)
                latencies = asyncio.run(timed_hellos(server.port, 10, pause=0.05))
                self.assertLess(max(latencies), 0.05 * SLOWDOWN, latencies)
                # every session is alive, and its callbacks still see its request
                for tag in (0, 1234, self.SESSIONS - 1):
                    sessions[tag].sendall(masked_text('request'))
                    line = read_until(sessions[tag], b'remote=127.0.0.1')
                    self.assertIn(b'path=/probe/ws/callbacks tag=%d ' % tag, line)
                per_session = (after - before) / self.SESSIONS
                print('\n%d idle callback sessions on aio = 100: worker RSS %d -> %d KiB '
                      '(%.1f KiB each); /hello in at most %.1f ms'
                      % (self.SESSIONS, before, after, per_session, max(latencies) * 1000))
                self.assertLess(per_session, 24 * SLOWDOWN)
            finally:
                for s in sessions:
                    s.close()
            deadline = time.monotonic() + 10 * SLOWDOWN
            fds = '/proc/%d/fd' % server.proc.pid
            while (server.read_log().count('probe: callback view closed with 1006') <
                   self.SESSIONS or len(os.listdir(fds)) > 100):
                self.assertLess(time.monotonic(), deadline, 'the sessions did not end and '
                                'close their sockets (%d fds open)' % len(os.listdir(fds)))
                time.sleep(0.1)

    def test_callbacks_at_once_are_bounded_by_aio_websocket_callbacks(self):
        """With one turn at a time, a second session's message waits for
        the first session's callback (a 0.3 s sleep) to finish."""
        with Uwsgi(modules=(PROBE,), aio=10, extra=[('aio-websocket-callbacks', '1')]) as server:
            a, b = self.open_sessions(server.port, 2)
            start = time.monotonic()
            a.sendall(masked_text('sleep'))
            b.sendall(masked_text('sleep'))
            read_until(a, b'slept')
            read_until(b, b'slept')
            self.assertGreaterEqual(time.monotonic() - start, 0.6)
            for s in (a, b):
                s.close()

    def test_callbacks_of_as_many_sessions_as_cores_run_at_once_by_default(self):
        with Uwsgi(modules=(PROBE,), aio=10) as server:
            sessions = self.open_sessions(server.port, 20)  # more than the cores
            start = time.monotonic()
            for s in sessions[:10]:
                s.sendall(masked_text('sleep'))
            for s in sessions[:10]:
                read_until(s, b'slept')
            self.assertLess(time.monotonic() - start, 0.6 * SLOWDOWN)
            for s in sessions:
                s.close()


class SlowReadersTest(unittest.TestCase):

    def test_readers_that_do_not_read_leave_hello_answering(self):
        with Uwsgi(modules=(TUTORIAL, PROBE), aio=20, extra=[('socket-timeout', '30')]) as server:
            readers = []
            for _ in range(25):  # more than the cores, each with 8 MB coming that it never reads
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(('127.0.0.1', server.port))
                s.sendall(b'GET /probe/big?n=8000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                readers.append(s)
            time.sleep(1.5)
            latencies = asyncio.run(timed_hellos(server.port, 5))
            self.assertLess(max(latencies), 1.5 * SLOWDOWN, latencies)
            for s in readers:
                s.close()
            self.assertIn('worker full: dropped', server.read_log())


if __name__ == '__main__':
    unittest.main()
