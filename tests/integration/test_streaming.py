"""Streamed responses and server-sent events: the tutorial's /stream and
/events through http11-socket (chunked, then kept alive), http-socket
(chunked, then closed), HTTP/1.0 and the uwsgi protocol (ending with the
connection); bounded
memory for a large body to a slow reader; a client leaving mid-stream."""
import socket
import time
import unittest

from tests.integration.harness import (PROBE, SANITIZE, SLOWDOWN, TUTORIAL, ServerTestCase, Uwsgi,
                                       read_response, recv_all, uwsgi_packet, worker_rss_kib)
from tests.integration.test_keepalive import Conn, http11_server


def dechunk(body):
    """The payload of a chunked body, checking its framing."""
    out, pos = bytearray(), 0
    while True:
        eol = body.index(b'\r\n', pos)
        size = int(body[pos:eol], 16)
        pos = eol + 2
        if size == 0:
            assert body[pos:] == b'\r\n', body[pos:pos + 20]
            return bytes(out)
        out += body[pos:pos + size]
        assert body[pos + size:pos + size + 2] == b'\r\n'
        pos += size + 2


class StreamTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http11_server().start()

    def test_chunked_stream_then_the_next_request(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(b'GET /stream?bytes=200000 HTTP/1.1\r\nHost: x\r\n\r\n')
        r = read_response(c.sock)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get('transfer-encoding'), 'chunked')
        self.assertNotIn('content-length', r.headers)
        self.assertEqual(dechunk(r.body), b'x' * 200000)
        self.assertEqual(c.get('/hello').body, b'Hello World\n')  # kept alive

    def test_empty_stream_and_head(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(b'GET /stream?bytes=0 HTTP/1.1\r\nHost: x\r\n\r\n')
        r = read_response(c.sock)  # nothing was streamed: an ordinary empty response
        self.assertEqual((r.status, r.body, r.headers.get('content-length')), (200, b'', '0'))
        c.send(b'HEAD /stream?bytes=5000 HTTP/1.1\r\nHost: x\r\n\r\n')
        r = read_response(c.sock, head_request=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(c.get('/hello').body, b'Hello World\n')  # no body came after the head

    def test_http10_stream_ends_with_the_connection(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(b'GET /stream?bytes=100000 HTTP/1.0\r\n\r\n')
        r = read_response(c.sock)
        self.assertEqual(r.status_line, 'HTTP/1.0 200 OK')
        self.assertEqual(r.headers.get('connection'), 'close')
        self.assertNotIn('transfer-encoding', r.headers)
        self.assertEqual(r.body, b'x' * 100000)

    def test_bad_parameter_is_a_plain_400(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.get('/stream?bytes=lots').status, 400)
        self.assertEqual(c.get('/events?count=-1').status, 400)

    def test_events_arrive_one_by_one(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        start = time.monotonic()
        c.send(b'GET /events?count=3&interval_ms=400 HTTP/1.1\r\nHost: x\r\n\r\n')
        data, arrivals = b'', []
        while data.count(b'data: ') < 3 or not data.endswith(b'0\r\n\r\n'):
            chunk = c.sock.recv(65536)
            self.assertTrue(chunk)
            data += chunk
            arrivals += [time.monotonic() - start] * chunk.count(b'data: ')
        head, _, body = data.partition(b'\r\n\r\n')
        self.assertIn(b'Content-Type: text/event-stream; charset=utf-8', head)
        self.assertIn(b'Cache-Control: no-cache', head)
        self.assertEqual(dechunk(body), b'id: 1\ndata: 0\n\nid: 2\ndata: 1\n\nid: 3\ndata: 2\n\n')
        # the first before the view has written the second (400 ms later)
        self.assertLess(arrivals[0], 0.3 * SLOWDOWN)
        self.assertGreater(arrivals[1] - arrivals[0], 0.3)
        self.assertGreater(arrivals[2] - arrivals[1], 0.3)


class FileTest(unittest.TestCase):
    SIZE = (64 if SANITIZE else 300) * 1024 * 1024 + 12345

    def test_a_large_file_with_its_length_in_bounded_memory(self):
        import hashlib
        import os
        import tempfile
        with tempfile.NamedTemporaryFile(prefix='aio-file-') as f:
            piece = os.urandom(1 << 20)
            sha = hashlib.sha256()
            left = self.SIZE
            while left:
                n = min(left, len(piece))
                f.write(piece[:n])
                sha.update(piece[:n])
                left -= n
            f.flush()
            with http11_server(aio=16, extra=[('aio-setting', 'probe.file=' + f.name)]) as server:
                pid = server.proc.pid
                c = Conn(server.port, timeout=60)
                c.send(b'HEAD /probe/file HTTP/1.1\r\nHost: x\r\n\r\n')
                r = read_response(c.sock, head_request=True)
                self.assertEqual(r.headers.get('content-length'), str(self.SIZE))
                c.send(b'GET /probe/file HTTP/1.1\r\nHost: x\r\n\r\n')
                head = b''
                while b'\r\n\r\n' not in head:
                    head += c.sock.recv(1)
                self.assertIn(b'Content-Length: %d\r\n' % self.SIZE, head)
                self.assertNotIn(b'Transfer-Encoding', head)
                got, digest, peak, reads = 0, hashlib.sha256(), 0, 0
                while got < self.SIZE:
                    chunk = c.sock.recv(min(1 << 20, self.SIZE - got))
                    self.assertTrue(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    reads += 1
                    if reads % 100 == 0:
                        peak = max(peak, worker_rss_kib(pid))
                self.assertEqual(digest.hexdigest(), sha.hexdigest())
                self.assertLess(peak, 64 * 1024)
                self.assertEqual(c.get('/hello').status, 200)  # kept alive after it
                c.close()


class OtherSocketsTest(unittest.TestCase):
    def test_http_socket_and_uwsgi_protocol_streams_end_with_the_connection(self):
        with Uwsgi(http_socket='http-socket', modules=(TUTORIAL,)) as server:
            with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
                s.sendall(b'GET /stream?bytes=70000 HTTP/1.1\r\nHost: x\r\n\r\n')
                r = read_response(s)
            self.assertEqual(r.headers.get('connection'), 'close')
            self.assertEqual(r.headers.get('transfer-encoding'), 'chunked')  # cut is visible
            self.assertEqual(dechunk(r.body), b'x' * 70000)
        with Uwsgi(http=False, modules=(TUTORIAL,)) as server:
            with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
                s.sendall(uwsgi_packet({'REQUEST_METHOD': 'GET', 'REQUEST_URI': '/stream?bytes=70000',
                                        'PATH_INFO': '/stream', 'QUERY_STRING': 'bytes=70000',
                                        'SERVER_PROTOCOL': 'HTTP/1.1', 'HTTP_HOST': 'x'}))
                raw = recv_all(s)
            head, _, body = raw.partition(b'\r\n\r\n')
            self.assertTrue(head.startswith(b'HTTP/1.1 200 OK'), head)
            self.assertNotIn(b'Transfer-Encoding', head)
            self.assertEqual(body, b'x' * 70000)


class LargeStreamTest(unittest.TestCase):
    # under the sanitizers a quarter of it: the same pieces, fewer of them
    BYTES = (256 if SANITIZE else 1024) * 1024 * 1024

    def test_a_large_stream_to_a_slow_reader_keeps_memory_bounded(self):
        with http11_server(aio=16) as server:
            pid = server.proc.pid
            rss_before = worker_rss_kib(pid)
            with socket.create_connection(('127.0.0.1', server.port), timeout=30) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                s.sendall(b'GET /stream?bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n' % self.BYTES)
                head = b''
                while b'\r\n\r\n' not in head:
                    head += s.recv(1)
                payload, framing, peak = 0, bytearray(), 0
                pending = b''
                slow_until = time.monotonic() + 1.0
                reads = 0
                while True:
                    if time.monotonic() < slow_until:
                        time.sleep(0.01)  # a slow reader first: the view must wait for it
                    chunk = s.recv(1 << 20)
                    self.assertTrue(chunk, 'cut after %d bytes' % payload)
                    pending += chunk
                    # walk the chunks: sizes, CRLFs and the 'x' payload
                    while True:
                        eol = pending.find(b'\r\n')
                        if eol < 0:
                            break
                        size = int(pending[:eol], 16)
                        if len(pending) < eol + 2 + size + 2:
                            break
                        data = pending[eol + 2:eol + 2 + size]
                        self.assertEqual(data.count(b'x'), size)
                        self.assertEqual(pending[eol + 2 + size:eol + 4 + size], b'\r\n')
                        payload += size
                        pending = pending[eol + 4 + size:]
                        if size == 0:
                            break
                    reads += 1
                    if reads % 200 == 0:
                        peak = max(peak, worker_rss_kib(pid))
                    if payload == self.BYTES and pending == b'' and chunk.endswith(b'0\r\n\r\n'):
                        break
            peak = max(peak, worker_rss_kib(pid))
            print('\nstreamed %d MiB: worker RSS %d KiB before, peak %d KiB'
                  % (self.BYTES >> 20, rss_before, peak))
            self.assertEqual(payload, self.BYTES)
            self.assertLess(peak, 64 * 1024)

    def test_a_client_leaving_mid_stream_cancels_the_view(self):
        with http11_server(aio=16) as server:
            for _ in range(3):
                s = socket.create_connection(('127.0.0.1', server.port), timeout=10)
                s.sendall(b'GET /stream?bytes=1000000000 HTTP/1.1\r\nHost: x\r\n\r\n')
                got = 0
                while got < 1 << 20:
                    got += len(s.recv(65536))
                s.close()
            deadline = time.monotonic() + 10 * SLOWDOWN
            while server.read_log().count('GET /stream?bytes=1000000000 => ') < 3:
                self.assertLess(time.monotonic(), deadline, server.read_log()[-2000:])
                time.sleep(0.1)
            log = server.read_log()
            self.assertEqual(log.count('(HTTP/1.1 499)'), 3, log[-2000:])
            # the worker is fine and its cores are free again
            c = Conn(server.port)
            self.assertEqual(c.get('/hello').status, 200)
            c.close()


if __name__ == '__main__':
    unittest.main()
