"""Request bodies: chunked bodies decoded on http-socket and http11-socket,
the tutorial's /upload reading its body as it arrives (a large upload in
bounded memory), limit-post on the decoded size, the whole body's
deadline, malformed chunked framing, and bodies a view leaves unread on a
kept-alive connection."""
import hashlib
import os
import socket
import time
import unittest

from tests.integration.harness import (SANITIZE, SLOWDOWN, ServerTestCase, Uwsgi, read_response,
                                       worker_rss_kib)
from tests.integration.test_keepalive import Conn, http11_server


def chunked(data, size=65536):
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b'%x\r\n' % len(piece) + piece + b'\r\n'
    return bytes(out) + b'0\r\n\r\n'


def post_chunked(path, data, extra=b''):
    return (b'POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n%s\r\n' % (path, extra)
            + chunked(data))


class ChunkedTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http11_server(extra=[('limit-post', str(4 * 1024 * 1024))]).start()

    def conn(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        return c

    def test_a_chunked_body_read_whole(self):
        c = self.conn()
        body = os.urandom(200000)
        c.send(post_chunked(b'/probe/body', body, b'Content-Type: application/octet-stream\r\n'))
        r = c.response()
        self.assertEqual((r.status, r.body), (200, body))
        self.assertEqual(c.get('/hello').status, 200)  # and the connection goes on

    def test_a_chunked_form_is_parsed(self):
        c = self.conn()
        c.send(post_chunked(b'/probe/request', b'a=1&msg=hi',
                            b'Content-Type: application/x-www-form-urlencoded\r\n'))
        r = c.response()
        self.assertIn('param a=1\n', r.text)
        self.assertIn('param msg=hi\n', r.text)

    def test_upload_is_streamed_and_digested(self):
        c = self.conn()
        body = os.urandom(3 * 1024 * 1024)
        c.send(post_chunked(b'/upload', body, b'') +
               b'GET /probe/request?a=after HTTP/1.1\r\nHost: x\r\n\r\n')
        r = c.response()
        self.assertEqual(r.text, '%s %d\n' % (hashlib.sha256(body).hexdigest(), len(body)))
        self.assertIn('param a=after\n', c.response().text)  # pipelined after the body
        c.send(b'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')
        self.assertEqual(c.response().text,
                         '%s 5\n' % hashlib.sha256(b'hello').hexdigest())

    def test_many_pipelined_requests_after_a_chunked_body(self):
        # the body outlasts the head's read, so the bytes after it come in
        # the body's larger reads: more than buffer-size of them carried over
        c = self.conn()
        gets = b''.join(b'GET /probe/request?a=%d HTTP/1.1\r\nHost: x\r\n\r\n' % i
                        for i in range(120))
        self.assertGreater(len(gets), 4096)
        c.send(post_chunked(b'/upload', b'z' * 5000) + gets)
        self.assertEqual(c.response().text,
                         '%s 5000\n' % hashlib.sha256(b'z' * 5000).hexdigest())
        for i in range(120):
            self.assertIn('param a=%d\n' % i, c.response().text)

    def test_limit_post_counts_the_decoded_size(self):
        for path in (b'/probe/body', b'/upload'):
            with self.subTest(path=path):
                c = self.conn()  # one byte over: read through, so the connection goes on
                c.send(post_chunked(path, b'x' * (4 * 1024 * 1024 + 1)))
                self.assertEqual(c.response().status, 413)
                self.assertEqual(c.get('/hello').status, 200)
                c = self.conn()  # far over: not read through, so closed
                c.sock.settimeout(30 * SLOWDOWN)
                c.send(post_chunked(path, b'x' * (6 * 1024 * 1024)))
                r = c.response()
                self.assertEqual(r.status, 413)
                self.assertEqual(r.headers.get('connection'), 'close')
        c = self.conn()
        c.send(post_chunked(b'/upload', b'x' * (4 * 1024 * 1024)))  # exactly the limit
        self.assertEqual(c.response().status, 200)

    def test_malformed_chunks_are_400_and_close(self):
        for framing in (b'zz\r\nhello\r\n0\r\n\r\n', b'5\r\nhelloXX\r\n0\r\n\r\n',
                        b'5\nhello\r\n0\r\n\r\n'):
            for path in (b'/probe/body', b'/upload'):
                with self.subTest(framing=framing, path=path):
                    c = self.conn()
                    c.send(b'POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
                           % path + framing)
                    r = c.response()
                    self.assertEqual(r.status, 400)
                    self.assertTrue(c.closed_within(3 * SLOWDOWN))

    def test_an_unread_small_body_keeps_the_connection(self):
        c = self.conn()
        c.send(b'POST /probe/only-post HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n')
        self.assertEqual(c.response().status, 200)
        # a 404 with a body nobody reads: drained, the connection carries on
        c.send(post_chunked(b'/no-such-page', b'y' * 10000))
        self.assertEqual(c.response().status, 404)
        self.assertEqual(c.get('/hello').status, 200)

    def test_an_unread_large_body_closes(self):
        c = self.conn()
        c.send(b'POST /no-such-page HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n' +
               b'z' * 1000000)
        r = c.response()
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers.get('connection'), 'close')


class HttpSocketChunkedTest(unittest.TestCase):
    def test_chunked_on_http_socket(self):
        with Uwsgi(http_socket='http-socket') as server:
            with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
                s.sendall(post_chunked(b'/probe/body', b'abc' * 1000))
                r = read_response(s)
            self.assertEqual((r.status, r.body), (200, b'abc' * 1000))


class BodyDeadlineTest(unittest.TestCase):
    def test_a_trickled_body_gets_408_at_the_whole_body_deadline(self):
        with http11_server(extra=[('aio-body-timeout', '1'), ('socket-timeout', '10')]) as server:
            for path in ('/probe/body', '/upload'):
                with self.subTest(path=path):
                    s = socket.create_connection(('127.0.0.1', server.port), timeout=10)
                    s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n'
                              % path.encode())
                    start = time.monotonic()
                    s.setblocking(False)
                    got = b''
                    while b'\r\n\r\n' not in got and time.monotonic() - start < 8 * SLOWDOWN:
                        try:
                            s.sendall(b'x')  # a byte every 100 ms: never idle, never done
                        except OSError:
                            pass
                        time.sleep(0.1)
                        try:
                            got += s.recv(4096)
                        except BlockingIOError:
                            pass
                    elapsed = time.monotonic() - start
                    s.close()
                    self.assertTrue(got.startswith(b'HTTP/1.1 408'), got[:100])
                    self.assertGreater(elapsed, 0.9)
                    self.assertLess(elapsed, 1.0 + 2 * SLOWDOWN)

    def test_bad_value_stops_the_start(self):
        server = http11_server(extra=[('aio-body-timeout', 'forever')])
        server.start(wait=False)
        code = server.wait_exit(15)
        server.log.close()
        self.assertNotIn(code, (0, None))
        self.assertIn("option 'aio-body-timeout'", server.read_log())


class LargeUploadTest(unittest.TestCase):
    BYTES = (64 if SANITIZE else 256) * 1024 * 1024

    def test_a_large_chunked_upload_in_bounded_memory(self):
        with http11_server(aio=16) as server:
            pid = server.proc.pid
            sha = hashlib.sha256()
            piece = os.urandom(1 << 20)
            with socket.create_connection(('127.0.0.1', server.port), timeout=60) as s:
                s.sendall(b'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
                peak = 0
                for i in range(self.BYTES // len(piece)):
                    s.sendall(b'%x\r\n' % len(piece) + piece + b'\r\n')
                    sha.update(piece)
                    if i % 16 == 0:
                        peak = max(peak, worker_rss_kib(pid))
                s.sendall(b'0\r\n\r\n')
                r = read_response(s)
            print('\nchunked upload of %d MiB: worker peak RSS %d KiB' % (self.BYTES >> 20, peak))
            self.assertEqual(r.text, '%s %d\n' % (sha.hexdigest(), self.BYTES))
            self.assertLess(peak, 64 * 1024)


if __name__ == '__main__':
    unittest.main()
