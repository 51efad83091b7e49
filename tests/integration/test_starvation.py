"""Long-lived slow clients cannot starve plain requests. When every async
core is taken and a complete request waits, the core whose client has
neither sent nor read anything for over a second (a trickled upload,
R-U-D-Y; a reader that does not read) is freed for it, as slow heads are
(test_concurrency)."""
import asyncio
import socket
import time
import unittest

from tests.integration.harness import (PROBE, SLOWDOWN, TUTORIAL, Uwsgi, raw_request,
                                       trickling_clients)
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
