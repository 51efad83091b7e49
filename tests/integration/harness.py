"""Test harness: runs a real uwsgi with the built plugin on a free loopback
port and talks HTTP (and the uwsgi protocol) to it.

With AIO_SANITIZE=1 the plugin and view modules come from build/asan and
uwsgi runs with AddressSanitizer preloaded: any ASan, UBSan or LeakSanitizer
report in the server's log fails the test that started it.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANITIZE = os.environ.get('AIO_SANITIZE') == '1'
BUILD = os.path.join(ROOT, 'build', 'asan') if SANITIZE else os.path.join(ROOT, 'build')
PLUGIN = os.path.join(BUILD, 'aio_plugin.so')
TUTORIAL = os.path.join(BUILD, 'views', 'tutorial.so')
PROBE = os.path.join(BUILD, 'test-views', 'probe.so')
BADROUTE = os.path.join(BUILD, 'test-views', 'badroute.so')
SHARED = os.path.join(BUILD, 'test-views', 'shared.so')
LSAN_SUPPRESSIONS = os.path.join(ROOT, 'tests', 'lsan.supp')
# The socket kind of every test server that speaks HTTP: the suite runs on
# both (the Makefile's integration runs use http11-socket, the sanitized
# ones http-socket).
HTTP_SOCKET = os.environ.get('AIO_TEST_HTTP_SOCKET', 'http-socket')
if HTTP_SOCKET not in ('http-socket', 'http11-socket'):
    raise SystemExit('AIO_TEST_HTTP_SOCKET must be http-socket or http11-socket')
# Sanitized runs are several times slower: scale time limits that are not
# themselves what a test measures.
SLOWDOWN = 3.0 if SANITIZE else 1.0

SANITIZER_REPORT = re.compile(
    r'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)')


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def sanitizer_env():
    libasan = subprocess.run(['gcc', '-print-file-name=libasan.so'], capture_output=True,
                             text=True, check=True).stdout.strip()
    return {
        'LD_PRELOAD': libasan,
        'ASAN_OPTIONS': 'detect_leaks=1:abort_on_error=0:halt_on_error=1:'
                        'detect_stack_use_after_return=0:allocator_may_return_null=1:'
                        # uwsgi-core has no frame pointers: unwind slowly but fully
                        'fast_unwind_on_malloc=0',
        'LSAN_OPTIONS': 'suppressions=%s:print_suppressions=0' % LSAN_SUPPRESSIONS,
        'UBSAN_OPTIONS': 'print_stacktrace=1:halt_on_error=1',
    }


class Uwsgi:
    """A uwsgi instance. Options are ini lines (a list of (key, value)); the
    defaults give one master-less worker serving the probe and tutorial
    modules on an http-socket."""

    def __init__(self, options=None, http=True, modules=(PROBE, TUTORIAL), aio=64, extra=(),
                 http_socket=None):
        self.port = free_port()
        self.host = '127.0.0.1'  # where wait_ready() looks for the socket
        self.dir = tempfile.mkdtemp(prefix='aio-test-')
        self.log_path = os.path.join(self.dir, 'uwsgi.log')
        self.ini_path = os.path.join(self.dir, 'test.ini')
        self.proc = None
        if options is None:
            options = [('plugin', PLUGIN)]
            kind = http_socket or HTTP_SOCKET
            options.append((kind if http else 'socket', '127.0.0.1:%d' % self.port))
            options += [('aio', str(aio)), ('master', 'false'), ('socket-timeout', '10'),
                        ('listen', '1024')]
            options += [('aio-views', m) for m in modules]
        self.options = list(options) + list(extra)
        self.fifo = None
        if ('master', 'true') in self.options:
            # SIGHUP would make the master reload: stop through its fifo
            self.fifo = os.path.join(self.dir, 'master.fifo')
            self.options.append(('master-fifo', self.fifo))

    # -- process control -------------------------------------------------

    def write_ini(self):
        with open(self.ini_path, 'w') as f:
            f.write('[uwsgi]\n')
            for key, value in self.options:
                f.write('%s = %s\n' % (key, value))

    def start(self, wait=True):
        self.write_ini()
        env = dict(os.environ)
        if SANITIZE:
            env.update(sanitizer_env())
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(['uwsgi', '--ini', self.ini_path], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=self.dir)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('uwsgi exited (%s) during start-up:\n%s'
                                     % (self.proc.returncode, self.read_log()))
            if 'running aio loop engine' in self.read_log():
                try:
                    with socket.create_connection((self.host, self.port), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError('uwsgi did not start in time:\n' + self.read_log())

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout * SLOWDOWN)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, graceful=True, timeout=20.0):
        """Stops the server (gracefully: SIGHUP to a lone worker, 'q' to a
        master's fifo) and returns its exit code."""
        if self.proc.poll() is None:
            if graceful and self.fifo:
                with open(self.fifo, 'w') as fifo:
                    fifo.write('q')
            else:
                self.proc.send_signal(signal.SIGHUP if graceful else signal.SIGINT)
            if self.wait_exit(timeout) is None:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('uwsgi did not stop within %.0f s:\n%s'
                                     % (timeout, self.read_log()[-4000:]))
        self.log.close()
        return self.proc.returncode

    def read_log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def assert_clean_log(self):
        log = self.read_log()
        match = SANITIZER_REPORT.search(log)
        if match:
            raise AssertionError('sanitizer report in the uwsgi log:\n' + log[match.start() - 200:][:6000])

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc and self.proc.poll() is None:
                self.stop()
            if exc_type is None:
                self.assert_clean_log()
        finally:
            if self.proc and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if exc_type is None:
                shutil.rmtree(self.dir, ignore_errors=True)
            else:
                print('uwsgi log kept in %s' % self.log_path)
        return False


# -- clients ---------------------------------------------------------------

class Response:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        parts = lines[0].split(' ', 2) if lines and lines[0] else ['', '0', '']
        self.status_line = lines[0] if lines else ''
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(':')
            self.headers[name.strip().lower()] = value.strip()

    @property
    def text(self):
        return self.body.decode('utf-8', 'replace')

    def __repr__(self):
        return '<Response %d %r>' % (self.status, self.raw[:200])


def recv_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def raise_fd_limit(test, need):
    """Lets this process (and the servers it starts, which inherit the
    limit) hold `need` fds, for the rest of `test`; skips it when the hard
    limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (max(soft, need), hard if hard == resource.RLIM_INFINITY
                            else max(hard, need)))
    except (ValueError, OSError) as e:
        test.skipTest('cannot raise RLIMIT_NOFILE to %d: %s' % (need, e))
    test.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


def worker_rss_kib(pid):
    """The resident size of a (worker) process, in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for pid %d' % pid)


def read_response(sock, head_request=False):
    """One HTTP response from `sock`, framed as it says (Content-Length,
    chunked, or up to the close), so that a kept-alive connection is read
    exactly as one that closes."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return Response(data)
        data += chunk
    head = Response(data.partition(b'\r\n\r\n')[0] + b'\r\n\r\n')
    body_start = data.index(b'\r\n\r\n') + 4
    if head_request or head.status in (101, 204, 304) or 100 <= head.status < 200:
        return Response(data[:body_start])
    if 'content-length' in head.headers:
        end = body_start + int(head.headers['content-length'])
        while len(data) < end:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return Response(data[:end])
    if 'chunked' in head.headers.get('transfer-encoding', ''):
        while not data.endswith(b'0\r\n\r\n'):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return Response(data)
    return Response(data + recv_all(sock))


def raw_request(port, data, timeout=10.0):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout * SLOWDOWN) as s:
        s.sendall(data)
        return read_response(s, head_request=data.startswith(b'HEAD '))


def request(port, method='GET', path='/', headers=None, body=b'', timeout=10.0):
    headers = dict(headers or {})
    headers.setdefault('Host', '127.0.0.1:%d' % port)
    headers.setdefault('Connection', 'close')  # read to the end on any socket kind
    if body or method in ('POST', 'PUT'):
        headers.setdefault('Content-Length', str(len(body)))
    head = '%s %s HTTP/1.1\r\n' % (method, path)
    head += ''.join('%s: %s\r\n' % kv for kv in headers.items()) + '\r\n'
    return raw_request(port, head.encode('latin-1') + body, timeout)


def get(port, path='/', **kwargs):
    return request(port, 'GET', path, **kwargs)


def uwsgi_packet(vars_, body=b''):
    """A uwsgi-protocol request, as nginx's uwsgi_pass sends it."""
    payload = b''
    for key, value in vars_.items():
        k, v = key.encode(), value.encode()
        payload += struct.pack('<H', len(k)) + k + struct.pack('<H', len(v)) + v
    return struct.pack('<BHB', 0, len(payload), 0) + payload + body


async def _timed_get(port, path, timeout):
    start = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', port), timeout)
    try:
        writer.write(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    return Response(raw), time.monotonic() - start


def concurrent_gets(port, paths, timeout=30.0):
    """GETs all `paths` at once; returns (responses, seconds for all)."""
    async def run():
        start = time.monotonic()
        results = await asyncio.gather(*(_timed_get(port, p, timeout) for p in paths),
                                       return_exceptions=True)
        return results, time.monotonic() - start
    return asyncio.run(run())


def in_parallel(open_one, count, threads=10):
    """[open_one(i) for i in range(count)], `threads` at a time. For clients
    that must spread over several workers: the kernel hands a connection to
    whichever worker accepts first, and a worker that has just answered one
    client is back in accept first, so clients opened one after the other
    can all land on one worker."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(open_one, range(count)))


def trickling_clients(port, connections, first, drip, seconds, every, jitter=0.0):
    """An async function of `connections` slow clients: each (after a random
    delay up to `jitter` s) connects, sends `first`, then `drip(i)` every
    `every` s for `seconds`, and hangs up. It returns how many the server
    cut: anything from it (an answer, EOF) before the end counts."""
    async def client():
        if jitter:
            await asyncio.sleep(random.uniform(0, jitter))
        try:
            reader, writer = await asyncio.open_connection('127.0.0.1', port)
        except OSError:
            return 1
        try:
            writer.write(first)
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < seconds:
                writer.write(drip(i))
                i += 1
                await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(1024), every)
                    return 1 if data or reader.at_eof() else 0
                except asyncio.TimeoutError:
                    pass
            return 0
        except OSError:
            return 1
        finally:
            writer.close()

    async def run():
        return sum(await asyncio.gather(*(client() for _ in range(connections))))
    return run


class ServerTestCase(unittest.TestCase):
    """One uwsgi for the whole class (started in setUpClass)."""
    server_kwargs = {}

    @classmethod
    def setUpClass(cls):
        cls.server = Uwsgi(**cls.server_kwargs).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.assert_clean_log()
        shutil.rmtree(cls.server.dir, ignore_errors=True)

    @property
    def port(self):
        return self.server.port

    def wait_for_log(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            if text in self.server.read_log():
                return
            time.sleep(0.05)
        self.fail('%r not in the uwsgi log:\n%s' % (text, self.server.read_log()[-3000:]))
