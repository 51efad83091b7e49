#!/usr/bin/env python3
"""uwsgi-aio benchmarks: `make bench` or `python3 uwsgiconfig.py bench`.

Every figure is measured side by side with its baseline in the same run and
printed as a ratio, because these machines are shared and noisy. Servers run
one at a time (never two loads at once), on loopback, and every load is
bounded in requests and time.

  hello    /hello requests/s through uwsgi-aio vs a bare uWSGI C request
           plugin (bench/bare) on the same uWSGI, http-socket, one process
           each, load from wrk.                           target: >= 0.9x
  sleep    10,000 concurrent /?sleep=5 on one worker: all must succeed,
           wall < 7 s, worker peak RSS < 256 MiB.
  executor /hello latency while the executor is saturated with blocking
           views, vs the same with an idle executor: p99 < 10 ms. Then the
           throughput of 1 ms blocking views against the executor's size.
  websocket
           echo messages/s over 1,000 concurrent connections on one worker
           through uwsgi-aio vs an echo on uWSGI's native websocket API in
           async mode with ugreen (bench/wsbare); load from bench/wsecho.c:
           ratio >= 0.9, worker RSS < 128 MiB.
  fanout   one broadcast to 1,000 websockets: all on one worker (local
           delivery) vs 250 on each of 4 single-worker uWSGI instances
           sharing one redis-server (aio-broadcast); load from
           bench/wsfanout.c, one sender: delivered messages/s with 8
           broadcasts in flight, publish-to-receive p99 with one at a time;
           the Redis path's figures stated against the local path's.
           Every delivery is checked (once each, in order): target: none
           lost or repeated. On 2 cores the 4 workers, Redis and the load
           share the same cores, so the Redis figures are a floor.
  keepalive
           /hello over kept-alive connections (wrk -t1 -c50), the servers
           pinned to one core and wrk to the other: uwsgi-aio on
           http11-socket vs nginx (one worker, `return 200`, no access
           log) and vs the bare C plugin behind uWSGI's own HTTP router with
           --http-keepalive; then pipelined 16 deep (bench/pipeline.lua)
           vs nginx.                            target: >= 0.8x nginx
  techempower
           TechEmpower's tests on views/bench (one worker, aio = 1000,
           http11-socket) with a PostgreSQL of its own loaded from
           views/bench/schema.sql: /db and /queries?queries=20 (--queries)
           from wrk vs bench/pgclient.c, the same queries at the same
           concurrency straight to the same database (one thread on libpq's
           async API, one request in flight per connection, pipelined for
           /queries): the database's limit.       target: >= 0.8x each
           Then /json and /plaintext vs nginx returning the same bodies,
           the servers on CPU 0 and wrk on CPU 1 (no fixed target). The
           load, the server and PostgreSQL share this machine's cores, so
           the ratios are this machine's.
  outbound /relay?sleep=0 through a tutorial instance whose outbound HTTP
           client fetches /?sleep=0 from a second one (tutorial.upstream),
           vs wrk on that upstream's /?sleep=0 directly, same connections,
           both on http11-socket. No fixed target: a relayed request is two
           requests, on the same cores as the load.
  soak     1,000,000 mixed requests on one worker, in ten rounds of 90,000
           HTTP requests (/, /hello, /whoami in turn, from wrk) and 10,000
           websocket sessions (connect, echo, close: bench/wschurn.c). The
           worker's RSS after the first round is the warm-up figure; its
           growth over the nine others, per 100,000 requests: target < 1 MiB.
"""
import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, 'build')
BENCH_BUILD = os.path.join(BUILD, 'bench')


def log(message):
    print(message, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def build_baseline_plugin(name):
    """A baseline plugin (bench/<name>), built by uWSGI's plugin builder like
    ours."""
    target = os.path.join(BENCH_BUILD, '%s_plugin.so' % name)
    source = os.path.join(ROOT, 'bench', name, '%s.c' % name)
    if os.path.exists(target) and os.path.getmtime(target) >= os.path.getmtime(source):
        return target
    work = os.path.join(BENCH_BUILD, '%s-build' % name)
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, PYTHON=sys.executable, CC=os.environ.get('CC', 'gcc'))
    subprocess.run(['uwsgi', '--build-plugin', os.path.join(ROOT, 'bench', name)], cwd=work,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    os.replace(os.path.join(work, '%s_plugin.so' % name), target)
    return target


def build_tool(name, extra_sources=(), packages=()):
    """A load generator of bench/ (C, with the plugin's codec if needed, and
    the pkg-config `packages` it links with)."""
    target = os.path.join(BENCH_BUILD, name)
    sources = [os.path.join(ROOT, 'bench', name + '.c')] + [os.path.join(ROOT, s)
                                                            for s in extra_sources]
    inputs = sources + glob.glob(os.path.join(ROOT, 'bench', '*.h'))
    if not os.path.exists(target) or os.path.getmtime(target) < max(map(os.path.getmtime,
                                                                         inputs)):
        flags = subprocess.run(['pkg-config', '--cflags', '--libs'] + list(packages),
                               capture_output=True, text=True,
                               check=True).stdout.split() if packages else []
        subprocess.run([os.environ.get('CC', 'gcc'), '-O2', '-Wall', '-Wextra', '-Werror',
                        '-I' + os.path.join(ROOT, 'plugin'),
                        '-I' + os.path.join(ROOT, 'plugin', 'include'), '-o', target] + sources +
                       flags, check=True)
    return target


def wait_listening(proc, port, log_name):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('server failed to start, see %s' % log_name)
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    time.sleep(0.3)


def stop_process(proc, sig=signal.SIGINT):
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    """One uWSGI instance (one process, no master) on `listen`, optionally
    pinned to one CPU."""

    def __init__(self, options, listen='http-socket', cpu=None, master=False):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aio-bench-')
        ini = os.path.join(self.dir, 'bench.ini')
        with open(ini, 'w') as f:
            f.write('[uwsgi]\n')
            for key, value in options + [(listen, '127.0.0.1:%d' % self.port),
                                         ('master', 'true' if master else 'false'),
                                         ('processes', '1'),
                                         ('disable-logging', 'true'), ('listen', '4096')]:
                f.write('%s = %s\n' % (key, value))
        self.log = open(os.path.join(self.dir, 'uwsgi.log'), 'wb')
        pin = ['taskset', '-c', str(cpu)] if cpu is not None else []
        self.proc = subprocess.Popen(pin + ['uwsgi', '--ini', ini], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        wait_listening(self.proc, self.port, self.log.name)

    def rss_kib(self, field='VmRSS'):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
        return 0

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Nginx:
    """Debian's nginx, one worker, answering every request with
    `return 200 "Hello World\\n"` (no access log), pinned to one CPU; or,
    given `locations` [(path, content type, body)], each path with its body."""

    def __init__(self, cpu, locations=None):
        if not shutil.which('nginx'):
            raise SystemExit('nginx is not installed (apt-get install nginx-light)')
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aio-bench-nginx-')
        conf = os.path.join(self.dir, 'nginx.conf')
        routes = ''.join("    location = %s { default_type %s; return 200 '%s'; }\n"
                         % (path, kind, body.replace('\\', '\\\\').replace("'", "\\'"))
                         for path, kind, body in locations or ())
        with open(conf, 'w') as f:
            f.write('worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\n'
                    'error_log %s/error.log;\nevents { worker_connections 4096; }\n'
                    'http {\n  access_log off;\n  client_body_temp_path %s;\n'
                    '  server {\n    listen 127.0.0.1:%d;\n%s  }\n}\n'
                    % (self.dir, self.dir, self.dir, self.port,
                       routes or '    location / { return 200 "Hello World\\n"; }\n'))
        self.log = open(os.path.join(self.dir, 'stderr.log'), 'wb')
        self.proc = subprocess.Popen(['taskset', '-c', str(cpu), 'nginx', '-c', conf, '-p',
                                      self.dir], stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.port, self.log.name)

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(port, path, seconds, connections, cpu=None, script=None):
    pin = ['taskset', '-c', str(cpu)] if cpu is not None else []
    extra = ['-s', script] if script else []
    out = subprocess.run(pin + ['wrk', '-t1', '-c%d' % connections, '-d%ds' % seconds] + extra +
                         ['http://127.0.0.1:%d%s' % (port, path)],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = errors = 0.0
    for line in out.splitlines():
        if line.startswith('Requests/sec:'):
            rps = float(line.split()[1])
        if 'Non-2xx' in line or 'Socket errors' in line:
            errors = 1
    if errors:
        log('    wrk reported errors:\n' + out)
    return rps


def bench_hello(args):
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    bare = build_baseline_plugin('bare')
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    tutorial = os.path.join(BUILD, 'views', 'tutorial.so')
    configs = {
        'bare C plugin': [('plugin', bare)],
        'uwsgi-aio': [('plugin', plugin), ('aio', '100'), ('aio-views', tutorial)],
    }
    results = {name: [] for name in configs}
    log('hello: wrk -t1 -c%d -d%ds /hello, %d alternating rounds'
        % (args.connections, args.seconds, args.rounds))
    for round_no in range(args.rounds):
        for name, options in configs.items():
            server = Server(options)
            try:
                wrk(server.port, '/hello', 1, args.connections)  # warm-up
                rps = wrk(server.port, '/hello', args.seconds, args.connections)
            finally:
                server.stop()
            results[name].append(rps)
            log('  round %d  %-14s %9.0f req/s' % (round_no + 1, name, rps))
    base = statistics.median(results['bare C plugin'])
    ours = statistics.median(results['uwsgi-aio'])
    ratio = ours / base if base else 0
    log('hello: median %.0f req/s (uwsgi-aio) vs %.0f req/s (bare C plugin): ratio %.2fx '
        '(target >= 0.90) %s' % (ours, base, ratio, 'PASS' if ratio >= 0.9 else 'FAIL'))
    return ratio >= 0.9


def bench_keepalive(args):
    """Kept-alive /hello and pipelined /hello against nginx and uWSGI's own
    HTTP router, one server at a time on CPU 0, wrk on CPU 1."""
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    bare = build_baseline_plugin('bare')
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    tutorial = os.path.join(BUILD, 'views', 'tutorial.so')
    pipeline = os.path.join(ROOT, 'bench', 'pipeline.lua')
    contenders = {
        'uwsgi-aio': lambda: Server([('plugin', plugin), ('aio', '100'),
                                     ('aio-views', tutorial)], listen='http11-socket', cpu=0),
        'nginx': lambda: Nginx(cpu=0),
        # the router process and the worker share CPU 0
        'bare+router': lambda: Server([('plugins', 'corerouter,http'), ('plugin', bare),
                                       ('http-keepalive', '1'),
                                       ('socket', '127.0.0.1:%d' % free_port())],
                                      listen='http', cpu=0, master=True),
    }
    runs = [('keep-alive', None, contenders), ('pipelined x16', pipeline,
                                               {k: contenders[k] for k in ('uwsgi-aio', 'nginx')})]
    connections = 50
    log('keepalive: wrk -t1 -c%d -d%ds /hello, servers on CPU 0, wrk on CPU 1, %d rounds'
        % (connections, args.seconds, args.rounds))
    verdict = True
    for label, script, servers in runs:
        results = {name: [] for name in servers}
        for round_no in range(args.rounds):
            for name, start in servers.items():
                server = start()
                try:
                    wrk(server.port, '/hello', 1, connections, cpu=1, script=script)
                    rps = wrk(server.port, '/hello', args.seconds, connections, cpu=1,
                              script=script)
                finally:
                    server.stop()
                results[name].append(rps)
                log('  %s round %d  %-12s %9.0f req/s' % (label, round_no + 1, name, rps))
        medians = {name: statistics.median(v) for name, v in results.items()}
        ours = medians['uwsgi-aio']
        for name in servers:
            if name == 'uwsgi-aio':
                continue
            ratio = ours / medians[name] if medians[name] else 0
            line = 'keepalive %s: uwsgi-aio %.0f req/s vs %s %.0f req/s: %.2fx' % (
                label, ours, name, medians[name], ratio)
            if name == 'nginx':
                passed = ratio >= 0.8
                verdict = verdict and passed
                line += ' (target >= 0.80) %s' % ('PASS' if passed else 'FAIL')
            log(line)
    return verdict


def bench_sleep(args):
    n, sleep = args.concurrency, args.sleep
    sleepers = build_tool('sleepers')
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    tutorial = os.path.join(BUILD, 'views', 'tutorial.so')
    server = Server([('plugin', plugin), ('aio', str(n)), ('aio-views', tutorial),
                     ('socket-timeout', '30')])
    try:
        idle_rss = server.rss_kib()
        log('sleep: %d concurrent GET /?sleep=%g on one worker (aio = %d), load from '
            'bench/sleepers' % (n, sleep, n))
        load = subprocess.Popen([sleepers, str(server.port), '/?sleep=%g' % sleep, str(n),
                                 str(sleep + 30)], stdout=subprocess.PIPE, text=True)
        peak = 0
        while load.poll() is None:
            peak = max(peak, server.rss_kib())
            time.sleep(0.25)
        peak = max(peak, server.rss_kib('VmHWM'))
        result = dict(kv.split('=') for kv in load.stdout.read().split())
    finally:
        server.stop()
    ok, wall = int(result['ok']), float(result['wall'])
    log('  %d/%d succeeded in %.2f s (all connected after %s s, half done after %s s); '
        'worker RSS idle %.1f MiB, peak %.1f MiB'
        % (ok, n, wall, result['connect_max'], result['done_p50'], idle_rss / 1024, peak / 1024))
    passed = ok == n and wall < sleep + 2 and peak < 256 * 1024
    log('sleep: all succeed %s, wall %.2f s / %.0f s budget (%.2fx the %g s sleep), '
        'peak RSS %.0f MiB / 256 MiB: %s'
        % ('yes' if ok == n else 'NO', wall, sleep + 2, wall / sleep, sleep, peak / 1024,
           'PASS' if passed else 'FAIL'))
    return passed


def hello_latencies(port, count, pause):
    """Sequential GET /hello; seconds per request (connect to last byte)."""
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
            s.sendall(b'GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n')
            while s.recv(65536):
                pass
        latencies.append(time.perf_counter() - start)
        time.sleep(pause)
    return latencies


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def bench_executor(args):
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    tutorial = os.path.join(BUILD, 'views', 'tutorial.so')
    threads = 16
    server = Server([('plugin', plugin), ('aio', '1000'), ('aio-views', tutorial),
                     ('aio-executor-threads', str(threads)), ('aio-executor-queue', '4096')])
    try:
        idle = hello_latencies(server.port, 300, 0.005)
        # 64 clients keep 16 threads busy with 100 ms jobs (48 always queued)
        load = subprocess.Popen(['wrk', '-t1', '-c64', '-d%ds' % (args.seconds + 4),
                                 'http://127.0.0.1:%d/blocking?ms=100' % server.port],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        busy = hello_latencies(server.port, 300, 0.005)
        out = load.communicate(timeout=args.seconds + 60)[0]
        blocking_rps = next((float(l.split()[1]) for l in out.splitlines()
                             if l.startswith('Requests/sec:')), 0.0)
    finally:
        server.stop()
    p99_idle, p99_busy = percentile(idle, 0.99), percentile(busy, 0.99)
    log('executor: /hello latency, %d requests each: idle executor p50 %.2f ms p99 %.2f ms; '
        'saturated (%d threads, %.0f blocking req/s) p50 %.2f ms p99 %.2f ms (%.2fx)'
        % (len(idle), percentile(idle, 0.5) * 1e3, p99_idle * 1e3, threads, blocking_rps,
           percentile(busy, 0.5) * 1e3, p99_busy * 1e3, p99_busy / p99_idle))
    passed = p99_busy < 0.010
    log('executor: p99 while saturated %.2f ms / 10 ms: %s' % (p99_busy * 1e3,
                                                                  'PASS' if passed else 'FAIL'))
    log('executor: throughput of /blocking?ms=1 (wrk -t1 -c64 -d%ds) by pool size' % args.seconds)
    for size in (1, 4, 16, 64):
        server = Server([('plugin', plugin), ('aio', '1000'), ('aio-views', tutorial),
                         ('aio-executor-threads', str(size)), ('aio-executor-queue', '4096')])
        try:
            rps = wrk(server.port, '/blocking?ms=1', args.seconds, 64)
        finally:
            server.stop()
        ideal = size * 1000.0
        log('  %3d thread(s): %7.0f req/s (%.2fx of %d threads x 1000 jobs/s)'
            % (size, rps, rps / ideal, size))
    return passed


def bench_websocket(args):
    n = 1000
    wsecho = build_tool('wsecho', ['plugin/proto/wsframe.c', 'plugin/base/utf8.c',
                                   'plugin/base/buf.c'])
    wsbare = build_baseline_plugin('wsbare')
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    tutorial = os.path.join(BUILD, 'views', 'tutorial.so')
    configs = {
        'native (ugreen)': [('plugin', 'ugreen'), ('plugin', wsbare), ('async', str(n + 100)),
                            ('ugreen', 'true')],
        'uwsgi-aio': [('plugin', plugin), ('aio', str(n + 100)), ('aio-views', tutorial),
                      ('aio-websocket-cores', str(n))],
    }
    results = {name: [] for name in configs}
    peak = 0
    log('websocket: %d connections echoing 64-byte text messages, %d s per round, '
        '%d alternating rounds' % (n, args.seconds, args.rounds))
    for round_no in range(args.rounds):
        for name, options in configs.items():
            server = Server(options + [('socket-timeout', '30')])
            try:
                out = subprocess.run([wsecho, str(server.port), '/echo', str(n),
                                      str(args.seconds)], capture_output=True, text=True,
                                     timeout=args.seconds + 60).stdout
                if name == 'uwsgi-aio':
                    peak = max(peak, server.rss_kib('VmHWM'))
            finally:
                server.stop()
            fields = dict(kv.split('=') for kv in out.split())
            rate = float(fields.get('msgs_per_s', 0))
            if fields.get('connected') != str(n) or fields.get('wrong') != '0':
                log('    incomplete run: %s' % out.strip())
                rate = 0.0
            results[name].append(rate)
            log('  round %d  %-16s %9.0f msgs/s' % (round_no + 1, name, rate))
    base = statistics.median(results['native (ugreen)'])
    ours = statistics.median(results['uwsgi-aio'])
    ratio = ours / base if base else 0
    passed = ratio >= 0.9 and peak < 128 * 1024
    log('websocket: median %.0f msgs/s (uwsgi-aio) vs %.0f msgs/s (native API, async+ugreen): '
        'ratio %.2fx (target >= 0.90); uwsgi-aio worker peak RSS %.1f MiB / 128 MiB: %s'
        % (ours, base, ratio, peak / 1024, 'PASS' if passed else 'FAIL'))
    return passed


class RedisServer:
    """A redis-server of the benchmark's own: loopback, no persistence,
    stopped by its pid."""

    def __init__(self):
        if not shutil.which('redis-server'):
            raise SystemExit('redis-server is not installed (apt-get install redis-server)')
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aio-bench-redis-')
        self.proc = subprocess.Popen(['redis-server', '--port', str(self.port), '--bind',
                                      '127.0.0.1', '--save', '', '--appendonly', 'no',
                                      '--dir', self.dir], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1) as s:
                    s.sendall(b'PING\r\n')
                    if s.recv(16).startswith(b'+PONG'):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise SystemExit('redis-server did not start')
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def broadcast_connected(port):
    """GET /shared/status answers 200 once the worker's Redis connections are up."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
            s.sendall(b'GET /shared/status HTTP/1.0\r\n\r\n')
            return s.recv(64).split(b' ')[1:2] == [b'200']
    except OSError:
        return False


def run_fanout(tool, ports, per_port, messages, window):
    out = subprocess.run([tool, '/shared/ws', str(per_port), str(messages), str(window)] +
                         [str(p) for p in ports], capture_output=True, text=True,
                         timeout=120).stdout
    fields = dict(kv.split('=') for kv in out.split())
    complete = (fields.get('delivered') == fields.get('expected') and
                fields.get('wrong') == '0')
    if not complete:
        log('    incomplete run: %s' % out.strip())
    return complete, float(fields.get('msgs_per_s', 0)), float(fields.get('p99_ms', 0))


def fanout_round(tool, ports, per_port):
    """Throughput with 8 broadcasts in flight, then latency with one at a time
    (so that it is the path's, not the queue's): (complete, msgs/s, p99 ms)."""
    ok_rate, rate, _ = run_fanout(tool, ports, per_port, 200, 8)
    ok_latency, _, p99 = run_fanout(tool, ports, per_port, 100, 1)
    return ok_rate and ok_latency, rate, p99


def bench_fanout(args):
    total, workers = 1000, 4
    tool = build_tool('wsfanout', ['plugin/proto/wsframe.c', 'plugin/base/utf8.c',
                                   'plugin/base/buf.c'])
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    shared = os.path.join(BUILD, 'test-views', 'shared.so')
    base = [('plugin', plugin), ('aio-views', shared), ('socket-timeout', '30')]
    log('fanout: broadcasts from one client to %d websockets (200 with 8 in flight for '
        'msgs/s, 100 one at a time for p99), %d alternating rounds' % (total, args.rounds))
    results = {'local': [], 'redis': []}
    redis = RedisServer()
    try:
        for round_no in range(args.rounds):
            server = Server(base + [('aio', str(total + 100)), ('aio-websocket-cores', str(total))])
            try:
                results['local'].append(fanout_round(tool, [server.port], total))
            finally:
                server.stop()
            url = 'redis://127.0.0.1:%d?channel=bench%d' % (redis.port, round_no)
            servers = []
            try:
                for _ in range(workers):
                    servers.append(Server(base + [('aio', str(total // workers + 100)),
                                                  ('aio-websocket-cores', str(total // workers)),
                                                  ('aio-broadcast', url)]))
                deadline = time.monotonic() + 10
                while not all(broadcast_connected(s.port) for s in servers):
                    if time.monotonic() > deadline:
                        raise SystemExit('fanout: the workers did not connect to Redis')
                    time.sleep(0.05)
                results['redis'].append(fanout_round(tool, [s.port for s in servers],
                                                     total // workers))
            finally:
                for s in servers:
                    s.stop()
            for name in ('local', 'redis'):
                _, rate, p99 = results[name][-1]
                log('  round %d  %-6s %8.0f msgs/s  p99 %6.2f ms' % (round_no + 1, name, rate, p99))
    finally:
        redis.stop()
    complete = all(r[0] for rounds in results.values() for r in rounds)
    local = [statistics.median(r[i] for r in results['local']) for i in (1, 2)]
    remote = [statistics.median(r[i] for r in results['redis']) for i in (1, 2)]
    log('fanout: median %.0f msgs/s, p99 %.2f ms (1,000 on one worker) vs %.0f msgs/s, '
        'p99 %.2f ms (4 x 250 through Redis): throughput %.2fx, p99 %.2fx the local '
        'path\'s; every delivery once and in order: %s'
        % (local[0], local[1], remote[0], remote[1], remote[0] / local[0] if local[0] else 0,
           remote[1] / local[1] if local[1] else 0, 'PASS' if complete else 'FAIL'))
    return complete


# The bodies of TechEmpower's /json and /plaintext, as nginx returns them.
TECHEMPOWER_BODIES = [('/json', 'application/json', '{"message":"Hello, World!"}'),
                      ('/plaintext', 'text/plain', 'Hello, World!')]


def http_get(port, path):
    """One GET on a connection of its own: (status, media type, body bytes),
    or (0, '', why) when nothing valid came."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request('GET', path)
        r = conn.getresponse()
        kind = r.getheader('Content-Type', '').split(';')[0].strip()
        return r.status, kind, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, '', str(e).encode()
    finally:
        conn.close()


def world_rows(body, count):
    """Whether a TechEmpower answer is `count` World rows: one object for
    /db (count None), a list for /queries."""
    try:
        rows = json.loads(body)
    except ValueError:
        return False
    if count is None:
        rows = [rows]
    elif not isinstance(rows, list) or len(rows) != count:
        return False
    return all(isinstance(r, dict) and isinstance(r.get('id'), int) and 1 <= r['id'] <= 10000
               and isinstance(r.get('randomNumber'), int) for r in rows)


def techempower_database():
    """A throwaway PostgreSQL (the tests' own), with views/bench/schema.sql
    loaded as psql loads it."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from tests.integration.postgres import Postgres
    pg = Postgres().start()
    try:
        load = subprocess.run([os.path.join(pg.bin, 'psql'), '-h', '127.0.0.1', '-p',
                               str(pg.port), '-U', 'postgres', '-d', 'postgres', '-v',
                               'ON_ERROR_STOP=1', '-q', '-f',
                               os.path.join(ROOT, 'views', 'bench', 'schema.sql')],
                              capture_output=True, text=True)
        if load.returncode:
            raise SystemExit('techempower: psql -f views/bench/schema.sql failed:\n' + load.stderr)
        # pgclient asks for ids 1..10000, as the view does
        rows = pg.sql('SELECT count(*), min(id), max(id) FROM World').split('|')
        if [int(x) for x in rows] != [10000, 1, 10000]:
            raise SystemExit('techempower: World should have ids 1..10000, not %s'
                             % '|'.join(rows).strip())
    except BaseException:
        pg.stop()
        raise
    return pg


def pgclient(tool, conninfo, mode, connections, seconds, queries=None):
    """Requests/s of bench/pgclient, or 0 (and why) when a query failed."""
    out = subprocess.run([tool, conninfo, mode, str(connections), str(seconds)] +
                         ([str(queries)] if queries else []), capture_output=True, text=True,
                         timeout=seconds + 60)
    if out.returncode:
        log('    pgclient %s failed: %s' % (mode, (out.stderr or out.stdout).strip()))
        return 0.0
    return float(dict(kv.split('=') for kv in out.stdout.split())['rate'])


def techempower_answers(port, queries):
    """The view's /db and /queries answer World rows (else the ratios would
    be those of its errors)."""
    for path, count in (('/db', None), ('/queries?queries=%d' % queries, queries)):
        status, _, body = http_get(port, path)
        if status != 200 or not world_rows(body, count):
            log('techempower: GET %s answered %d %r, not %s World row(s): FAIL'
                % (path, status, body[:300], count or 1))
            return False
    return True


def techempower_queries(args, tool, conninfo, options):
    """/db and /queries through uwsgi-aio against pgclient's same queries
    straight to the database, alternating, the database shared."""
    n, q = args.connections, args.queries
    paths = {'db': '/db', 'queries': '/queries?queries=%d' % q}
    ours = {name: [] for name in paths}
    limit = {'db': [], 'queries': [], 'queries-sequential': []}
    pgclient(tool, conninfo, 'db', n, 1)  # warm-up: World into the shared buffers
    for round_no in range(args.rounds):
        server = Server(options, listen='http11-socket')
        try:
            if round_no == 0 and not techempower_answers(server.port, q):
                return False
            for name, path in paths.items():
                wrk(server.port, path, 1, n)  # warm-up: fills the worker's pool too
                ours[name].append(wrk(server.port, path, args.seconds, n))
        finally:
            server.stop()
        for mode in limit:
            limit[mode].append(pgclient(tool, conninfo, mode, n, args.seconds,
                                        None if mode == 'db' else q))
        log('  round %d  /db %7.0f vs %7.0f req/s   %s %6.0f vs %6.0f req/s (%6.0f without '
            'pipelining)' % (round_no + 1, ours['db'][-1], limit['db'][-1], paths['queries'],
                             ours['queries'][-1], limit['queries'][-1],
                             limit['queries-sequential'][-1]))
    verdict = True
    for name, peer in (('db', 'db'), ('queries', 'queries, pipelined')):
        a, b = statistics.median(ours[name]), statistics.median(limit[name])
        ratio = a / b if b else 0
        verdict = verdict and ratio >= 0.8
        log('techempower %s: median %.0f req/s (uwsgi-aio) vs %.0f req/s (pgclient %s, the '
            'database\'s limit): %.2fx (target >= 0.80) %s'
            % (paths[name], a, b, peer, ratio, 'PASS' if ratio >= 0.8 else 'FAIL'))
    sequential, pipelined = (statistics.median(limit[m]) for m in ('queries-sequential',
                                                                   'queries'))
    log('techempower %s: pgclient without pipelining %.0f req/s (%.2fx the pipelined)'
        % (paths['queries'], sequential, sequential / pipelined if pipelined else 0))
    return verdict


def same_bodies(port, name):
    """Whether `port` answers TechEmpower's /json and /plaintext; a body or
    type other than nginx's is said, not failed."""
    for path, kind, body in TECHEMPOWER_BODIES:
        status, got_kind, got = http_get(port, path)
        if status != 200:
            log('techempower: %s answered GET %s with %d %r: FAIL'
                % (name, path, status, got[:200]))
            return False
        if got_kind != kind or got != body.encode():
            log('    note: %s answers %s with %s %r, nginx with %s %r'
                % (name, path, got_kind, got[:200], kind, body))
    return True


def techempower_static(args, options):
    """/json and /plaintext through uwsgi-aio against nginx returning the
    same bodies, one server at a time on CPU 0, wrk on CPU 1."""
    n = args.connections
    contenders = {'uwsgi-aio': lambda: Server(options, listen='http11-socket', cpu=0),
                  'nginx': lambda: Nginx(cpu=0, locations=TECHEMPOWER_BODIES)}
    results = {(name, path): [] for name in contenders for path, _, _ in TECHEMPOWER_BODIES}
    for round_no in range(args.rounds):
        for name, start in contenders.items():
            server = start()
            try:
                if round_no == 0 and not same_bodies(server.port, name):
                    return False
                for path, _, _ in TECHEMPOWER_BODIES:
                    wrk(server.port, path, 1, n, cpu=1)
                    results[name, path].append(wrk(server.port, path, args.seconds, n, cpu=1))
            finally:
                server.stop()
        log('  round %d  ' % (round_no + 1) + '   '.join(
            '%s %7.0f vs %7.0f req/s' % (path, results['uwsgi-aio', path][-1],
                                         results['nginx', path][-1])
            for path, _, _ in TECHEMPOWER_BODIES))
    for path, _, _ in TECHEMPOWER_BODIES:
        a, b = (statistics.median(results[name, path]) for name in contenders)
        log('techempower %s: median %.0f req/s (uwsgi-aio) vs %.0f req/s (nginx): %.2fx '
            '(no fixed target)' % (path, a, b, a / b if b else 0))
    return True


def bench_techempower(args):
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    module = os.path.join(BUILD, 'views', 'bench.so')
    missing = [p for p in (module, os.path.join(ROOT, 'views', 'bench', 'schema.sql'))
               if not os.path.exists(p)]
    if missing:
        log('techempower: %s missing (views/bench is built with the plugin): FAIL'
            % ', '.join(os.path.relpath(p, ROOT) for p in missing))
        return False
    tool = build_tool('pgclient', packages=['libpq'])
    log('techempower: views/bench on one worker (aio = 1000, http11-socket), wrk -t1 -c%d '
        '-d%ds, %d alternating rounds; on this machine\'s %d cores the load generator, the '
        'server and PostgreSQL share the cores, so the ratios are this machine\'s'
        % (args.connections, args.seconds, args.rounds, os.cpu_count()))
    pg = techempower_database()
    try:
        # as many database sessions from the worker as pgclient opens
        options = [('plugin', os.path.join(BUILD, 'aio_plugin.so')), ('aio', '1000'),
                   ('aio-views', module), ('aio-setting', 'bench.conninfo=' + pg.conninfo),
                   ('aio-setting', 'bench.pool_size=%d' % args.connections)]
        log('techempower: /db and /queries?queries=%d vs bench/pgclient, the same queries at '
            'the same concurrency straight to the same PostgreSQL' % args.queries)
        queries = techempower_queries(args, tool, pg.conninfo, options)
        log('techempower: /json and /plaintext vs nginx returning the same bodies, servers on '
            'CPU 0, wrk on CPU 1')
        static = techempower_static(args, options)
    finally:
        pg.stop()
    return queries and static


def bench_outbound(args):
    """/relay?sleep=0 (the page fetched from an upstream instance through
    the outbound HTTP client) against the upstream's page asked directly."""
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    n = args.connections
    base = [('plugin', os.path.join(BUILD, 'aio_plugin.so')), ('aio', '1000'),
            ('aio-views', os.path.join(BUILD, 'views', 'tutorial.so'))]
    log('outbound: wrk -t1 -c%d -d%ds, /relay?sleep=0 through one instance vs /?sleep=0 '
        'on its upstream directly, %d alternating rounds' % (n, args.seconds, args.rounds))
    # http11-socket: the outbound client keeps its connections alive, as wrk does
    upstream = Server(base, listen='http11-socket')
    direct, relayed = [], []
    try:
        for round_no in range(args.rounds):
            wrk(upstream.port, '/?sleep=0', 1, n)
            direct.append(wrk(upstream.port, '/?sleep=0', args.seconds, n))
            relay = Server(base + [('aio-setting', 'tutorial.upstream=http://127.0.0.1:%d'
                                    % upstream.port)], listen='http11-socket')
            try:
                if round_no == 0 and not relay_answers(relay.port, upstream.port):
                    return False
                wrk(relay.port, '/relay?sleep=0', 1, n)
                relayed.append(wrk(relay.port, '/relay?sleep=0', args.seconds, n))
            finally:
                relay.stop()
            log('  round %d  relayed %8.0f req/s   direct %8.0f req/s'
                % (round_no + 1, relayed[-1], direct[-1]))
    finally:
        upstream.stop()
    ours, base_rps = statistics.median(relayed), statistics.median(direct)
    log('outbound: median %.0f req/s through /relay vs %.0f req/s straight to the upstream: '
        '%.3fx (no fixed target: each relayed request is two, served by two workers on the '
        'same cores as wrk)' % (ours, base_rps, ours / base_rps if base_rps else 0))
    return True


def relay_answers(port, upstream_port):
    """/relay?sleep=0 answers `200 <length of the upstream's page>`."""
    _, _, page = http_get(upstream_port, '/?sleep=0')
    status, _, body = http_get(port, '/relay?sleep=0')
    expected = b'200 %d\n' % len(page)
    if status != 200 or body != expected:
        log('outbound: GET /relay?sleep=0 answered %d %r, not %r: FAIL'
            % (status, body[:200], expected))
        return False
    return True


SOAK_SCRIPT = '''
local paths = {"/?sleep=0", "/hello", "/whoami"}
local sent, done = 0, 0
local limit = tonumber(os.getenv("SOAK_REQUESTS"))
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[sent % 3 + 1])
end
response = function(status)
  done = done + 1
  if done >= limit then wrk.thread:stop() end
end
'''


def wrk_count(port, requests, script):
    """wrk until `requests` responses: how many it made. wrk runs for its
    whole -d even once the script stopped its thread, so it runs 3 s at a
    time, the script capping each run at what is still missing."""
    made, runs = 0, 0
    while made < requests and runs < 100:
        env = dict(os.environ, SOAK_REQUESTS=str(requests - made))
        out = subprocess.run(['wrk', '-t1', '-c16', '-d3s', '-s', script,
                              'http://127.0.0.1:%d/' % port], capture_output=True, text=True,
                             timeout=60, env=env).stdout
        made += next((int(l.split()[0]) for l in out.splitlines() if 'requests in' in l), 0)
        runs += 1
        if 'Non-2xx' in out or 'Socket errors' in out:
            log('    wrk reported errors:\n' + out)
    return made


def bench_soak(args):
    if not shutil.which('wrk'):
        raise SystemExit('wrk is not installed (apt-get install wrk)')
    churn = build_tool('wschurn', ['plugin/proto/wsframe.c', 'plugin/base/utf8.c',
                                   'plugin/base/buf.c'])
    plugin = os.path.join(BUILD, 'aio_plugin.so')
    script = os.path.join(BENCH_BUILD, 'soak.lua')
    with open(script, 'w') as f:
        f.write(SOAK_SCRIPT)
    server = Server([('plugin', plugin), ('aio', '100'),
                     ('aio-views', os.path.join(BUILD, 'views', 'tutorial.so')),
                     ('aio-views', os.path.join(BUILD, 'views', 'secure.so')),
                     ('aio-setting', 'secure.secret=a-benchmark-secret-of-at-least-32-bytes')])
    rounds, http, sessions = 10, 90000, 10000
    log('soak: %d rounds of %d HTTP requests (/, /hello, /whoami) and %d websocket sessions '
        'on one worker' % (rounds, http, sessions))
    rss, total, wrong = [], 0, 0
    try:
        for round_no in range(rounds):
            made = wrk_count(server.port, http, script)
            out = subprocess.run([churn, str(server.port), '/echo', str(sessions), '120'],
                                 capture_output=True, text=True, timeout=180).stdout
            fields = dict(kv.split('=') for kv in out.split())
            wrong += int(fields.get('wrong', 1)) + (int(fields.get('sessions', 0)) != sessions)
            total += made + int(fields.get('sessions', 0))
            rss.append(server.rss_kib())
            log('  round %2d  %8d requests in all  worker RSS %6.1f MiB'
                % (round_no + 1, total, rss[-1] / 1024))
    finally:
        server.stop()
    growth = (rss[-1] - rss[0]) / (rounds - 1)
    passed = growth < 1024 and not wrong and total >= rounds * (http + sessions)
    log('soak: %d requests, RSS %.1f MiB after warm-up, %.1f MiB at the end: %+.0f KiB per '
        '100,000 requests (target < 1024 KiB), %d wrong sessions: %s'
        % (total, rss[0] / 1024, rss[-1] / 1024, growth, wrong, 'PASS' if passed else 'FAIL'))
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('only', nargs='*',
                        metavar='hello|keepalive|sleep|executor|websocket|fanout|techempower|'
                                'outbound|soak',
                        help='benchmarks to run (default: all)')
    parser.add_argument('--seconds', type=int, default=8, help='wrk duration per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--connections', type=int, default=32)
    parser.add_argument('--concurrency', type=int, default=10000)
    parser.add_argument('--sleep', type=float, default=5.0)
    parser.add_argument('--queries', type=int, default=20,
                        help='queries per /queries request (techempower)')
    args = parser.parse_args()
    os.makedirs(BENCH_BUILD, exist_ok=True)
    everything = ['hello', 'keepalive', 'sleep', 'executor', 'websocket', 'fanout', 'techempower',
                  'outbound', 'soak']
    chosen = args.only or everything
    unknown = set(chosen) - set(everything)
    if unknown:
        parser.error('unknown benchmark(s): %s' % ', '.join(sorted(unknown)))
    verdicts = []
    if 'hello' in chosen:
        verdicts.append(bench_hello(args))
    if 'keepalive' in chosen:
        verdicts.append(bench_keepalive(args))
    if 'sleep' in chosen:
        verdicts.append(bench_sleep(args))
    if 'executor' in chosen:
        verdicts.append(bench_executor(args))
    if 'websocket' in chosen:
        verdicts.append(bench_websocket(args))
    if 'fanout' in chosen:
        verdicts.append(bench_fanout(args))
    if 'techempower' in chosen:
        verdicts.append(bench_techempower(args))
    if 'outbound' in chosen:
        verdicts.append(bench_outbound(args))
    if 'soak' in chosen:
        verdicts.append(bench_soak(args))
    sys.exit(0 if all(verdicts) else 1)


if __name__ == '__main__':
    main()
