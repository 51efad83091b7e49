"""`processes = N` under a master: every worker constructs the application
and serves, and a graceful reload or a chain reload loses nothing in flight
and keeps answering."""
import os
import re
import shutil
import tempfile
import threading
import time
import unittest

from tests.integration.harness import (BADROUTE, PLUGIN, PROBE, SHARED, SLOWDOWN, TUTORIAL,
                                       Response, Uwsgi, concurrent_gets, free_port, get,
                                       in_parallel)
from tests.integration.redis import Redis, wait_connected
from tests.integration.wsclient import TEXT, WsClient

PID = re.compile(r'pid=(\d+) main_pid=(\d+) heartbeats=(\d+)')


def master(processes, *extra):
    return [('master', 'true'), ('processes', str(processes))] + list(extra)


def worker_pids(server, n, exclude=(), timeout=10.0):
    """{pid: /probe/pid's answer} of n distinct workers (none in `exclude`),
    from bursts of concurrent requests: the kernel wakes whichever worker
    it likes for each connection."""
    seen = {}
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        responses, _ = concurrent_gets(server.port, ['/probe/pid'] * 32, timeout=10 * SLOWDOWN)
        for r, _ in responses:
            match = PID.match(r.text) if isinstance(r, Response) else None
            if match and int(match.group(1)) not in exclude:
                seen[int(match.group(1))] = match
        if len(seen) >= n:
            return seen
        time.sleep(0.05)
    raise AssertionError('%d worker(s) answered, not %d: %s\n%s'
                         % (len(seen), n, sorted(seen), server.read_log()[-3000:]))


def wait_for(server, text, timeout=15.0, count=1):
    deadline = time.monotonic() + timeout * SLOWDOWN
    while server.read_log().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError('%r not in the uwsgi log %d time(s):\n%s'
                                 % (text, count, server.read_log()[-4000:]))
        time.sleep(0.05)


def trigger(server, command):
    with open(server.fifo, 'w') as fifo:
        fifo.write(command)


class Background(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None
        self.start()

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as e:  # reported by value()
            self.error = e

    def value(self, timeout):
        self.join(timeout * SLOWDOWN)
        if self.is_alive():
            raise AssertionError('still running after %.0f s' % timeout)
        if self.error:
            raise self.error
        return self.result


class Prober(threading.Thread):
    """GET /hello one after the other until stopped: (status, seconds) of each."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.results = port, []
        self.stopping = threading.Event()
        self.start()

    def run(self):
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                status = get(self.port, '/hello', timeout=15).status
            except OSError as e:
                status = repr(e)
            self.results.append((status, time.monotonic() - start))
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.join(20 * SLOWDOWN)
        return self.results


def open_websockets(port, n, path='/echo'):
    clients = [WsClient(port, path, timeout=20 * SLOWDOWN) for _ in range(n)]
    for i, c in enumerate(clients):
        c.send_text('before %d' % i)
    for i, c in enumerate(clients):
        assert c.recv() == (1, b'before %d' % i)
    return clients


def closed_by_server(client):
    """Waits for the server's close frame, answers it: (code, reason)."""
    try:
        code = client.expect_close()
        client.close(code[0])
        return code
    finally:
        client.shutdown()


class ManyWorkersTest(unittest.TestCase):

    def test_every_worker_constructs_the_app_and_serves(self):
        with Uwsgi(extra=master(4)) as server:
            pids = worker_pids(server, 4)
            master_pid = server.proc.pid
            self.assertNotIn(master_pid, pids)
            for pid, match in pids.items():
                self.assertEqual(int(match.group(2)), pid)  # aio_main() ran in that worker
            # and the task each aio_main() spawned runs there: every worker beats
            beating = set()
            deadline = time.monotonic() + 10 * SLOWDOWN
            while beating != set(pids):
                self.assertLess(time.monotonic(), deadline, (beating, server.read_log()[-3000:]))
                beating |= {pid for pid, m in worker_pids(server, 4).items()
                            if int(m.group(3)) > 0}
            self.assertEqual(get(server.port, '/hello').text, 'Hello World\n')

    def test_websockets_spread_over_the_workers_all_echo(self):
        # the kernel may hand one worker many of the connections before the
        # others get one: room for all of them on each (aio-websocket-cores)
        with Uwsgi(aio=400, extra=master(4, ('aio-websocket-cores', '400'))) as server:
            worker_pids(server, 4)
            clients, where = [], {}
            deadline = time.monotonic() + 10 * SLOWDOWN
            def open_one(i):
                c = WsClient(server.port, '/probe/ws/echo/%d' % i)
                c.send_text('pid')
                opcode, payload = c.recv()
                return c, int(payload.decode().partition('=')[2])
            while len(set(where.values())) < 4:  # eight at a time (in_parallel)
                self.assertLess(time.monotonic(), deadline, set(where.values()))
                for c, pid in in_parallel(lambda i: open_one(len(clients) + i), 8):
                    where[c] = pid
                    clients.append(c)
            self.assertGreaterEqual(len(clients), 4)
            for i, c in enumerate(clients):
                c.send_text('message %d' % i)
            for i, c in enumerate(clients):
                self.assertEqual(c.recv(), (1, b'message %d' % i))
                c.send_text('info')
                self.assertIn('id=%d ' % i, c.recv()[1].decode())
            for c in clients:
                c.close(1000)
                self.assertEqual(c.expect_close()[0], 1000)
                c.shutdown()


class ReloadTest(unittest.TestCase):
    """100 websockets and 100 sleeping requests spread over 4 workers while
    the master reloads them."""
    SLEEPERS = WEBSOCKETS = 100

    def server(self, *extra):
        return Uwsgi(aio=300, extra=master(4, *extra))

    def after_reload(self, server):
        """What must hold once the reload is over (beyond serving again)."""

    def start_load(self, server):
        sockets = open_websockets(server.port, self.WEBSOCKETS)
        closers = [Background(lambda c=c: closed_by_server(c)) for c in sockets]
        sleepers = Background(lambda: concurrent_gets(server.port, ['/?sleep=2'] * self.SLEEPERS,
                                                      timeout=30 * SLOWDOWN))
        time.sleep(0.5 * SLOWDOWN)  # every sleeper in its view (test_graceful_reload checks)
        return closers, sleepers

    def check_load(self, server, closers, sleepers):
        responses, _ = sleepers.value(30)
        self.assertEqual([getattr(r, 'status', r) for r, _ in responses], [200] * self.SLEEPERS)
        self.assertGreaterEqual(min(t for _, t in responses), 2.0)  # slept to the end
        codes = [c.value(30) for c in closers]
        self.assertEqual(codes, [(1001, 'server going away')] * self.WEBSOCKETS)

    def in_flight_at_stop(self, server, pids):
        """The requests (websockets included) the old workers had when told to stop."""
        found = {int(pid): int(n) for pid, n in re.findall(
            r'aio: worker \d+ \(pid (\d+)\) stopping gracefully, (\d+) request',
            server.read_log())}
        return sum(found[pid] for pid in pids)

    def check_serves_again(self, server, old_pids):
        new_pids = worker_pids(server, 4, exclude=old_pids)
        for pid, match in new_pids.items():
            self.assertEqual(int(match.group(2)), pid)
        responses, _ = concurrent_gets(server.port, ['/?sleep=0.1'] * 50)
        self.assertEqual([r.status for r, _ in responses], [200] * 50)

    def test_graceful_reload(self):
        """'r' (SIGHUP to the master): every worker stops gracefully, the
        master re-executes itself on the same listening socket and forks
        new workers. Requests made meanwhile wait in the listen backlog."""
        with self.server() as server:
            old_pids = set(worker_pids(server, 4))
            closers, sleepers = self.start_load(server)
            trigger(server, 'r')
            prober = Prober(server.port)
            time.sleep(0.3)  # the old workers have stopped accepting, their sleepers sleep on
            burst = Background(lambda: concurrent_gets(server.port, ['/hello'] * 50,
                                                       timeout=30 * SLOWDOWN))
            self.check_load(server, closers, sleepers)
            responses, _ = burst.value(30)
            self.assertEqual([getattr(r, 'status', r) for r, _ in responses], [200] * 50)
            # ... answered by the new workers: they waited in the listen backlog
            served_by = re.findall(r'\[pid: (\d+)\|[^\n]* GET /hello ', server.read_log())
            self.assertGreaterEqual(len([p for p in served_by if int(p) not in old_pids]), 50)
            # all of them were in flight when the workers were told to stop
            # (and maybe the prober's first request)
            self.assertIn(self.in_flight_at_stop(server, old_pids) - self.SLEEPERS - self.WEBSOCKETS,
                          (0, 1), server.read_log()[-4000:])
            wait_for(server, 'gracefully (RE)spawned uWSGI master process')
            self.check_serves_again(server, old_pids)
            self.after_reload(server)
            during = prober.stop()
            self.assertGreater(len(during), 3)
            self.assertEqual([s for s, _ in during], [200] * len(during))

    def test_chain_reload(self):
        """'c' with lazy-apps: one worker after the other stops gracefully
        and is respawned; the others serve meanwhile, so requests made during
        the chain are answered at once."""
        with self.server(('lazy-apps', 'true')) as server:
            old_pids = set(worker_pids(server, 4))
            closers, sleepers = self.start_load(server)
            prober = Prober(server.port)
            trigger(server, 'c')
            self.check_load(server, closers, sleepers)
            wait_for(server, 'chain reloading complete', timeout=30)
            during = prober.stop()
            self.assertEqual(server.read_log().count('chain next victim is worker'), 4)
            self.check_serves_again(server, old_pids)
            self.after_reload(server)
            self.assertGreater(len(during), 20)
            self.assertEqual([s for s, _ in during], [200] * len(during))
            self.assertLess(max(t for _, t in during), 1.0 * SLOWDOWN, sorted(during)[-5:])


class ReloadWithRedisTest(ReloadTest):
    """The same reloads with aio-broadcast on: each old worker's subscriber
    goes when its graceful stop begins, each new worker's comes, and a
    broadcast afterwards reaches every reconnected client exactly once."""
    CHANNEL = 'reload'

    def setUp(self):
        self.redis = Redis().start()
        self.addCleanup(self.redis.__exit__)

    def server(self, *extra):
        return super().server(('aio-views', SHARED),
                              ('aio-broadcast', '%s?channel=%s' % (self.redis.url, self.CHANNEL)),
                              *extra)

    def wait_subscribers(self, n):
        deadline = time.monotonic() + 20 * SLOWDOWN
        while self.redis.subscribers(self.CHANNEL) != n:
            self.assertLess(time.monotonic(), deadline, self.redis.subscribers(self.CHANNEL))
            time.sleep(0.05)

    def after_reload(self, server):
        self.wait_subscribers(4)  # the new workers' only: the old ones' are gone
        clients = in_parallel(lambda _: WsClient(server.port, '/shared/ws', timeout=20 * SLOWDOWN),
                              self.WEBSOCKETS)
        pids = set()
        for c in clients:
            opcode, ready = c.recv()
            self.assertTrue(ready.startswith(b'ready pid='), ready)
            pids.add(ready.split(b'=')[1])
        self.assertGreater(len(pids), 1)  # the broadcast has other workers to reach
        # one sender, so one order: every client gets 'after' then 'end', once each
        clients[0].send_text('after')
        clients[0].send_text('end')
        for c in clients:
            self.assertEqual(c.recv(), (TEXT, b'after'))
            self.assertEqual(c.recv(), (TEXT, b'end'))
        for c in clients:
            c.close(1000)
            self.assertEqual(c.expect_close()[0], 1000)
            c.shutdown()


class ChainReloadTest(unittest.TestCase):

    def test_the_next_worker_waits_until_the_new_one_serves(self):
        """A worker is ready once aio_main() has run and it accepts: with an
        aio_main() that takes 1.5 s, the chain must not stop the next worker
        before, or no worker at all would be serving."""
        with Uwsgi(modules=(PROBE, TUTORIAL), extra=master(
                2, ('lazy-apps', 'true'), ('aio-setting', 'probe.main-delay=1.5'))) as server:
            old_pids = set(worker_pids(server, 2, timeout=15))
            prober = Prober(server.port)
            trigger(server, 'c')
            wait_for(server, 'chain reloading complete', timeout=30)
            during = prober.stop()
            self.assertEqual([s for s, _ in during], [200] * len(during))
            self.assertLess(max(t for _, t in during), 1.0 * SLOWDOWN, sorted(during)[-5:])
            log = server.read_log()
            respawned = re.search(r'Respawned uWSGI worker 1 \(new pid: (\d+)\)', log)
            worker1_ready = log.index('probe: aio_main() done in %s' % respawned.group(1))
            self.assertGreater(log.index('chain next victim is worker 2'), worker1_ready)
            self.assertEqual(len(worker_pids(server, 2, exclude=old_pids)), 2)


class LazyModulesTest(unittest.TestCase):
    """With lazy-apps every worker opens the view modules itself: a chain
    reload runs the module files as they are then."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='aio-modules-')
        self.module = os.path.join(self.dir, 'app.so')
        self.install(PROBE)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def install(self, source):
        """As a deployment does: its templates (the asset directory: the .so
        path without .so) put in place, then a new file renamed over the old
        one."""
        assets, here = source[:-3], self.module[:-3]
        shutil.rmtree(here, ignore_errors=True)
        if os.path.isdir(assets):
            shutil.copytree(assets, here)
        shutil.copy(source, self.module + '.new')
        os.rename(self.module + '.new', self.module)

    def serves(self, server, path, n=16):
        responses, _ = concurrent_gets(server.port, [path] * n)
        return [r.status for r, _ in responses]

    def test_a_chain_reload_runs_the_new_module(self):
        with Uwsgi(modules=(self.module,), extra=master(2, ('lazy-apps', 'true'))) as server:
            worker_pids(server, 2)
            self.assertEqual(self.serves(server, '/hello'), [404] * 16)
            self.install(TUTORIAL)
            trigger(server, 'c')
            wait_for(server, 'chain reloading complete')
            self.assertEqual(self.serves(server, '/hello'), [200] * 16)
            self.assertEqual(self.serves(server, '/probe/pid'), [404] * 16)

    def test_a_broken_module_in_a_chain_reload_leaves_the_old_workers_serving(self):
        """The respawned worker fails its aio_main(): it alone stops, uWSGI
        tries it again, the chain waits for it and the other worker serves
        the old code. Once the file is fixed, the chain goes on."""
        with Uwsgi(modules=(self.module,), extra=master(2, ('lazy-apps', 'true'))) as server:
            old_pids = set(worker_pids(server, 2))
            self.install(BADROUTE)
            trigger(server, 'c')
            wait_for(server, "aio: worker 1: configuration error: view module '%s': route "
                     "'orphan' has no view" % self.module, count=2)
            wait_for(server, 'OOPS ! failed loading app in worker 1')
            self.assertEqual(self.serves(server, '/probe/pid'), [200] * 16)
            log = server.read_log()
            self.assertNotIn('chain next victim is worker 2', log)
            self.assertNotIn('aio: configuration error', log)  # not the instance's end
            self.assertIsNone(server.proc.poll())
            self.install(PROBE)
            wait_for(server, 'chain reloading complete', timeout=20)
            self.assertEqual(len(worker_pids(server, 2, exclude=old_pids)), 2)

    def test_a_missing_module_stops_the_start_up_once(self):
        os.unlink(self.module)
        port = free_port()
        server = Uwsgi(options=[
            ('plugin', PLUGIN), ('http-socket', '127.0.0.1:%d' % port), ('aio', '10'),
            ('aio-views', self.module)] + master(3, ('lazy-apps', 'true')))
        server.start(wait=False)
        try:
            code = server.wait_exit(15)
            log = server.read_log()
            self.assertEqual(code, 22, log[-3000:])  # uWSGI's "failed to load the app"
            lines = [l for l in log.splitlines() if 'configuration error' in l]
            self.assertEqual(len(lines), 1, log[-3000:])
            self.assertIn("'%s'" % self.module, lines[0])
            self.assertNotIn('Respawned uWSGI worker', log)
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()
            server.log.close()
            shutil.rmtree(server.dir, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
