"""The DatabaseUtilities story on a real PostgreSQL: a blocking libpq query
in the executor and the same query on the framework's pool (aio_pg.h) in a
coroutine."""
import os
import socket
import time
import unittest

from tests.integration.harness import BUILD, SLOWDOWN, concurrent_gets, get
from tests.integration.postgres import DatabaseTestCase

DATABASE = os.path.join(BUILD, 'views', 'database.so')
NAMES = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india',
         'juliet']


def expected_rows(limit):
    return ''.join('%d %s\n' % (i + 1, NAMES[i]) for i in range(limit))


class DatabaseTest(DatabaseTestCase):
    modules = (DATABASE,)
    setting = 'database.conninfo'
    schema = ('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); '
              'INSERT INTO items VALUES %s;'
              % ', '.join("(%d, '%s')" % (i + 1, n) for i, n in enumerate(NAMES)))
    aio = 200
    extra = [('aio-executor-threads', '16')]

    def test_both_styles_return_the_rows(self):
        for style in ('blocking', 'async'):
            with self.subTest(style=style):
                r = get(self.port, '/db/items/%s?limit=3' % style)
                self.assertEqual(r.status, 200, r.raw)
                self.assertEqual(r.text, expected_rows(3))
                self.assertEqual(get(self.port, '/db/items/%s?limit=0' % style).text, '')

    def test_50_concurrent_requests_in_each_style(self):
        for style in ('blocking', 'async'):
            with self.subTest(style=style):
                paths = ['/db/items/%s?limit=%d' % (style, 1 + i % 10) for i in range(50)]
                responses, _ = concurrent_gets(self.port, paths)
                for path, (r, _) in zip(paths, responses):
                    self.assertEqual(r.status, 200, r.raw)
                    self.assertEqual(r.text, expected_rows(int(path.rsplit('=', 1)[1])))

    def test_async_queries_run_concurrently_on_the_loop(self):
        """50 queries that each take 0.5 s in PostgreSQL finish together."""
        responses, elapsed = concurrent_gets(self.port, ['/db/items/async?limit=2&delay=0.5'] * 50)
        self.assertEqual([r.status for r, _ in responses], [200] * 50)
        self.assertLess(elapsed, 0.5 + 1.0 * SLOWDOWN)

    def test_blocking_queries_use_the_threads(self):
        """32 blocking queries of 0.5 s on 16 threads: two rounds."""
        responses, elapsed = concurrent_gets(self.port,
                                             ['/db/items/blocking?limit=2&delay=0.5'] * 32)
        self.assertEqual([r.status for r, _ in responses], [200] * 32)
        self.assertGreaterEqual(elapsed, 1.0)
        self.assertLess(elapsed, 1.0 + 1.0 * SLOWDOWN)

    def test_client_leaving_mid_query(self):
        s = socket.create_connection(('127.0.0.1', self.port))
        s.sendall(b'GET /db/items/async?limit=1&delay=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        time.sleep(0.3)
        s.close()
        deadline = time.monotonic() + 3 * SLOWDOWN
        while 'GET /db/items/async?limit=1&delay=1: client went away' not in self.server.read_log():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        # the half-used connection was dropped, not pooled: the next queries work
        for _ in range(5):
            self.assertEqual(get(self.port, '/db/items/async?limit=2').text, expected_rows(2))

    def test_missing_setting_stops_startup(self):
        from tests.integration.test_config import start_and_fail
        code, log = start_and_fail([('aio', '10'), ('aio-views', DATABASE)])
        self.assertNotEqual(code, 0)
        self.assertIn("aio: configuration error: view module '%s': the setting database.conninfo"
                      % DATABASE, log)
