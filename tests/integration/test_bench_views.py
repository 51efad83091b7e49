"""views/bench, TechEmpower's six test types, checked against their rules
on a real PostgreSQL (loaded with views/bench/schema.sql) through a real
uwsgi: each response's status, Content-Type, Server and Date; the JSON's
shape and types; the queries parameter's clamping; that rows come from
the table (and, for /updates, that the table holds what was answered);
the fortunes page's rows, order and escaping."""
import email.utils
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

from tests.integration.harness import BUILD, ROOT, SLOWDOWN, Uwsgi, concurrent_gets, free_port, get
from tests.integration.postgres import Postgres
from tests.integration.test_config import start_and_fail

BENCH = os.path.join(BUILD, 'views', 'bench.so')
SCHEMA = os.path.join(ROOT, 'views', 'bench', 'schema.sql')
DATABASE_SCRIPT = os.path.join(ROOT, 'views', 'bench', 'database.py')
POOL_SIZE = 8
FORTUNES = [
    (1, 'fortune: No such file or directory'),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, 'After enough decimal places, nobody gives a damn.'),
    (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
    (5, 'A computer program does what you tell it to do, not what you want it to do.'),
    (6, 'Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen'),
    (7, 'Any program that runs right is obsolete.'),
    (8, 'A list is only as strong as its weakest link. \u2014 Donald Knuth'),
    (9, 'Feature: A bug with seniority.'),
    (10, 'Computers make very fast, very accurate mistakes.'),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, '\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af'),
]
ADDED = (0, 'Additional fortune added at request time.')
PAGE = re.compile(r'<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>'
                  r'<tr><th>id</th><th>message</th></tr>((?:<tr><td>\d+</td><td>[^<>]*</td></tr>)*)'
                  r'</table></body></html>')
ROW = re.compile(r'<tr><td>(\d+)</td><td>([^<>]*)</td></tr>')


class BenchViewsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        try:
            cls.pg.sql_file(SCHEMA)
            cls.pg.sql_file(SCHEMA)  # re-runnable: it makes the tables anew
            cls.server = Uwsgi(modules=(BENCH,), aio=200, extra=[
                ('aio-setting', 'bench.conninfo=' + cls.pg.conninfo),
                ('aio-setting', 'bench.pool_size=%d' % POOL_SIZE)]).start()
        except BaseException:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
            cls.server.assert_clean_log()
            shutil.rmtree(cls.server.dir, ignore_errors=True)
        finally:
            cls.pg.stop()

    # -- helpers ---------------------------------------------------------------

    def get(self, path):
        return get(self.server.port, path)

    def world(self):
        """The World table as it is now: {id: randomNumber}."""
        rows = (line.split('|') for line in self.pg.sql('SELECT id, randomNumber FROM World')
                .split())
        return {int(i): int(n) for i, n in rows}

    def assert_response(self, r, content_type, status=200):
        self.assertEqual(r.status, status, r.raw[:500])
        self.assertEqual(r.headers.get('content-type'), content_type, r.raw[:500])
        self.assertEqual(r.headers.get('server'), 'uwsgi-aio', r.raw[:500])
        self.assertIsNotNone(email.utils.parsedate_to_datetime(r.headers.get('date', '')),
                             r.raw[:500])

    def assert_world(self, row):
        self.assertIsInstance(row, dict)
        self.assertEqual(sorted(row), ['id', 'randomNumber'])
        for key in ('id', 'randomNumber'):
            self.assertIs(type(row[key]), int, row)
            self.assertGreaterEqual(row[key], 1, row)
            self.assertLessEqual(row[key], 10000, row)

    def world_list(self, path, expected_len):
        """The rows /queries or /updates answered for `path`, checked."""
        r = self.get(path)
        self.assert_response(r, 'application/json')
        rows = json.loads(r.body)
        self.assertIsInstance(rows, list)
        self.assertEqual(len(rows), expected_len, path)
        for row in rows:
            self.assert_world(row)
        return rows

    # -- the tables ------------------------------------------------------------

    def test_schema_fills_the_tables(self):
        self.assertEqual(self.pg.sql('SELECT count(*), count(DISTINCT id), min(id), max(id), '
                                     'min(randomNumber) >= 1, max(randomNumber) <= 10000, '
                                     'count(DISTINCT randomNumber) > 5000 FROM World').strip(),
                         '10000|10000|1|10000|t|t|t')
        messages = self.pg.sql('SELECT message FROM Fortune ORDER BY id').splitlines()
        self.assertEqual(messages, [m for _, m in FORTUNES])

    # -- plaintext, json ---------------------------------------------------------

    def test_plaintext(self):
        r = self.get('/plaintext')
        self.assert_response(r, 'text/plain')
        self.assertEqual(r.body, b'Hello, World!')
        self.assertEqual(r.headers.get('content-length'), '13')

    def test_json(self):
        r = self.get('/json')
        self.assert_response(r, 'application/json')
        self.assertEqual(r.body, b'{"message":"Hello, World!"}')

    # -- single and multiple queries ---------------------------------------------

    def test_db_answers_a_random_row_of_the_table(self):
        table = self.world()
        ids = set()
        for _ in range(20):
            r = self.get('/db')
            self.assert_response(r, 'application/json')
            row = json.loads(r.body)
            self.assert_world(row)
            self.assertEqual(row['randomNumber'], table[row['id']], row)
            ids.add(row['id'])
        self.assertGreater(len(ids), 10)  # random ids, not one row over and over

    def test_queries_parameter_is_clamped(self):
        for query, expected in (('', 1), ('?queries=', 1), ('?queries=0', 1),
                                ('?queries=-3', 1), ('?queries=abc', 1), ('?queries=2x', 1),
                                ('?queries=1', 1), ('?queries=20', 20), ('?queries=500', 500),
                                ('?queries=501', 500), ('?queries=1000', 500),
                                ('?queries=99999999999999999999', 500)):
            with self.subTest(query=query):
                self.world_list('/queries' + query, expected)

    def test_queries_answers_random_rows_of_the_table(self):
        rows = self.world_list('/queries?queries=500', 500)
        table = self.world()
        for row in rows:
            self.assertEqual(row['randomNumber'], table[row['id']], row)
        # 500 draws from 10,000 ids: about 488 distinct ones
        self.assertGreater(len({row['id'] for row in rows}), 450)

    # -- fortunes ----------------------------------------------------------------

    def test_fortunes(self):
        r = self.get('/fortunes')
        self.assert_response(r, 'text/html; charset=utf-8')
        page = r.body.decode('utf-8').replace('\n', '')
        match = PAGE.fullmatch(page)
        self.assertIsNotNone(match, page)
        rows = [(int(i), html.unescape(m)) for i, m in ROW.findall(match.group(1))]
        self.assertEqual(len(rows), 13)
        self.assertIn(ADDED, rows)
        self.assertEqual([m for _, m in rows], sorted(m for _, m in rows))
        self.assertEqual(rows, sorted(FORTUNES + [ADDED], key=lambda f: f[1]))
        self.assertIn('<tr><td>11</td><td>&lt;script&gt;alert(&quot;This should not be displayed '
                      'in a browser alert box.&quot;);&lt;/script&gt;</td></tr>', page)
        self.assertNotIn(b'<script', r.body)
        self.assertIn(('<tr><td>12</td><td>%s</td></tr>' % FORTUNES[11][1]).encode('utf-8'),
                      r.body)

    # -- updates -----------------------------------------------------------------

    def test_updates_write_what_they_answer(self):
        before = self.world()
        rows = self.world_list('/updates?queries=20', 20)
        after = self.world()
        ids = {row['id'] for row in rows}
        for row in rows:
            self.assertEqual(after[row['id']], row['randomNumber'], row)
        self.assertTrue(any(before[i] != after[i] for i in ids))  # written, not only read
        self.assertEqual({i: n for i, n in after.items() if i not in ids},
                         {i: n for i, n in before.items() if i not in ids})

    def test_updates_parameter_is_clamped(self):
        for query, expected in (('', 1), ('?queries=0', 1), ('?queries=abc', 1),
                                ('?queries=501', 500)):
            with self.subTest(query=query):
                rows = self.world_list('/updates' + query, expected)
                # 500 draws repeat ids: each must answer what the table holds
                table = self.world()
                for row in rows:
                    self.assertEqual(table[row['id']], row['randomNumber'], row)

    # -- many at once ------------------------------------------------------------

    def test_concurrent_requests_of_every_kind(self):
        """More requests than connections: the pool makes them wait their turn."""
        paths = ['/db', '/queries?queries=5', '/fortunes', '/updates?queries=5'] * 40
        responses, _ = concurrent_gets(self.server.port, paths)
        for path, result in zip(paths, responses):
            self.assertNotIsInstance(result, Exception, path)
            r, _ = result
            self.assertEqual(r.status, 200, (path, r.raw[:500]))
            self.assertEqual(r.headers.get('server'), 'uwsgi-aio', path)
            if path != '/fortunes':
                body = json.loads(r.body)
                for row in body if isinstance(body, list) else [body]:
                    self.assert_world(row)

    def test_concurrent_updates_of_shared_rows_do_not_deadlock(self):
        """60 requests of 500 rows share about 25 rows a pair: written in
        different orders, they would deadlock (PostgreSQL aborts one: 500)."""
        responses, _ = concurrent_gets(self.server.port, ['/updates?queries=500'] * 60)
        self.assertEqual([r.status for r, _ in responses], [200] * 60)
        self.assertNotIn('deadlock', self.server.read_log())

    # -- /db/sleep ---------------------------------------------------------------

    def test_sleep(self):
        start = time.monotonic()
        r = self.get('/db/sleep?s=0.2')
        elapsed = time.monotonic() - start
        self.assert_response(r, 'text/plain; charset=utf-8')
        self.assertEqual(r.text, 'slept 0.2\n')
        self.assertGreaterEqual(elapsed, 0.2)

    def test_sleep_refuses_what_is_not_a_number_from_0(self):
        for query in ('', '?s=', '?s=-1', '?s=abc', '?s=nan', '?s=inf', '?s=1s'):
            with self.subTest(query=query):
                self.assert_response(self.get('/db/sleep' + query), 'text/plain; charset=utf-8',
                                     status=400)

    def test_sleeps_share_the_pool_of_pool_size_connections(self):
        """Twice bench.pool_size sleeps of 0.25 s: two rounds, at once each."""
        start = time.monotonic()
        responses, _ = concurrent_gets(self.server.port, ['/db/sleep?s=0.25'] * (2 * POOL_SIZE))
        elapsed = time.monotonic() - start
        self.assertEqual([r.status for r, _ in responses], [200] * (2 * POOL_SIZE))
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 0.5 + 1.0 * SLOWDOWN)


class BenchConfigTest(unittest.TestCase):

    def assert_fails(self, settings, needle):
        code, log = start_and_fail([('aio', '10'), ('aio-views', BENCH)] +
                                   [('aio-setting', s) for s in settings])
        self.assertNotEqual(code, 0)
        self.assertIn("aio: configuration error: view module '%s': %s" % (BENCH, needle), log)

    def test_missing_conninfo_stops_startup(self):
        self.assert_fails([], 'the setting bench.conninfo')

    def test_bad_pool_size_stops_startup(self):
        for size in ('0', 'many', '1001'):
            with self.subTest(size=size):
                self.assert_fails(['bench.conninfo=host=127.0.0.1', 'bench.pool_size=' + size],
                                  "the setting bench.pool_size must be an integer from 1 to "
                                  "1000 (got '%s')" % size)

    def test_no_database_is_503(self):
        """Nothing listens on the conninfo's port: the pool's failure is the
        answer (503), and the views that need no database still serve."""
        conninfo = 'host=127.0.0.1 port=%d user=postgres dbname=postgres' % free_port()
        with Uwsgi(modules=(BENCH,), extra=[('aio-setting', 'bench.conninfo=' + conninfo)]) as s:
            for path in ('/db', '/queries?queries=3', '/fortunes', '/updates', '/db/sleep?s=0'):
                with self.subTest(path=path):
                    self.assertEqual(get(s.port, path).status, 503)
            self.assertEqual(get(s.port, '/plaintext').status, 200)


class BenchDatabaseScriptTest(unittest.TestCase):

    def test_it_prints_a_conninfo_to_the_tables_and_stops_when_told(self):
        script = subprocess.Popen([sys.executable, DATABASE_SCRIPT], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            conninfo = script.stdout.readline().strip()
            self.assertRegex(conninfo, r'^host=127\.0\.0\.1 port=\d+ ')
            psql = ['psql', conninfo, '-qAt', '-c',
                    'SELECT (SELECT count(*) FROM World), (SELECT count(*) FROM Fortune)']
            self.assertEqual(subprocess.run(psql, capture_output=True, text=True).stdout,
                             '10000|12\n')
            script.stdin.write('stop\n')
            script.stdin.flush()
            self.assertEqual(script.wait(20 * SLOWDOWN), 0, script.stderr.read())
            self.assertNotEqual(subprocess.run(psql, capture_output=True).returncode, 0)
        finally:
            if script.poll() is None:
                script.kill()
                script.wait()
            script.stdin.close()
            script.stdout.close()
            script.stderr.close()


if __name__ == '__main__':
    unittest.main()
