"""Scale-out: several workers and several uWSGI instances sharing one real
redis-server on loopback. Websocket broadcast and topics across workers and
hosts (aio-broadcast), state shared through aio_redis() (aio-redis), and
what happens while Redis is away."""
import os
import socket
import time
import unittest

from tests.integration.harness import (BUILD, PLUGIN, SHARED, SLOWDOWN, Uwsgi, concurrent_gets,
                                       free_port, get, in_parallel)
from tests.integration.redis import Redis, wait_connected
from tests.integration.wsclient import BINARY, TEXT, Closed, WsClient

CHAT = os.path.join(BUILD, 'views', 'chat.so')


def instance(redis, processes=2, extra=(), channel='test'):
    port = free_port()
    options = [('plugin', PLUGIN), ('http-socket', '127.0.0.1:%d' % port),
               ('master', 'true'), ('processes', str(processes)), ('aio', '300'),
               ('socket-timeout', '10'), ('listen', '1024'),
               ('aio-views', SHARED), ('aio-views', CHAT),
               ('aio-broadcast', '%s?channel=%s' % (redis.url, channel)),
               ('aio-redis', redis.url + '/2'), ('aio-redis-timeout', str(int(1000 * SLOWDOWN)))]
    server = Uwsgi(options=options + list(extra))
    server.port = port
    return server


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError('timed out waiting for ' + what)


def open_clients(port, n, path='/shared/ws'):
    """n websockets; returns [(client, pid of the worker serving it)]."""
    clients = []
    for _ in range(n):
        c = WsClient(port, path, timeout=10 * SLOWDOWN)
        opcode, payload = c.recv()
        assert payload.startswith(b'ready pid='), payload
        clients.append((c, int(payload.split(b'=')[1])))
    return clients


def open_clients_on_every_worker(port, n, workers, most=400):
    """At least n websockets, more (up to most) until `workers` distinct
    workers hold one. The kernel hands each connection to whichever worker
    accepts first, so a fast worker can take a whole sequential batch (seen
    under the sanitizers); the extra clients are opened ten at a time, which
    keeps the first worker busy while the others accept (in_parallel)."""
    clients = open_clients(port, n)
    while len({pid for _, pid in clients}) < workers and len(clients) < most:
        clients += [c for opened in in_parallel(lambda _: open_clients(port, 1), 10)
                    for c in opened]
    return clients


def recv_text(client):
    opcode, payload = client.recv()
    assert opcode == TEXT, (opcode, payload)
    return payload.decode()


class BroadcastAcrossInstancesTest(unittest.TestCase):
    """Two instances x two workers, one Redis."""

    def test_one_broadcast_reaches_every_client_of_every_worker_once(self):
        with Redis() as redis, instance(redis) as a, instance(redis) as b:
            wait_connected(a, 2)
            wait_connected(b, 2)
            clients = open_clients_on_every_worker(a.port, 100, 2) + \
                open_clients_on_every_worker(b.port, 100, 2)
            pids = {pid for _, pid in clients}
            self.assertEqual(len(pids), 4, 'the clients should sit on all 4 workers')
            # from one worker (one client's), then a second one: if anyone got
            # "hello" twice, it would come before "end" (one publisher's
            # messages arrive in order)
            clients[0][0].send_text('hello')
            clients[0][0].send_text('end')
            for c, _ in clients:
                self.assertEqual(recv_text(c), 'hello')
                self.assertEqual(recv_text(c), 'end')
            # a client's own message, binary, from instance B to everyone
            clients[-1][0].send_text('bin \x00\xff-binary')
            for c, _ in clients:
                opcode, payload = c.recv()
                self.assertEqual((opcode, payload), (BINARY, '\x00\xff-binary'.encode()))
            for c, _ in clients:
                c.close()

    def test_topics_reach_only_their_subscribers_everywhere(self):
        with Redis() as redis, instance(redis) as a, instance(redis) as b:
            wait_connected(a, 2)
            wait_connected(b, 2)
            red = open_clients(a.port, 4, '/shared/ws?topic=red') + \
                open_clients(b.port, 4, '/shared/ws?topic=red')
            blue = open_clients(b.port, 4, '/shared/ws?topic=blue')
            red[0][0].send_text('pub blue for-blue')
            red[0][0].send_text('pub red for-red')
            for c, _ in red:
                self.assertEqual(recv_text(c), 'for-red')
            for c, _ in blue:
                self.assertEqual(recv_text(c), 'for-blue')
            r = get(b.port, '/shared/publish?topic=blue&text=again')
            self.assertEqual(r.status, 200, r.text)
            for c, _ in blue:
                self.assertEqual(recv_text(c), 'again')
            for c, _ in red + blue:
                c.close()

    def test_chat_message_from_instance_a_reaches_instance_b(self):
        with Redis() as redis, instance(redis) as a, instance(redis) as b:
            wait_connected(a, 2)
            wait_connected(b, 2)
            alice = WsClient(a.port, '/chat/ws', timeout=10 * SLOWDOWN)
            bob = WsClient(b.port, '/chat/ws', timeout=10 * SLOWDOWN)
            self.assertTrue(recv_text(alice).startswith('* you are #'))
            self.assertTrue(recv_text(bob).startswith('* you are #'))
            alice.send_text('hi bob \u00e9')
            self.assertEqual(recv_text(bob), 'hi bob \u00e9')
            self.assertEqual(recv_text(alice), 'hi bob \u00e9')  # once, not twice
            bob.send_text('hi alice')
            self.assertEqual(recv_text(alice), 'hi alice')
            alice.close()
            bob.close()


class ReloadTest(unittest.TestCase):

    def test_graceful_reload_with_broadcast_delivers_once_afterwards(self):
        with Redis() as redis, instance(redis, processes=2) as a, \
                instance(redis, processes=1) as b:
            wait_connected(a, 2)
            wait_connected(b, 1)
            old = open_clients(a.port, 20)
            with open(a.fifo, 'w') as fifo:
                fifo.write('r')  # the master's graceful reload
            for c, _ in old:
                try:
                    while True:
                        c.recv()  # what was in flight, then the close
                except Closed as closed:
                    self.assertEqual(closed.code, 1001)
            # the new workers subscribe again: 4 subscriber lines in all
            wait_connected(a, 4, timeout=20)
            new = open_clients(a.port, 20)
            remote, = open_clients(b.port, 1)
            remote[0].send_text('after-reload')
            remote[0].send_text('end')
            for c, _ in new + [remote]:
                self.assertEqual(recv_text(c), 'after-reload')
                self.assertEqual(recv_text(c), 'end')
            for c, _ in new + [remote]:
                c.close()


class RedisOutageTest(unittest.TestCase):

    def test_publish_fails_fast_local_delivery_goes_on_and_delivery_resumes(self):
        with Redis() as redis, instance(redis, processes=1) as a, \
                instance(redis, processes=1) as b:
            wait_connected(a, 1)
            wait_connected(b, 1)
            local, = open_clients(a.port, 1)
            remote, = open_clients(b.port, 1)
            redis.stop()
            wait_until(lambda: get(a.port, '/shared/status').status == 503, 5, 'status 503')
            started = time.monotonic()
            r = get(a.port, '/shared/publish?text=while-down')
            self.assertLess(time.monotonic() - started, 1.0 * SLOWDOWN)
            self.assertEqual(r.status, 503)
            self.assertIn('service unavailable', r.text)
            self.assertEqual(recv_text(local[0]), 'while-down')  # this worker's clients
            r = get(a.port, '/shared/incr?key=x')
            self.assertEqual(r.status, 503, r.text)
            # one log line for the outage, not one per attempt or message
            time.sleep(1.5)
            log = a.read_log()
            self.assertEqual(log.count('(broadcast publisher): Server closed the connection; '
                                       'retrying'), 1, log[-2000:])
            redis.start()
            wait_until(lambda: get(a.port, '/shared/status').status == 200 and
                       get(b.port, '/shared/status').status == 200, 8, 'reconnection')
            self.assertIn('(broadcast subscriber): connected again', a.read_log())
            r = get(a.port, '/shared/publish?text=back')
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(recv_text(remote[0]), 'back')
            self.assertEqual(recv_text(local[0]), 'back')
            self.assertEqual(get(a.port, '/shared/incr?key=x').status, 200)
            local[0].close()
            remote[0].close()


class SharedStateTest(unittest.TestCase):

    def test_1000_concurrent_increments_across_4_workers(self):
        with Redis() as redis, instance(redis, processes=4) as a:
            wait_connected(a, 4)
            responses, _ = concurrent_gets(a.port, ['/shared/incr?key=hits'] * 1000,
                                           timeout=30 * SLOWDOWN)
            bad = [r for r in responses if isinstance(r, Exception) or r[0].status != 200]
            self.assertFalse(bad, bad[:3])
            values = sorted(int(r.text.split()[0]) for r, _ in responses)
            self.assertEqual(values, list(range(1, 1001)))
            pids = {r.text.split('pid=')[1].strip() for r, _ in responses}
            self.assertGreater(len(pids), 1, 'only one worker served')
            self.assertEqual(redis.command('GET', 'hits'), '$-1')  # db 0: not where it went
            self.assertEqual(get(a.port, '/shared/cmd?a=GET&a=hits').text.strip(),
                             'type=1 str=1000')

    def test_timeout_refusals_and_cancellation(self):
        with Redis() as redis, instance(redis, processes=1,
                                        extra=[('aio-redis-timeout', str(int(300 * SLOWDOWN)))]) as a:
            wait_connected(a, 1)
            started = time.monotonic()
            r = get(a.port, '/shared/cmd?a=DEBUG&a=SLEEP&a=%.1f' % (1.0 * SLOWDOWN))
            self.assertEqual(r.status, 504, r.text)
            self.assertIn('timed out', r.text)
            self.assertLess(time.monotonic() - started, 0.9 * SLOWDOWN)
            # the stuck connection was dropped and comes back by itself
            wait_until(lambda: get(a.port, '/shared/cmd?a=PING').text.strip() == 'type=5 str=PONG',
                       5, 'PING after the timeout')
            for refused in ('SUBSCRIBE&a=x', 'SELECT&a=1', 'MULTI', 'BLPOP&a=k&a=0'):
                r = get(a.port, '/shared/cmd?a=' + refused)
                self.assertEqual(r.status, 400, (refused, r.text))
            r = get(a.port, '/shared/cmd?a=NOSUCHCMD')
            self.assertIn('type=6', r.text)  # Redis's error, as a reply
            # a client that leaves while its command runs
            with socket.create_connection(('127.0.0.1', a.port)) as s:
                s.sendall(b'GET /shared/cmd?a=DEBUG&a=SLEEP&a=0.2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                time.sleep(0.05)
            wait_until(lambda: 'request cancelled' in a.read_log(), 5, 'the cancellation')
            time.sleep(0.3 * SLOWDOWN)
            self.assertEqual(get(a.port, '/shared/cmd?a=PING').status, 200)


class BroadcastOptionTest(unittest.TestCase):

    def test_bad_urls_stop_start_up_with_the_reason(self):
        for url, reason in (('http://127.0.0.1:6379', 'must start with redis://'),
                            ('redis://127.0.0.1:99999', 'port'),
                            ('redis://127.0.0.1/x', 'database'),
                            ('redis://127.0.0.1?chanel=a', "only query parameter is 'channel'")):
            server = Uwsgi(extra=[('aio-broadcast', url)])
            server.start(wait=False)
            code = server.wait_exit(10)
            log = server.read_log()
            server.stop()
            self.assertNotEqual(code, 0, log)
            self.assertIn("option 'aio-broadcast'", log)
            self.assertIn(reason, log)

    def test_without_the_option_broadcast_stays_in_the_worker(self):
        with Uwsgi(modules=(SHARED,)) as server:
            (c, _), = open_clients(server.port, 1)
            r = get(server.port, '/shared/publish?text=local')
            self.assertEqual(r.text.split()[0], 'local=1')
            self.assertEqual(recv_text(c), 'local')
            self.assertEqual(get(server.port, '/shared/status').status, 503)
            self.assertEqual(get(server.port, '/shared/incr').status, 503)
            c.close()


if __name__ == '__main__':
    unittest.main()
