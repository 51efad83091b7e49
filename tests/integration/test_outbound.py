"""Outbound HTTP (aio_http.h) through the tutorial's /relay: one uwsgi-aio
instance fetches the home page of another (a real local upstream) with
libcurl driven by its loop."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from tests.integration.harness import (SLOWDOWN, TUTORIAL, Uwsgi, concurrent_gets,
                                       free_port, get, raise_fd_limit)


def relay_server(upstream_port, aio=64, extra=(), scheme='http'):
    return Uwsgi(modules=(TUTORIAL,), aio=aio,
                 extra=[('aio-setting', 'tutorial.upstream=%s://127.0.0.1:%d'
                         % (scheme, upstream_port))] + list(extra))


class RelayTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.upstream = Uwsgi(modules=(TUTORIAL,), aio=1100,
                             extra=[('socket-timeout', '30'), ('listen', '2048')]).start()

    @classmethod
    def tearDownClass(cls):
        cls.upstream.stop()
        cls.upstream.assert_clean_log()

    def test_relay_answers_the_upstream_status_and_length(self):
        with relay_server(self.upstream.port) as relay:
            direct = get(self.upstream.port, '/?sleep=0')
            self.assertEqual(direct.status, 200)
            r = get(relay.port, '/relay?sleep=0')
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(r.text, '200 %d\n' % len(direct.body))
            # the upstream's own answers come through, whatever their status
            self.assertEqual(get(relay.port, '/relay?sleep=-1').text.split()[0], '400')
            self.assertEqual(get(relay.port, '/relay?sleep=x').status, 400)

    def test_1000_concurrent_relays_on_one_worker(self):
        raise_fd_limit(self, 4500)
        with relay_server(self.upstream.port, aio=1100,
                          extra=[('socket-timeout', '30'), ('listen', '2048')]) as relay:
            self.assertEqual(get(relay.port, '/relay?sleep=0').status, 200)
            responses, elapsed = concurrent_gets(relay.port, ['/relay?sleep=1'] * 1000,
                                                 timeout=20)
            statuses = [r.status if not isinstance(r, Exception) else repr(r)
                        for r, _ in (x if isinstance(x, tuple) else (x, 0) for x in responses)]
            self.assertEqual(statuses, [200] * 1000)
            self.assertTrue(all(r.text.startswith('200 ') for r, _ in responses))
            self.assertLess(elapsed, 2.5 * SLOWDOWN)
            self.assertGreaterEqual(elapsed, 1.0)

    def test_the_timeout_is_honoured(self):
        with relay_server(self.upstream.port,
                          extra=[('aio-setting', 'tutorial.relay_timeout_ms=500')]) as relay:
            start = time.monotonic()
            r = get(relay.port, '/relay?sleep=3')
            elapsed = time.monotonic() - start
            self.assertEqual(r.status, 504, r.raw)
            self.assertGreaterEqual(elapsed, 0.5)
            self.assertLess(elapsed, 0.5 + 1.0 * SLOWDOWN)
            self.assertEqual(get(relay.port, '/relay?sleep=0').status, 200)

    def test_an_upstream_that_is_not_there_is_502(self):
        with relay_server(free_port()) as relay:
            r = get(relay.port, '/relay?sleep=0')
            self.assertEqual(r.status, 502, r.raw)
            self.assertIn('HTTP request to http://127.0.0.1:', relay.read_log())

    def test_a_client_leaving_aborts_the_transfer(self):
        with relay_server(self.upstream.port) as relay:
            s = socket.create_connection(('127.0.0.1', relay.port))
            s.sendall(b'GET /relay?sleep=4.5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            time.sleep(0.5)
            s.close()
            left = time.monotonic()
            # the relay's connection to the upstream closes: the upstream's
            # request is cancelled long before its 4.5 s sleep ends
            deadline = left + 2 * SLOWDOWN
            while 'GET /?sleep=4.5: client went away' not in self.upstream.read_log():
                self.assertLess(time.monotonic(), deadline, self.upstream.read_log()[-2000:])
                time.sleep(0.05)
            self.assertIn('GET /relay?sleep=4.5: client went away', relay.read_log())
            self.assertEqual(get(relay.port, '/relay?sleep=0').status, 200)

    def test_connections_are_reused_between_requests(self):
        # an upstream that keeps connections alive (HTTP/1.1)
        with Uwsgi(modules=(TUTORIAL,), http_socket='http11-socket') as upstream, \
                relay_server(upstream.port) as relay:
            for _ in range(20):
                self.assertEqual(get(relay.port, '/relay?sleep=0').status, 200)
            # one kept-alive connection carried all 20
            self.assertEqual(established_to(upstream.port), 1)
            # 32 at once need 32 connections, and all of them are kept for
            # the next ones (not only as many as curl keeps by default)
            for _ in range(2):
                responses, _ = concurrent_gets(relay.port, ['/relay?sleep=0.2'] * 32)
                self.assertEqual([r.status for r, _ in responses], [200] * 32)
                self.assertEqual(get(relay.port, '/relay?sleep=0').status, 200)  # one alone
                self.assertEqual(established_to(upstream.port), 32)


class ClientTest(unittest.TestCase):
    """aio_http_request's options and answers, through the test module's
    /probe/fetch, against a tutorial upstream."""

    @classmethod
    def setUpClass(cls):
        cls.upstream = Uwsgi(modules=(TUTORIAL,), http_socket='http11-socket').start()
        cls.client = Uwsgi().start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.client.stop()
            cls.client.assert_clean_log()
        finally:
            cls.upstream.stop()

    def fetch(self, **params):
        query = urllib.parse.urlencode(params)
        r = get(self.client.port, '/probe/fetch?' + query)
        self.assertEqual(r.status, 200, r.raw)
        return r.text

    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.upstream.port, path)

    def test_status_headers_and_body(self):
        text = self.fetch(url=self.url('/hello'))
        head, _, body = text.partition('\n')
        self.assertRegex(head, r'^status=200 type=text/plain; charset=utf-8 headers=[3-9]$')
        self.assertEqual(body, 'Hello World\n')
        self.assertTrue(self.fetch(url=self.url('/nothing-here')).startswith('status=404 '))

    def test_a_post_with_a_body_and_a_header(self):
        text = self.fetch(url=self.url('/upload'), method='POST', body='x' * 1000,
                          header='Content-Type: application/octet-stream')
        self.assertTrue(text.startswith('status=200 '), text)
        self.assertIn('1000', text)

    def test_an_answer_past_max_response_is_efull(self):
        text = self.fetch(url=self.url('/?sleep=0'), max='100')
        self.assertTrue(text.startswith('rc=-10 HTTP request to '), text)
        self.assertIn('larger than 100 bytes', text)

    def test_bad_options_are_einval(self):
        for params in ({'url': 'ftp://127.0.0.1/'}, {'url': 'http://127.0.0.1/a b'},
                       {'url': self.url('/'), 'method': 'get me'},
                       {'url': self.url('/'), 'header': 'no colon'}):
            with self.subTest(**params):
                self.assertTrue(self.fetch(**params).startswith('rc=-5 '))


class TlsRelayTest(unittest.TestCase):
    """An https upstream: nginx with a certificate made here for 127.0.0.1,
    answering the relay's GET itself."""

    @classmethod
    def setUpClass(cls):
        from tests.integration.test_nginx import Nginx
        cls.dir = tempfile.mkdtemp(prefix='aio-tls-')
        cls.cert = os.path.join(cls.dir, 'cert.pem')
        key = os.path.join(cls.dir, 'key.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                        '-keyout', key, '-out', cls.cert], check=True, capture_output=True)
        cls.nginx = Nginx(cls.dir, os.path.join(cls.dir, 'unused.sock'))
        with open(os.path.join(cls.dir, 'site.conf'), 'w') as f:
            f.write('server {\n    listen 127.0.0.1:%d ssl;\n    ssl_certificate %s;\n'
                    '    ssl_certificate_key %s;\n'
                    '    location / { return 200 "over TLS\\n"; }\n}\n'
                    % (cls.nginx.port, cls.cert, key))
        cls.nginx.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.nginx.stop()
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def test_a_trusted_certificate_is_accepted(self):
        with relay_server(self.nginx.port, scheme='https',
                          extra=[('aio-setting', 'tutorial.upstream_ca_file=' + self.cert)]) as relay:
            r = get(relay.port, '/relay?sleep=0')
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(r.text, '200 %d\n' % len('over TLS\n'))

    def test_an_unknown_certificate_is_refused(self):
        with relay_server(self.nginx.port, scheme='https') as relay:
            r = get(relay.port, '/relay?sleep=0')
            self.assertEqual(r.status, 502, r.raw)
            self.assertIn('certificate', relay.read_log())


def established_to(port):
    out = subprocess.run(['ss', '-Htn', 'state', 'established', '( dport = :%d )' % port],
                         check=True, capture_output=True, text=True).stdout
    return len(out.splitlines())


if __name__ == '__main__':
    unittest.main()
