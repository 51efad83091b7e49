"""WebSockets as a client sees them (RFC 6455), with a raw-socket client that
can also misbehave; the worker must survive all of it."""
import asyncio
import os
import socket
import struct
import threading
import time
import unittest

from tests.integration.harness import (BUILD, PROBE, SANITIZE, SLOWDOWN, TUTORIAL, ServerTestCase,
                                       Uwsgi, get, raw_request, worker_rss_kib)
from tests.integration.wsclient import (BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, Closed,
                                        WsClient)

CHAT = os.path.join(BUILD, 'views', 'chat.so')


class EchoTest(ServerTestCase):
    server_kwargs = {'modules': (TUTORIAL, PROBE, CHAT)}

    def ws(self, path='/echo', **kwargs):
        client = WsClient(self.port, path, **kwargs)
        self.addCleanup(client.shutdown)
        return client

    def assert_closed_with(self, client, code):
        got, _ = client.expect_close()
        self.assertEqual(got, code)
        self.assertTrue(client.at_eof())

    def assert_worker_alive(self):
        self.assertEqual(get(self.port, '/hello').status, 200)
        self.assertIsNone(self.server.proc.poll())

    def test_echo_keeps_the_type(self):
        c = self.ws()
        c.send_text('héllo')
        self.assertEqual(c.recv(), (TEXT, 'héllo'.encode()))
        c.send_binary(b'\x00\xff\x80')
        self.assertEqual(c.recv(), (BINARY, b'\x00\xff\x80'))
        c.send_text('')
        self.assertEqual(c.recv(), (TEXT, b''))
        big = os.urandom(200000)
        c.send_binary(big)
        self.assertEqual(c.recv(), (BINARY, big))

    def test_twenty_numbered_messages_in_order(self):
        c = self.ws()
        for i in range(20):
            c.send_text('message %d' % i)
        for i in range(20):
            self.assertEqual(c.recv(), (TEXT, b'message %d' % i))

    def test_fragments_and_interleaved_ping(self):
        c = self.ws()
        c.send(TEXT, b'Hello, ', fin=False)
        c.send(PING, b'ping payload')
        c.send(CONTINUATION, 'wörld'.encode()[:2], fin=False)  # splits the ö
        c.send(CONTINUATION, 'wörld'.encode()[2:], fin=True)
        fin, opcode, payload = c.recv_frame()
        self.assertEqual((opcode, payload), (PONG, b'ping payload'))  # same payload
        self.assertEqual(c.recv(), (TEXT, 'Hello, wörld'.encode()))

    def test_two_connections_interleaving_fragments(self):
        a, b = self.ws(), self.ws()
        a.send(TEXT, b'A1-', fin=False)
        b.send(BINARY, b'B1-', fin=False)
        a.send(CONTINUATION, b'A2-', fin=False)
        b.send(CONTINUATION, b'B2-', fin=False)
        b.send(CONTINUATION, b'B3', fin=True)
        a.send(CONTINUATION, b'A3', fin=True)
        self.assertEqual(b.recv(), (BINARY, b'B1-B2-B3'))
        self.assertEqual(a.recv(), (TEXT, b'A1-A2-A3'))

    def test_close_handshake_echoes_the_code(self):
        for code in (1000, 1001, 4001):
            c = self.ws()
            c.close(code, 'bye')
            self.assert_closed_with(c, code)
        c = self.ws()
        c.send(CLOSE, b'')  # no code: the answer carries none either
        _, opcode, payload = c.recv_frame()
        self.assertEqual((opcode, payload), (CLOSE, b''))

    def test_protocol_errors_close_with_1002(self):
        frame = WsClient.frame
        cases = {
            'reserved bits': frame(TEXT, b'x', rsv=4),
            'reserved opcode': frame(0x3, b'x'),
            'reserved control opcode': frame(0xb, b'x'),
            'unmasked frame': frame(TEXT, b'x', mask=False),
            'continuation first': frame(CONTINUATION, b'x'),
            'fragmented ping': frame(PING, b'x', fin=False),
            'long ping': frame(PING, b'x' * 126),
            'one-byte close': frame(CLOSE, b'\x03'),
            'reserved close code': frame(CLOSE, struct.pack('!H', 1005)),
            'new message inside another': frame(TEXT, b'a', fin=False) + frame(TEXT, b'b'),
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                c = self.ws()
                c.send_raw(data)
                self.assert_closed_with(c, 1002)
        self.assert_worker_alive()
        self.assertIn('closing with 1002', self.server.read_log())

    def test_invalid_utf8_closes_with_1007(self):
        c = self.ws()
        c.send(TEXT, b'bad \xc0\xaf')
        self.assert_closed_with(c, 1007)
        # split across fragments: a valid start, then an impossible byte
        c = self.ws()
        c.send(TEXT, b'ok \xe2\x82', fin=False)
        c.send(CONTINUATION, b'(', fin=True)
        self.assert_closed_with(c, 1007)
        # a character cut off by the end of the message
        c = self.ws()
        c.send(TEXT, b'ok', fin=False)
        c.send(CONTINUATION, b'\xe2\x82', fin=True)
        self.assert_closed_with(c, 1007)
        self.assert_worker_alive()

    def test_bytes_switch_per_view(self):
        c = self.ws('/probe/ws/bytes')
        c.send_text('text in')
        self.assertEqual(c.recv(), (BINARY, b'text in'))  # delivered (and echoed) as bytes

    def test_view_sees_the_request(self):
        c = self.ws('/probe/ws/echo/42', headers={'User-Agent': 'wstest/1'})
        c.send_text('info')
        self.assertEqual(c.recv(), (TEXT, b'route=ws_echo id=42 ua=wstest/1 open=1'))

    def test_view_refuses_invalid_utf8(self):
        c = self.ws('/probe/ws/echo/1')
        c.send_text('bad-text')
        self.assertEqual(c.recv(), (TEXT, b'refused invalid UTF-8'))

    def test_view_closes_with_its_code(self):
        c = self.ws('/probe/ws/echo/1')
        c.send_text('close-4000')
        code, reason = c.expect_close()
        self.assertEqual((code, reason), (4000, 'bye now'))
        c.close(4000)
        self.assertTrue(c.at_eof())
        self.wait_for_log('probe: ws closed by the view, code 4000')

    def test_failing_view_is_reported_and_closes_with_1011(self):
        c = self.ws('/probe/ws/echo/1')
        c.send_text('fail')
        self.assert_closed_with(c, 1011)
        self.wait_for_log("websocket view of route 'ws_echo' failed on /probe/ws/echo/1: "
                          "deliberate websocket failure")

    def test_callback_view(self):
        c = self.ws('/probe/ws/callbacks')
        self.assertEqual(c.recv(), (TEXT, b'welcome'))
        c.send_binary(b'\x01\x02')
        self.assertEqual(c.recv(), (BINARY, b'\x01\x02'))
        c.close(1000)
        self.assert_closed_with(c, 1000)
        self.wait_for_log('probe: callback view closed with 1000')

    def callbacks_session(self, query=''):
        """A session of the callbacks view, past its on_open's welcome."""
        c = self.ws('/probe/ws/callbacks' + query)
        self.assertEqual(c.recv(), (TEXT, b'welcome'))
        return c

    def test_callbacks_in_later_turns_see_their_request(self):
        c = self.callbacks_session('?tag=t1')
        c.send_text('request')
        self.assertEqual(c.recv(), (TEXT, b'path=/probe/ws/callbacks tag=t1 remote=127.0.0.1'))
        c.close(1000)
        self.assert_closed_with(c, 1000)

    def test_a_callback_suspends_and_later_messages_wait_their_turn(self):
        c = self.callbacks_session()
        c.send_text('sleep')
        c.send_text('after')
        self.assertEqual(c.recv(), (TEXT, b'slept'))
        self.assertEqual(c.recv(), (TEXT, b'after'))
        c.close(1000)
        self.assert_closed_with(c, 1000)

    def test_a_failing_callback_closes_with_1011(self):
        c = self.callbacks_session()
        c.send_text('fail')
        self.assert_closed_with(c, 1011)
        self.wait_for_log("websocket view of route 'ws_callbacks' failed on /probe/ws/callbacks: "
                          "deliberate callback failure")
        self.wait_for_log('probe: callback view closed with 1011')

    def test_a_callback_closes_with_its_code(self):
        c = self.callbacks_session()
        c.send_text('close')
        self.assert_closed_with(c, 4000)

    def test_peer_leaving_during_a_callback_ends_the_session_quietly(self):
        c = self.callbacks_session()
        seen = len(self.server.read_log())  # the server is shared with other tests
        c.send_text('sleep')
        time.sleep(0.1)
        c.shutdown()
        self.wait_for_log('probe: callback view closed with 1006')
        time.sleep(0.2)
        self.assertNotIn('failed', self.server.read_log()[seen:])

    def test_peer_leaving_ends_the_view_quietly(self):
        c = self.ws('/probe/ws/flood')
        c.recv()
        c.shutdown()  # no close frame: just gone
        self.wait_for_log('probe: flood ended with -9')
        time.sleep(0.2)
        self.assertNotIn("route 'ws_flood' failed", self.server.read_log())

    def test_peer_leaving_during_a_sleep_cancels_it(self):
        c = self.ws('/probe/ws/echo/1')
        c.send_text('sleep')
        time.sleep(0.2)
        c.shutdown()
        self.wait_for_log('probe: ws sleep returned -3')

    def test_handshake_refusals(self):
        head = ('GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n\r\n')
        r = raw_request(self.port, (head % '8').encode())
        self.assertEqual(r.status, 426)
        self.assertEqual(r.headers['sec-websocket-version'], '13')
        r = raw_request(self.port, b'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertEqual(r.status, 426)
        self.assertEqual(r.headers['upgrade'], 'websocket')
        r = raw_request(self.port, (head % '13').replace('dGhlIHNhbXBsZSBub25jZQ==', 'short')
                        .encode())
        self.assertEqual(r.status, 400)
        self.assertEqual(raw_request(self.port, (head % '13').replace('GET', 'POST', 1)
                                     .encode()).status, 405)

    def test_broadcast_chat(self):
        clients = [self.ws('/chat/ws') for _ in range(3)]
        for c in clients:
            opcode, hello = c.recv()
            self.assertTrue(hello.startswith(b'* you are #'))
        clients[0].send_text('hi all')
        for c in clients:
            self.assertEqual(c.recv(), (TEXT, b'hi all'))
        clients[2].send_binary(b'\x00bin')
        for c in clients:
            self.assertEqual(c.recv(), (BINARY, b'\x00bin'))
        page = get(self.port, '/chat')
        self.assertIn('<title>aio chat</title>', page.text)

    def test_request_log_shows_the_upgrade(self):
        c = self.ws('/echo?from=logtest')
        c.close()
        c.expect_close()
        self.wait_for_log('GET /echo?from=logtest => generated 0 bytes')
        self.assertIn('(HTTP/1.1 101)', self.server.read_log())


class WebsocketOptionsTest(unittest.TestCase):

    def test_message_size_limit_closes_with_1009(self):
        with Uwsgi(modules=(TUTORIAL,), extra=[('websockets-max-size', '1')]) as server:
            c = WsClient(server.port, '/echo')
            c.send_binary(b'x' * 1024)  # exactly the limit
            self.assertEqual(c.recv(), (BINARY, b'x' * 1024))
            c.send_binary(b'x' * 1025)
            self.assertEqual(c.expect_close()[0], 1009)
            c.shutdown()
            c = WsClient(server.port, '/echo')  # the limit counts the whole message
            c.send(TEXT, b'a' * 600, fin=False)
            c.send(CONTINUATION, b'a' * 600, fin=True)
            self.assertEqual(c.expect_close()[0], 1009)
            c.shutdown()

    def test_idle_pings_and_pong_tolerance(self):
        with Uwsgi(modules=(TUTORIAL,), extra=[('websockets-ping-freq', '1'),
                                               ('websockets-pong-tolerance', '1')]) as server:
            c = WsClient(server.port, '/echo')
            start = time.monotonic()
            fin, opcode, payload = c.recv_frame()
            self.assertEqual(opcode, PING)
            self.assertGreaterEqual(time.monotonic() - start, 0.9)
            c.send(PONG, payload)  # answered: the connection lives on
            c.send_text('still here')
            self.assertEqual(c.recv(), (TEXT, b'still here'))
            fin, opcode, _ = c.recv_frame()  # the next ping, left unanswered
            self.assertEqual(opcode, PING)
            self.assertTrue(c.at_eof(timeout=3 * SLOWDOWN))
            c.shutdown()
            self.assertIn('no pong to a ping', server.read_log())

    def test_global_bytes_switch(self):
        with Uwsgi(modules=(TUTORIAL,), extra=[('aio-websocket-bytes', 'true')]) as server:
            c = WsClient(server.port, '/echo')
            c.send_text('as bytes')
            self.assertEqual(c.recv(), (BINARY, b'as bytes'))
            c.shutdown()

    def test_closed_socket_reported_when_not_ignored(self):
        with Uwsgi(modules=(PROBE,),
                   extra=[('aio-ignore-websocket-closed', 'false')]) as server:
            c = WsClient(server.port, '/probe/ws/flood')
            c.recv()
            c.shutdown()
            deadline = time.monotonic() + 5 * SLOWDOWN
            while "route 'ws_flood' failed on /probe/ws/flood: websocket closed" not in \
                    server.read_log():
                self.assertLess(time.monotonic(), deadline, server.read_log()[-2000:])
                time.sleep(0.05)

    def test_idle_callback_sessions_are_pinged_and_dropped_without_a_pong(self):
        with Uwsgi(modules=(PROBE,), extra=[('websockets-ping-freq', '1'),
                                            ('websockets-pong-tolerance', '1')]) as server:
            c = WsClient(server.port, '/probe/ws/callbacks')
            self.assertEqual(c.recv(), (TEXT, b'welcome'))
            fin, opcode, payload = c.recv_frame()
            self.assertEqual(opcode, PING)
            c.send(PONG, payload)
            c.send_text('still here')
            self.assertEqual(c.recv(), (TEXT, b'still here'))
            fin, opcode, _ = c.recv_frame()  # the next ping, left unanswered
            self.assertEqual(opcode, PING)
            self.assertTrue(c.at_eof(timeout=3 * SLOWDOWN))
            c.shutdown()
            deadline = time.monotonic() + 5 * SLOWDOWN
            while 'probe: callback view closed with 1006' not in server.read_log():
                self.assertLess(time.monotonic(), deadline, server.read_log()[-2000:])
                time.sleep(0.05)
            self.assertIn('no pong to a ping', server.read_log())

    def test_graceful_stop_closes_with_1001(self):
        with Uwsgi(modules=(TUTORIAL, PROBE)) as server:
            clients = [WsClient(server.port, '/echo') for _ in range(3)]
            idle = WsClient(server.port, '/probe/ws/callbacks')  # holds no core
            self.assertEqual(idle.recv(), (TEXT, b'welcome'))
            clients.append(idle)
            server.proc.send_signal(__import__('signal').SIGHUP)
            for c in clients:
                self.assertEqual(c.expect_close(), (1001, 'server going away'))
                c.close(1001)
            start = time.monotonic()
            self.assertIsNotNone(server.wait_exit(5))
            self.assertLess(time.monotonic() - start, 3 * SLOWDOWN)
            for c in clients:
                c.shutdown()


class BacklogTest(unittest.TestCase):

    def test_a_peer_that_pings_and_never_reads_is_bounded_then_dropped(self):
        """Every ping queues a pong: a peer that never reads must not grow
        the worker without bound. Past the backlog bound the peer is not
        read (its sends block), and once the pong tolerance has passed it
        is dropped with 1008."""
        with Uwsgi(modules=(TUTORIAL,), extra=[('websockets-pong-tolerance', '2')]) as server:
            before = worker_rss_kib(server.proc.pid)
            c = WsClient(server.port, '/echo')
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            pings = WsClient.frame(PING, b'p' * 125) * 1000  # 131 kB of pings
            sent, dropped = 0, False
            deadline = time.monotonic() + 20 * SLOWDOWN
            c.sock.settimeout(0.5)
            while time.monotonic() < deadline and sent < 400 * 1024 * 1024:
                try:
                    c.sock.sendall(pings)
                    sent += len(pings)
                except socket.timeout:
                    continue  # the worker stopped reading us: keep pushing
                except (BrokenPipeError, ConnectionResetError):
                    dropped = True
                    break
            grown = worker_rss_kib(server.proc.pid) - before
            c.shutdown()
            self.assertTrue(dropped, 'still connected after sending %d bytes' % sent)
            if not SANITIZE:  # ASan's quarantine and shadow memory say nothing of ours
                self.assertLess(grown, 64 * 1024, 'the worker grew by %d KiB' % grown)
            self.assertIn('does not read what is sent to it, closing with 1008',
                          server.read_log())
            self.assertEqual(get(server.port, '/hello').status, 200)


class WorkerQueueTest(unittest.TestCase):

    def test_a_room_with_a_member_that_never_reads_stays_under_the_worker_bound(self):
        """aio-websocket-worker-queue = 2m, far below a peer's own 16 MiB
        bound: a chat room's broadcasts pile up for its one member that
        never reads until the worker's bound drops it (1013); the members
        that read get every message, and the worker stays small."""
        messages, size = 400, 64 * 1024
        with Uwsgi(modules=(CHAT,), extra=[('aio-websocket-worker-queue', '2m')]) as server:
            before = worker_rss_kib(server.proc.pid)
            slow = WsClient(server.port, '/chat/ws')
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            readers = [WsClient(server.port, '/chat/ws', timeout=30 * SLOWDOWN) for _ in range(2)]
            for c in readers:
                self.assertEqual(c.recv()[0], TEXT)  # "* you are #N"
            received = [0] * len(readers)

            def read_all(i):
                while received[i] < messages:
                    opcode, payload = readers[i].recv()
                    assert (opcode, len(payload)) == (BINARY, size), (opcode, len(payload))
                    received[i] += 1
            threads = [threading.Thread(target=read_all, args=(i,), daemon=True)
                       for i in range(len(readers))]
            for t in threads:
                t.start()
            payload = os.urandom(size)
            deadline = time.monotonic() + 60 * SLOWDOWN
            for k in range(messages):
                # the readers read as they can (Python threads sharing one
                # interpreter): keep them within 8 messages of the sender,
                # so that only the member that never reads piles up
                while min(received) < k - 8 and time.monotonic() < deadline:
                    time.sleep(0.001)
                readers[0].send_binary(payload)
            for t in threads:
                t.join(60 * SLOWDOWN)
            self.assertEqual(received, [messages] * len(readers))
            grown = worker_rss_kib(server.proc.pid) - before
            self.assertIn("reads too slowly for the worker's websocket send queue "
                          "(aio-websocket-worker-queue), closing with 1013", server.read_log())
            self.assertEqual(server.read_log().count('closing with 1013'), 1)  # the slow one only
            if not SANITIZE:  # ASan's quarantine and shadow memory say nothing of ours
                self.assertLess(grown, 24 * 1024, 'the worker grew by %d KiB' % grown)
            for c in readers + [slow]:
                c.shutdown()
            self.assertEqual(get(server.port, '/hello').status, 404)  # chat only: still serving

    def test_bad_values_are_refused(self):
        for bad in ('100k', 'lots', '0'):
            with self.subTest(value=bad):
                server = Uwsgi(modules=(CHAT,), extra=[('aio-websocket-worker-queue', bad)])
                server.start(wait=False)
                self.assertIsNotNone(server.wait_exit(15))
                self.assertIn("option 'aio-websocket-worker-queue'", server.read_log())
                server.log.close()


class VanishingPeersTest(unittest.TestCase):

    def test_peers_vanishing_at_any_point(self):
        """Clients that disappear mid-recv, mid-send, mid-frame and
        mid-fragment: the worker serves on and (under the sanitizers)
        nothing is leaked once it stops."""
        with Uwsgi(modules=(TUTORIAL, PROBE)) as server:
            for round_no in range(10):
                idle = WsClient(server.port, '/echo')                       # mid-recv
                flood = WsClient(server.port, '/probe/ws/flood')            # mid-send
                flood.recv()
                half_frame = WsClient(server.port, '/echo')                 # mid-frame
                half_frame.send_raw(WsClient.frame(BINARY, b'x' * 5000)[:1000])
                fragment = WsClient(server.port, '/echo')                   # mid-fragment
                fragment.send(TEXT, b'part one', fin=False)
                header_only = WsClient(server.port, '/echo')                # 1 byte of header
                header_only.send_raw(b'\x81')
                sleeper = WsClient(server.port, '/probe/ws/echo/1')         # in aio_sleep
                sleeper.send_text('sleep')
                time.sleep(0.05)
                for c in (idle, flood, half_frame, fragment, header_only, sleeper):
                    c.shutdown()
            time.sleep(0.3)
            c = WsClient(server.port, '/echo')
            c.send_text('still serving')
            self.assertEqual(c.recv(), (TEXT, b'still serving'))
            c.shutdown()
            start = time.monotonic()
            server.stop()
            self.assertLess(time.monotonic() - start, 3 * SLOWDOWN)


class ManyConnectionsTest(unittest.TestCase):

    def test_1000_concurrent_connections_echo(self):
        with Uwsgi(modules=(TUTORIAL,), aio=1100,
                   extra=[('aio-websocket-cores', '1000')]) as server:
            async def one(i):
                reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
                writer.write(b'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
                             b'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                             b'Sec-WebSocket-Version: 13\r\n\r\n')
                await reader.readuntil(b'\r\n\r\n')
                results = []
                for n in range(3):
                    payload = b'conn %d msg %d' % (i, n)
                    writer.write(WsClient.frame(TEXT, payload))
                    header = await reader.readexactly(2)
                    data = await reader.readexactly(header[1] & 0x7f)
                    results.append(data == payload and header[0] == 0x81)
                writer.write(WsClient.frame(CLOSE, struct.pack('!H', 1000)))
                close = await reader.readexactly(4)
                writer.close()
                return all(results) and close[0] == 0x88

            async def run():
                return await asyncio.gather(*(one(i) for i in range(1000)))
            results = asyncio.run(run())
            self.assertEqual(results.count(True), 1000)


class WSTestInC(unittest.TestCase):
    """The seeds' WSTest redone in C (tests/ws/wstest.c)."""

    def test_wstest(self):
        import subprocess
        from tests.integration.harness import ROOT
        binary = os.path.join(ROOT, 'build', 'ws', 'wstest')
        self.assertTrue(os.path.exists(binary), 'build it with: make build/ws/wstest')
        with Uwsgi(modules=(TUTORIAL,)) as server:
            result = subprocess.run([binary], env=dict(os.environ, AIO_TEST_PORT=str(server.port)),
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn('[  PASSED  ] 1 test(s).', result.stdout + result.stderr)
