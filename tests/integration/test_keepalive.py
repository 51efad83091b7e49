"""HTTP/1.1 on http11-socket: keep-alive, pipelining, the Date header, the
request head parsed strictly (versions, framing, smuggling probes), and
idle kept-alive connections holding no async core."""
import re
import socket
import time
import unittest

from tests.integration.harness import (PLUGIN, PROBE, SLOWDOWN, TUTORIAL, ServerTestCase, Uwsgi,
                                       Response, raise_fd_limit, recv_all, worker_rss_kib)

DATE = re.compile(r'^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|'
                  r'Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$')


def http11_options(port, aio=64, extra=()):
    return [('plugin', PLUGIN), ('http11-socket', '127.0.0.1:%d' % port), ('aio', str(aio)),
            ('master', 'false'), ('socket-timeout', '10'), ('listen', '1024'),
            ('aio-views', PROBE), ('aio-views', TUTORIAL)] + list(extra)


def http11_server(aio=64, extra=()):
    server = Uwsgi(options=[])
    server.options = http11_options(server.port, aio, extra)
    return server


class Conn:
    """One client connection reading responses one at a time by their
    Content-Length, keeping what arrives after each."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout * SLOWDOWN)
        self.buf = b''

    def send(self, data):
        self.sock.sendall(data)

    def get(self, path, version='1.1', headers=''):
        host = 'Host: x\r\n' if version == '1.1' else ''
        self.send(('GET %s HTTP/%s\r\n%s%s\r\n' % (path, version, host, headers)).encode())
        return self.response()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('connection closed with %r unread' % self.buf[:100])
        self.buf += chunk

    def response(self):
        while b'\r\n\r\n' not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b'\r\n\r\n')
        length = int(Response(head + b'\r\n\r\n').headers.get('content-length', '0'))
        while len(rest) < length:
            self._fill()
            head, _, rest = self.buf.partition(b'\r\n\r\n')
        self.buf = rest[length:]
        return Response(head + b'\r\n\r\n' + rest[:length])

    def closed_within(self, seconds):
        """True when the server closes the connection within `seconds`
        (with nothing more sent)."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) == b''
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


class KeepAliveTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http11_server(extra=[('aio-keepalive-requests', '5000')]).start()

    def conn(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        return c

    def test_hundred_requests_on_one_connection(self):
        c = self.conn()
        for i in range(100):
            r = c.get('/probe/request?a=%d' % i)
            self.assertEqual(r.status, 200)
            self.assertIn('param a=%d\n' % i, r.text)
            self.assertNotEqual(r.headers.get('connection'), 'close')
        self.assertFalse(c.closed_within(0.2))

    def test_http10_closes_unless_asked(self):
        c = self.conn()
        r = c.get('/hello', version='1.0')
        self.assertEqual(r.status_line, 'HTTP/1.0 200 OK')
        self.assertEqual(r.headers.get('connection'), 'close')
        self.assertTrue(c.closed_within(2 * SLOWDOWN))
        c = self.conn()
        for _ in range(3):
            r = c.get('/hello', version='1.0', headers='Connection: keep-alive\r\n')
            self.assertEqual(r.status_line, 'HTTP/1.0 200 OK')
            self.assertEqual(r.headers.get('connection'), 'keep-alive')
            self.assertEqual(r.body, b'Hello World\n')

    def test_connection_close_is_honoured(self):
        c = self.conn()
        self.assertEqual(c.get('/hello').status, 200)
        r = c.get('/hello', headers='Connection: close\r\n')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get('connection'), 'close')
        self.assertTrue(c.closed_within(2 * SLOWDOWN))

    def test_pipelined_requests_answered_in_order(self):
        c = self.conn()
        c.send(b''.join(b'GET /probe/request?a=%d HTTP/1.1\r\nHost: x\r\n\r\n' % i
                        for i in range(16)))
        for i in range(16):
            r = c.response()
            self.assertEqual(r.status, 200)
            self.assertIn('param a=%d\n' % i, r.text)
        self.assertEqual(c.get('/hello').body, b'Hello World\n')

    def test_pipelined_request_after_a_post_body(self):
        c = self.conn()
        body = b'x' * 3000
        c.send(b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s'
               b'GET /probe/request?a=after HTTP/1.1\r\nHost: x\r\n\r\n' % (len(body), body))
        first = c.response()
        self.assertEqual((first.status, first.body), (200, body))
        second = c.response()
        self.assertIn('param a=after\n', second.text)

    def test_suspending_view_between_kept_alive_requests(self):
        c = self.conn()
        for _ in range(3):
            r = c.get('/probe/sleep?s=0.02')
            self.assertEqual(r.status, 200)
            self.assertEqual(c.get('/hello').body, b'Hello World\n')

    def test_date_header_on_every_response(self):
        c = self.conn()
        for path in ('/hello', '/no-such-page'):
            r = c.get(path)
            self.assertRegex(r.headers.get('date', ''), DATE)
        bad = Conn(self.port)
        self.addCleanup(bad.close)
        bad.send(b'GET / HTTP/1.1\r\n\r\n')  # no Host: 400 from the head parser
        r = bad.response()
        self.assertEqual(r.status, 400)
        self.assertRegex(r.headers.get('date', ''), DATE)

    def test_not_found_keeps_the_connection(self):
        c = self.conn()
        self.assertEqual(c.get('/no-such-page').status, 404)
        self.assertEqual(c.get('/hello').status, 200)

    def test_expect_100_continue_is_answered(self):
        c = self.conn()
        c.send(b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
               b'Expect: 100-continue\r\n\r\n')
        c.sock.settimeout(2 * SLOWDOWN)
        while b'\r\n\r\n' not in c.buf:
            c._fill()
        self.assertTrue(c.buf.startswith(b'HTTP/1.1 100 Continue\r\n\r\n'), c.buf)
        c.buf = c.buf[len(b'HTTP/1.1 100 Continue\r\n\r\n'):]
        c.send(b'hello')
        self.assertEqual(c.response().body, b'hello')


class StrictHeadTest(ServerTestCase):
    """What a front-end proxy and this server must agree on: each probe is
    answered with the status shown and the connection closed."""

    @classmethod
    def setUpClass(cls):
        cls.server = http11_server().start()

    def answer(self, data):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(data)
        r = c.response()
        self.assertEqual(r.headers.get('connection'), 'close')
        self.assertTrue(c.closed_within(3 * SLOWDOWN), 'connection left open after %r' % r)
        return r

    def test_versions(self):
        r = self.answer(b'GET /hello HTTP/9.9\r\nHost: x\r\n\r\n')
        self.assertEqual(r.status, 505)
        self.assertTrue(r.status_line.startswith('HTTP/1.1 '))
        self.assertEqual(self.answer(b'GET /hello HTTP/1.1junk\r\nHost: x\r\n\r\n').status, 400)
        self.assertEqual(self.answer(b'GET /hello HTTP/1.1\r\n\r\n').status, 400)

    def test_smuggling_probes(self):
        probes = [
            b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
            b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
            b'Content-Length: 50\r\n\r\nhello',
            b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551626\r\n\r\n',
            b'POST /probe/body HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello',
            b'GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n',
            b'GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n',
            b'GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
            b'GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
        ]
        for probe in probes:
            with self.subTest(probe=probe):
                self.assertEqual(self.answer(probe).status, 400)
        self.assertEqual(self.answer(b'POST /probe/body HTTP/1.1\r\nHost: x\r\n'
                                     b'Transfer-Encoding: gzip\r\n\r\n').status, 501)

    def test_underscore_headers_are_dropped(self):
        c = Conn(self.port)
        self.addCleanup(c.close)
        c.send(b'POST /probe/request HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n'
               b'X_Test: smuggled\r\n\r\n')
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertIn('body-length=0\n', r.text)
        self.assertIn('x-test=(none)\n', r.text)
        self.assertEqual(c.get('/hello').status, 200)  # "hello" was not a body

    def test_a_bare_lf_head_is_answered_at_once(self):
        start = time.monotonic()
        self.assertEqual(self.answer(b'GET /hello HTTP/1.1\nHost: x\n\n').status, 400)
        self.assertLess(time.monotonic() - start, 2 * SLOWDOWN)

    def test_long_request_line_and_head(self):
        self.assertEqual(self.answer(b'GET /' + b'a' * 5000 + b' HTTP/1.1\r\n\r\n').status, 414)
        self.assertEqual(self.answer(b'GET / HTTP/1.1\r\nHost: x\r\nX-A: ' + b'a' * 5000 +
                                     b'\r\n\r\n').status, 431)

    def test_near_the_limit_the_variables_still_fit(self):
        # uWSGI stored the target twice in a buffer-size buffer: a path of
        # half of buffer-size failed with a bare 400
        c = Conn(self.port)
        self.addCleanup(c.close)
        r = c.get('/probe/request?a=' + 'b' * 3900)
        self.assertEqual(r.status, 200)
        self.assertIn('param a=' + 'b' * 3900, r.text)


class LimitsTest(unittest.TestCase):
    def test_idle_timeout_and_request_cap(self):
        server = http11_server(extra=[('aio-keepalive-timeout', '1'),
                                      ('aio-keepalive-requests', '3')])
        with server:
            c = Conn(server.port)
            self.addCleanup(c.close)
            self.assertEqual(c.get('/hello').status, 200)
            start = time.monotonic()
            self.assertFalse(c.closed_within(0.7))
            self.assertTrue(c.closed_within(2 * SLOWDOWN))
            self.assertLess(time.monotonic() - start, 1.0 + 1.5 * SLOWDOWN)
            c = Conn(server.port)
            self.addCleanup(c.close)
            self.assertNotEqual(c.get('/hello').headers.get('connection'), 'close')
            self.assertNotEqual(c.get('/hello').headers.get('connection'), 'close')
            self.assertEqual(c.get('/hello').headers.get('connection'), 'close')
            self.assertTrue(c.closed_within(2 * SLOWDOWN))

    def test_keepalive_timeout_zero_means_one_request(self):
        server = http11_server(extra=[('aio-keepalive-timeout', '0')])
        with server:
            c = Conn(server.port)
            self.addCleanup(c.close)
            self.assertEqual(c.get('/hello').headers.get('connection'), 'close')
            self.assertTrue(c.closed_within(2 * SLOWDOWN))

    def test_bad_values_stop_the_start(self):
        for option, value in (('aio-keepalive-timeout', '-1'), ('aio-keepalive-requests', '0'),
                              ('aio-keepalive-timeout', 'soon')):
            server = http11_server(extra=[(option, value)])
            with self.subTest(option=option, value=value):
                server.start(wait=False)
                code = server.wait_exit(15)
                server.log.close()
                self.assertNotIn(code, (0, None))
                self.assertIn("option '%s'" % option, server.read_log())

    def test_http_socket_still_closes_after_each_response(self):
        with Uwsgi(http_socket='http-socket') as server:
            c = Conn(server.port)
            self.addCleanup(c.close)
            r = c.get('/hello')
            self.assertEqual(r.headers.get('connection'), 'close')
            self.assertTrue(c.closed_within(2 * SLOWDOWN))


class IdleConnectionsTest(unittest.TestCase):
    """10,000 idle kept-alive connections on `aio = 100`: they hold no
    async core, so a new client is served at once."""

    CONNECTIONS = 10000

    def setUp(self):
        # this process and the server each hold one end of every connection
        raise_fd_limit(self, self.CONNECTIONS + 1000)

    def open_idle(self, port, n):
        conns = []
        batch = 500
        for start in range(0, n, batch):
            group = [socket.create_connection(('127.0.0.1', port), timeout=30 * SLOWDOWN)
                     for _ in range(min(batch, n - start))]
            for s in group:
                s.sendall(b'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n')
            for s in group:
                data = b''
                while not data.endswith(b'Hello World\n'):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, 'closed before its first response')
                    data += chunk
            conns += group
        return conns

    def test_ten_thousand_idle_connections(self):
        server = http11_server(aio=100, extra=[('listen', '4096')])
        with server:
            before = worker_rss_kib(server.proc.pid)
            conns = self.open_idle(server.port, self.CONNECTIONS)
            try:
                start = time.monotonic()
                c = Conn(server.port)
                r = c.get('/hello')
                elapsed = time.monotonic() - start
                c.close()
                self.assertEqual(r.status, 200)
                self.assertLess(elapsed, 0.1 * SLOWDOWN)
                after = worker_rss_kib(server.proc.pid)
                print('\n10,000 idle keep-alive connections: worker RSS %d -> %d KiB '
                      '(%.0f bytes each); a new client answered in %.1f ms'
                      % (before, after, (after - before) * 1024.0 / self.CONNECTIONS,
                         elapsed * 1000))
                # still alive and served, first and last
                for s in (conns[0], conns[-1]):
                    s.sendall(b'GET /hello HTTP/1.1\r\nHost: x\r\n\r\n')
                    self.assertTrue(s.recv(4096).startswith(b'HTTP/1.1 200'))
            finally:
                for s in conns:
                    s.close()


if __name__ == '__main__':
    unittest.main()
