"""The engine's counters in uWSGI's metrics (enable-metrics), read the way
an operator does: from the stats server's JSON. Every name is under
"aio."; each worker has its own and "aio.NAME" adds them up. Requests are
logged and counted under a uWSGI app (app: 0), not as "no app"."""
import json
import re
import socket
import threading
import time
import unittest

from tests.integration.harness import (PROBE, SLOWDOWN, TUTORIAL, Uwsgi, free_port, get)
from tests.integration.wsclient import TEXT, WsClient

NAMES = ['requests_1xx', 'requests_2xx', 'requests_3xx', 'requests_4xx', 'requests_5xx',
         'cores_busy', 'connections_parked', 'websockets', 'websockets_detached',
         'websocket_bytes_queued',
         'executor_busy', 'executor_queued', 'tasks', 'stalls',
         'pg_connections', 'pg_waiting', 'http_transfers']


def stats(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return json.loads(data)
            data += chunk


def aio_metrics(port):
    return {name: m['value'] for name, m in stats(port).get('metrics', {}).items()
            if name.startswith('aio.')}


class MetricsTest(unittest.TestCase):

    def wait_metrics(self, port, expected, timeout=10.0):
        """Until every metric of `expected` has its value (the collector
        runs once a second, the workers publish four times a second)."""
        deadline = time.monotonic() + timeout * SLOWDOWN
        while True:
            found = aio_metrics(port)
            if all(found.get(name) == value for name, value in expected.items()):
                return found
            if time.monotonic() > deadline:
                self.fail('metrics %r, wanted %r' % (
                    {n: found.get(n) for n in expected}, expected))
            time.sleep(0.2)

    def test_counters_and_gauges_through_the_stats_server(self):
        stats_port = free_port()
        with Uwsgi(modules=(TUTORIAL, PROBE), aio=20,
                   extra=[('master', 'true'), ('processes', '2'), ('enable-metrics', 'true'),
                          ('stats', '127.0.0.1:%d' % stats_port)]) as server:
            names = set(aio_metrics(stats_port))
            self.assertEqual(names, {'aio.' + n for n in NAMES} |
                             {'aio.worker.%d.%s' % (w, n) for w in (1, 2) for n in NAMES})
            for _ in range(5):
                self.assertEqual(get(server.port, '/hello').status, 200)
            for _ in range(3):
                self.assertEqual(get(server.port, '/nope').status, 404)
            self.assertEqual(get(server.port, '/stall?ms=150').status, 200)
            self.wait_metrics(stats_port, {'aio.requests_2xx': 6, 'aio.requests_4xx': 3,
                                           'aio.requests_5xx': 0, 'aio.stalls': 1})
            # gauges: a websocket, a blocking view in its thread, a sleeping page
            ws = WsClient(server.port, '/echo')
            ws.send_text('x')
            self.assertEqual(ws.recv(), (TEXT, b'x'))
            idle = WsClient(server.port, '/probe/ws/callbacks')  # a session without a core
            self.assertEqual(idle.recv(), (TEXT, b'welcome'))
            results = []
            busy = [threading.Thread(target=lambda p=p: results.append(get(server.port, p)))
                    for p in ('/blocking?ms=%d' % (3000 * SLOWDOWN), '/?sleep=%d' % (3 * SLOWDOWN))]
            for t in busy:
                t.start()
            found = self.wait_metrics(stats_port, {'aio.websockets': 2, 'aio.websockets_detached': 1,
                                                   'aio.executor_busy': 1})
            self.assertGreaterEqual(found['aio.cores_busy'], 2)  # the two requests in flight
            self.assertEqual(found['aio.websocket_bytes_queued'], 0)
            self.assertEqual(found['aio.websockets'],
                             found['aio.worker.1.websockets'] + found['aio.worker.2.websockets'])
            for c in (ws, idle):
                c.close()
                c.expect_close()
                c.shutdown()
            for t in busy:
                t.join(20 * SLOWDOWN)
            self.assertEqual([r.status for r in results], [200, 200])
            self.wait_metrics(stats_port, {'aio.websockets': 0, 'aio.websockets_detached': 0,
                                           'aio.executor_busy': 0,
                                           'aio.cores_busy': 0})
            # the requests are the app's: in the log and in the stats' apps
            self.assertRegex(server.read_log(), r'\[pid: \d+\|app: 0\|req: \d+/\d+\] .* GET /hello ')
            self.assertNotIn('|app: -1|', server.read_log())
            served = sum(app['requests'] for w in stats(stats_port)['workers'] for app in w['apps'])
            self.assertGreaterEqual(served, 11)

    def test_without_enable_metrics_nothing_is_registered(self):
        stats_port = free_port()
        with Uwsgi(modules=(TUTORIAL,), extra=[('master', 'true'),
                                               ('stats', '127.0.0.1:%d' % stats_port)]) as server:
            self.assertEqual(get(server.port, '/hello').status, 200)
            self.assertEqual(aio_metrics(stats_port), {})


if __name__ == '__main__':
    unittest.main()
