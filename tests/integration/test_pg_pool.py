"""The PostgreSQL pool (aio_pg.h) on a real PostgreSQL, through the bench
module's GET /db/sleep?s=S (one SELECT pg_sleep(S) through the pool) and
the database module's pipelined and sequential fetches."""
import os
import socket
import threading
import time
import unittest

from tests.integration.harness import (BUILD, SLOWDOWN, Uwsgi, concurrent_gets, get,
                                       raise_fd_limit)
from tests.integration.postgres import DatabaseTestCase, Postgres

BENCH = os.path.join(BUILD, 'views', 'bench.so')
DATABASE = os.path.join(BUILD, 'views', 'database.so')
PGPROBE = os.path.join(BUILD, 'test-views', 'pgprobe.so')
SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'views', 'bench', 'schema.sql')


def bench_server(pg, aio=64, settings=(), extra=()):
    options = [('aio-setting', 'bench.conninfo=' + pg.conninfo)]
    options += [('aio-setting', s) for s in settings]
    return Uwsgi(modules=(BENCH,), aio=aio, extra=options + list(extra))


def sleeping_backends(pg):
    """Backends of other clients running pg_sleep now."""
    return int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' "
                      "AND state = 'active' AND pid <> pg_backend_pid()").strip())


def client_backends(pg):
    return int(pg.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                      "'client backend' AND pid <> pg_backend_pid()").strip())


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.05)


class PoolTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        cls.pg.sql_file(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def test_1000_requests_share_20_connections(self):
        raise_fd_limit(self, 3000)
        with bench_server(self.pg, aio=1100, settings=['bench.acquire_timeout_ms=30000'],
                          extra=[('socket-timeout', '60'), ('listen', '2048')]) as server:
            counts = []
            done = threading.Event()

            def sample():
                while not done.is_set():
                    counts.append(client_backends(self.pg))
                    time.sleep(0.25)
            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                responses, elapsed = concurrent_gets(server.port, ['/db/sleep?s=0.2'] * 1000,
                                                     timeout=60)
            finally:
                done.set()
                sampler.join()
            statuses = [r.status if not isinstance(r, BaseException) else repr(r)
                        for r, _ in responses]
            self.assertEqual(statuses, [200] * 1000)
            # 1000 x 0.2 s over 20 connections is 10 s at best
            self.assertGreaterEqual(elapsed, 10.0)
            self.assertLess(elapsed, 10.0 + 4.0 * SLOWDOWN)
            self.assertTrue(counts)
            self.assertLessEqual(max(counts), 20)
            self.assertEqual(max(counts), 20)  # and all of them were used
            server.stop()
            self.assertEqual(client_backends(self.pg), 0)  # closed with the worker
            server.assert_clean_log()

    def test_a_client_leaving_cancels_its_query(self):
        with bench_server(self.pg, settings=['bench.pool_size=1']) as server:
            self.assertEqual(get(server.port, '/db/sleep?s=0').status, 200)
            s = socket.create_connection(('127.0.0.1', server.port))
            s.sendall(b'GET /db/sleep?s=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            wait_until(lambda: sleeping_backends(self.pg) == 1, 3, 'the query to start')
            left = time.monotonic()
            s.close()
            # cancelled on the server, long before its 5 s
            wait_until(lambda: sleeping_backends(self.pg) == 0, 2, 'the cancellation')
            self.assertLess(time.monotonic() - left, 2.0 * SLOWDOWN)
            # the one connection went back clean: the next request gets it
            r = get(server.port, '/db/sleep?s=0')
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(client_backends(self.pg), 1)
            self.assertIn('GET /db/sleep?s=5: client went away', server.read_log())

    def test_an_exhausted_pool_answers_503_after_its_deadline(self):
        with bench_server(self.pg, settings=['bench.pool_size=1',
                                             'bench.acquire_timeout_ms=300']) as server:
            responses, _ = concurrent_gets(server.port, ['/db/sleep?s=1', '/db/sleep?s=0'])
            by_path = sorted((r.status, t) for r, t in responses)
            self.assertEqual([s for s, _ in by_path], [200, 503])
            self.assertGreaterEqual(by_path[1][1], 0.3)
            self.assertLess(by_path[1][1], 0.3 + 0.5 * SLOWDOWN)
            log = server.read_log()
            self.assertIn("PostgreSQL pool 'bench': no connection of the pool came free in time",
                          log)

    def test_a_restart_of_postgresql_fails_requests_clearly_then_heals(self):
        with bench_server(self.pg, aio=100) as server:
            pid = server.proc.pid
            self.assertEqual(get(server.port, '/db/sleep?s=0').status, 200)
            statuses = []
            stop = threading.Event()

            def load():
                deadline = time.monotonic() + 30 * SLOWDOWN
                while not stop.is_set() and time.monotonic() < deadline:
                    responses, _ = concurrent_gets(server.port, ['/db/sleep?s=0.05'] * 10,
                                                   timeout=15)
                    statuses.extend(r.status if not isinstance(r, BaseException) else repr(r)
                                    for r, _ in responses)
            loader = threading.Thread(target=load)
            loader.start()
            try:
                time.sleep(0.5)
                self.pg.stop_server()
                time.sleep(1.0)  # requests meanwhile find no server
                self.pg.start_server()
                time.sleep(1.5)
            finally:
                stop.set()
                loader.join()
            self.assertIn(503, statuses)
            self.assertLessEqual(set(statuses), {200, 503}, statuses)
            self.assertEqual(statuses[-10:], [200] * 10)  # healed, same worker
            self.assertIsNone(server.proc.poll())
            self.assertEqual(server.proc.pid, pid)
            log = server.read_log()
            self.assertIn("PostgreSQL pool 'bench': cannot connect", log)
            self.assertIn("PostgreSQL pool 'bench': connected again", log)

    def test_bad_configuration_stops_startup(self):
        from tests.integration.test_config import start_and_fail
        code, log = start_and_fail([('aio', '10'), ('aio-views', BENCH),
                                    ('aio-setting', 'bench.conninfo=host=127.0.0.1 nonsense')])
        self.assertNotEqual(code, 0)
        self.assertIn("PostgreSQL pool 'bench': bad conninfo", log)


class PipelineTest(DatabaseTestCase):
    modules = (DATABASE,)
    setting = 'database.conninfo'
    schema = ('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL); '
              "INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i;")

    def test_20_pipelined_queries_return_what_20_sequential_ones_do(self):
        pipelined = get(self.server.port, '/db/items/pipelined?limit=20')
        sequential = get(self.server.port, '/db/items/sequential?limit=20')
        self.assertEqual(pipelined.status, 200, pipelined.raw)
        self.assertEqual(pipelined.text, sequential.text)
        self.assertEqual(pipelined.text,
                         ''.join('%d item %d\n' % (i, i) for i in range(1, 21)))



class CornersTest(DatabaseTestCase):
    """tests/views/pgprobe: one connection, reused by every request."""
    modules = (PGPROBE,)
    setting = 'pgprobe.conninfo'
    schema = 'CREATE TABLE pgprobe (n int)'

    def setUp(self):
        self.pg.sql('TRUNCATE pgprobe')

    def test_a_failing_statement_aborts_the_rest_of_its_pipeline(self):
        r = get(self.server.port, '/pg/pipeline?n=5&bad=3')
        self.assertEqual(r.status, 200, r.raw)
        self.assertEqual(r.text, 'rc=-1 PGRES_TUPLES_OK PGRES_TUPLES_OK PGRES_FATAL_ERROR '
                                 'PGRES_PIPELINE_ABORTED PGRES_PIPELINE_ABORTED\nafter: 42\n')
        self.assertEqual(get(self.server.port, '/pg/pipeline?n=3').text,
                         'rc=0 PGRES_TUPLES_OK PGRES_TUPLES_OK PGRES_TUPLES_OK\nafter: 42\n')

    def test_the_transaction_helper_commits_or_rolls_back(self):
        self.assertEqual(get(self.server.port, '/pg/tx?fail=0').text, 'rc=0\nrows: 1\n')
        self.assertEqual(get(self.server.port, '/pg/tx?fail=1').text, 'rc=-1\nrows: 1\n')
        self.assertEqual(get(self.server.port, '/pg/tx?fail=0').text, 'rc=0\nrows: 2\n')

    def test_a_transaction_left_open_is_rolled_back_before_reuse(self):
        self.assertEqual(get(self.server.port, '/pg/abandon').text, 'abandoned\n')
        r = get(self.server.port, '/pg/rows')
        self.assertEqual(r.text, 'rows: 0\n')  # same connection, not inside that transaction

    def test_a_statement_past_the_query_timeout_is_504_and_cancelled(self):
        start = time.monotonic()
        r = get(self.server.port, '/pg/sleep?s=5')
        elapsed = time.monotonic() - start
        self.assertEqual(r.status, 504, r.raw)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 0.5 + 1.0 * SLOWDOWN)
        wait_until(lambda: sleeping_backends(self.pg) == 0, 2, 'the cancellation')
        self.assertEqual(get(self.server.port, '/pg/rows').text, 'rows: 0\n')
        self.assertIn("PostgreSQL pool 'pgprobe': no answer within the pool's query timeout",
                      self.server.read_log())

    def test_a_server_that_cannot_serve_now_is_503_a_failing_statement_500(self):
        for code, status in (('57P03', 503), ('08006', 503), ('22012', 500)):
            with self.subTest(code=code):
                r = get(self.server.port, '/pg/raise?code=' + code)
                self.assertEqual(r.status, status, r.raw)
                self.assertIn('raised ' + code, self.server.read_log())
                self.assertEqual(get(self.server.port, '/pg/rows').status, 200)

    def test_a_refused_statement_fails_the_view_and_says_why(self):
        r = get(self.server.port, '/pg/bad')
        self.assertEqual(r.status, 500)
        self.assertIn("PostgreSQL pool 'pgprobe': statement 1 of 1 failed: ERROR:  syntax error",
                      self.server.read_log())
        self.assertEqual(get(self.server.port, '/pg/rows').status, 200)


if __name__ == '__main__':
    unittest.main()
