"""nginx in front: the shipped deploy/nginx.conf and deploy/uwsgi.ini serve
the tutorial and the chat room through Debian's nginx, over a unix socket
with the uwsgi protocol, HTTP and WebSocket alike.

Both files are used as shipped but for these rewrites:

- nginx.conf: its `listen` lines become one `listen 127.0.0.1:<free port>`,
  and the upstream's `server unix:<path>;` points into a temporary directory;
- uwsgi.ini: `socket` is that same path, `%d../build` is the build directory
  of this run (build/asan under AIO_SANITIZE=1), `aio-broadcast` names the
  test's own redis-server, and the uid, gid and chown-socket lines are left
  out (they need the accounts).

nginx runs in the foreground as one process (`daemon off; master_process
off`) from a main config of the test's own, with its pid file, logs and
temporary paths in the temporary directory; the test stops it by its pid.
"""
import asyncio
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from tests.integration.harness import (BUILD, ROOT, SLOWDOWN, Response, Uwsgi, free_port,
                                       request)
from tests.integration.redis import Redis, wait_connected
from tests.integration.wsclient import BINARY, PING, PONG, TEXT, WsClient

NGINX = '/usr/sbin/nginx'
DEPLOY = os.path.join(ROOT, 'deploy')
UPSTREAM_SERVER = re.compile(r'^(\s*server\s+unix:)([^;\s]+)(;)', re.M)
LISTEN = re.compile(r'^[ \t]*listen\s[^;]*;[ \t]*\n', re.M)
NGINX_PROBLEM = re.compile(r'\[(error|crit|alert|emerg)\]')

# nginx's own uwsgi_params, for an nginx whose configuration directory lacks it
UWSGI_PARAMS = ''.join('uwsgi_param %-16s %s;\n' % kv for kv in (
    ('QUERY_STRING', '$query_string'), ('REQUEST_METHOD', '$request_method'),
    ('CONTENT_TYPE', '$content_type'), ('CONTENT_LENGTH', '$content_length'),
    ('REQUEST_URI', '$request_uri'), ('PATH_INFO', '$document_uri'),
    ('DOCUMENT_ROOT', '$document_root'), ('SERVER_PROTOCOL', '$server_protocol'),
    ('REQUEST_SCHEME', '$scheme'), ('HTTPS', '$https if_not_empty'),
    ('REMOTE_ADDR', '$remote_addr'), ('REMOTE_PORT', '$remote_port'),
    ('SERVER_PORT', '$server_port'), ('SERVER_NAME', '$server_name')))


def read(path):
    with open(path) as f:
        return f.read()


def shipped_socket():
    """The socket path deploy/nginx.conf passes to (one upstream server)."""
    servers = UPSTREAM_SERVER.findall(read(os.path.join(DEPLOY, 'nginx.conf')))
    if len(servers) != 1:
        raise AssertionError('deploy/nginx.conf: expected one `server unix:...;`, got %r'
                             % servers)
    return servers[0][1]


def site_config(port, sock):
    """deploy/nginx.conf listening on 127.0.0.1:port and passing to sock."""
    text = read(os.path.join(DEPLOY, 'nginx.conf'))
    listens = len(LISTEN.findall(text))
    if not listens:
        raise AssertionError('deploy/nginx.conf has no listen line')
    if listens > 1:
        text = LISTEN.sub('', text, count=listens - 1)  # all but the last
    text = LISTEN.sub('    listen 127.0.0.1:%d;\n' % port, text)
    return UPSTREAM_SERVER.sub(lambda m: m.group(1) + sock + m.group(3), text)


def uwsgi_options(sock, redis_url):
    """deploy/uwsgi.ini's options (ini lines in order), rewritten for the test."""
    options, sockets, broadcasts = [], [], []
    for line in read(os.path.join(DEPLOY, 'uwsgi.ini')).splitlines():
        line = line.strip()
        if not line or line[0] in ';#[':
            continue
        key, _, value = (part.strip() for part in line.partition('='))
        if key in ('uid', 'gid', 'chown-socket'):
            continue
        if key == 'socket':
            sockets.append(value)
            value = sock
        if key == 'aio-broadcast':
            broadcasts.append(value)
            value = redis_url
        options.append((key, value.replace('%d../build', BUILD)))
    if sockets != [shipped_socket()]:
        raise AssertionError('deploy/uwsgi.ini listens on %r, deploy/nginx.conf passes to %r'
                             % (sockets, shipped_socket()))
    if len(broadcasts) != 1:
        raise AssertionError('deploy/uwsgi.ini: expected one aio-broadcast, got %r' % broadcasts)
    if not any(BUILD in value for _, value in options):
        raise AssertionError('deploy/uwsgi.ini no longer finds the build as %d../build')
    return options


class UnixUwsgi(Uwsgi):
    """A uwsgi from deploy/uwsgi.ini, ready once its unix socket accepts."""

    def __init__(self, sock, redis_url):
        super().__init__(options=uwsgi_options(sock, redis_url))
        self.sock_path = sock

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('uwsgi exited (%s) during start-up:\n%s'
                                     % (self.proc.returncode, self.read_log()))
            if 'running aio loop engine' in self.read_log():
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    try:
                        s.connect(self.sock_path)
                        return
                    except OSError:
                        pass
            time.sleep(0.05)
        raise AssertionError('uwsgi did not start in time:\n' + self.read_log())


class Nginx:
    """Debian's nginx, in the foreground, with deploy/nginx.conf as its only
    server, in its own directory (`-p`)."""

    def __init__(self, directory, sock):
        self.dir = directory
        self.port = free_port()
        self.conf = os.path.join(directory, 'nginx.conf')
        self.error_log = os.path.join(directory, 'error.log')
        self.out_path = os.path.join(directory, 'nginx.out')
        self.proc = None
        # `include uwsgi_params` is relative to the main config's directory
        params = os.path.join(directory, 'uwsgi_params')
        if os.path.exists('/etc/nginx/uwsgi_params'):
            shutil.copyfile('/etc/nginx/uwsgi_params', params)
        else:
            with open(params, 'w') as f:
                f.write(UWSGI_PARAMS)
        with open(os.path.join(directory, 'site.conf'), 'w') as f:
            f.write(site_config(self.port, sock))
        temp = os.path.join(directory, 'temp')
        os.mkdir(temp)
        user = ''
        if os.geteuid() == 0:
            # only root may name one; the default (nobody) would own the temp paths
            user = 'user %s %s;\n' % (pwd.getpwuid(os.geteuid()).pw_name,
                                       grp.getgrgid(os.getegid()).gr_name)
        with open(self.conf, 'w') as f:
            f.write('daemon off;\nmaster_process off;\n%s'
                    'pid %s/nginx.pid;\nerror_log %s info;\n'
                    'events { worker_connections 256; }\n'
                    'http {\n'
                    '    access_log %s/access.log;\n'
                    '    client_body_temp_path %s/body;\n    proxy_temp_path %s/proxy;\n'
                    '    fastcgi_temp_path %s/fastcgi;\n    uwsgi_temp_path %s/uwsgi;\n'
                    '    scgi_temp_path %s/scgi;\n'
                    '    include site.conf;\n'
                    '}\n' % ((user, directory, self.error_log, directory) + (temp,) * 5))

    def start(self, timeout=10.0):
        self.out = open(self.out_path, 'wb')
        self.proc = subprocess.Popen([NGINX, '-p', self.dir + '/', '-c', self.conf],
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + timeout * SLOWDOWN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.out.close()
                raise AssertionError('nginx exited (%s) during start-up:\n%s'
                                     % (self.proc.returncode, self.logs()))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError('nginx did not start in time:\n' + self.logs())

    def stop(self, timeout=10.0):
        """Graceful stop (SIGQUIT), SIGKILL if it takes over `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=timeout * SLOWDOWN)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('nginx did not stop within %.0f s:\n%s'
                                     % (timeout, self.logs()))
        self.out.close()

    def logs(self):
        text = ''
        for path in (self.out_path, self.error_log):
            if os.path.exists(path):
                text += '--- %s\n%s' % (os.path.basename(path), read(path)[-4000:])
        return text

    def problems(self):
        if not os.path.exists(self.error_log):
            return []
        return [line for line in read(self.error_log).splitlines() if NGINX_PROBLEM.search(line)]


def concurrent_gets(port, paths, timeout=30.0):
    """GETs all `paths` at once (Connection: close, so that nginx ends each
    response); returns (responses, seconds for all)."""
    async def one(path):
        reader, writer = await asyncio.wait_for(asyncio.open_connection('127.0.0.1', port),
                                                timeout)
        try:
            writer.write(('GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
                          % path).encode())
            return Response(await asyncio.wait_for(reader.read(), timeout))
        finally:
            writer.close()

    async def run():
        start = time.monotonic()
        responses = await asyncio.gather(*(one(p) for p in paths))
        return responses, time.monotonic() - start
    return asyncio.run(run())


@unittest.skipUnless(os.access(NGINX, os.X_OK), NGINX + ' is missing (Debian: nginx-light)')
class BehindNginxTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='aio-nginx-')
        sock = os.path.join(cls.dir, 'app.sock')
        cls.redis = Redis().start()
        cls.uwsgi = None
        try:
            cls.uwsgi = UnixUwsgi(sock, cls.redis.url).start()
            wait_connected(cls.uwsgi, cls.workers())
            cls.nginx = Nginx(cls.dir, sock).start()
        except BaseException:
            if cls.uwsgi:
                cls.uwsgi.stop()
                print('logs kept in %s and %s' % (cls.dir, cls.uwsgi.dir))
            cls.redis.__exit__()
            raise

    @staticmethod
    def workers():
        return int(dict(uwsgi_options('', '')).get('processes', '1'))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.nginx.stop()
        finally:
            cls.uwsgi.stop()
            cls.redis.__exit__()
        cls.uwsgi.assert_clean_log()
        problems = cls.nginx.problems()
        if problems:
            raise AssertionError('nginx logged problems (logs in %s):\n%s'
                                 % (cls.dir, '\n'.join(problems)))
        shutil.rmtree(cls.uwsgi.dir, ignore_errors=True)
        shutil.rmtree(cls.dir, ignore_errors=True)

    @property
    def port(self):
        return self.nginx.port

    def get(self, path):
        return request(self.port, 'GET', path, headers={'Connection': 'close'})

    def ws(self, path):
        client = WsClient(self.port, path, timeout=10.0 * SLOWDOWN)
        self.addCleanup(client.shutdown)
        return client

    # -- HTTP ---------------------------------------------------------------

    def test_hello(self):
        r = self.get('/hello')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b'Hello World\n')
        self.assertTrue(r.headers['server'].startswith('nginx'), r.headers)
        self.assertEqual(r.headers['content-length'], '12')

    def test_home_page_renders(self):
        r = self.get('/?sleep=0')
        self.assertEqual(r.status, 200)
        self.assertIn('<title>aiotutorial websocket test</title>', r.text)

    def test_sleeping_pages_share_the_workers(self):
        # more sleeps than workers: sixteen 1 s sleeps take about 1 s, not 8, through nginx too
        responses, seconds = concurrent_gets(self.port, ['/?sleep=1'] * 16)
        self.assertEqual([r.status for r in responses], [200] * 16)
        self.assertLess(seconds, 3.0)

    def test_plain_get_of_a_websocket_route(self):
        r = self.get('/echo')
        self.assertEqual(r.status, 426)
        self.assertEqual(r.headers['upgrade'], 'websocket')

    # -- WebSocket ----------------------------------------------------------

    def test_websocket_echo(self):
        c = self.ws('/echo')
        c.send_text('héllo')
        self.assertEqual(c.recv(), (TEXT, 'héllo'.encode()))
        big = os.urandom(200000)  # more than nginx's and the sockets' buffers
        c.send_binary(big)
        self.assertEqual(c.recv(), (BINARY, big))
        c.send(PING, b'are you there')
        self.assertEqual(c.recv_frame(), (True, PONG, b'are you there'))
        c.close(1000, 'bye')
        self.assertEqual(c.expect_close()[0], 1000)
        self.assertTrue(c.at_eof(timeout=5.0 * SLOWDOWN))

    def test_chat_broadcast_spans_the_workers(self):
        # every message reaches every client of the room, its sender too, on
        # whichever worker nginx's connection landed (both hold a subscriber)
        self.assertEqual(self.redis.subscribers('aio'), self.workers())
        clients = [self.ws('/chat/ws') for _ in range(8)]
        for c in clients:
            opcode, hello = c.recv()
            self.assertEqual(opcode, TEXT)
            self.assertTrue(hello.startswith(b'* you are #'), hello)
        a, b = clients[0], clients[-1]
        a.send_text('hi from a')
        for c in clients:
            self.assertEqual(c.recv(), (TEXT, b'hi from a'))
        b.send_binary(b'\x00from b')
        for c in clients:
            self.assertEqual(c.recv(), (BINARY, b'\x00from b'))
        for c in clients:
            c.close()
            self.assertEqual(c.expect_close()[0], 1000)


if __name__ == '__main__':
    unittest.main()
