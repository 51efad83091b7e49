"""A throwaway Redis server for the tests: redis-server in the foreground on
a free loopback port, no persistence, killed by its pid. It can be stopped
and started again on the same port, as an outage would."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from tests.integration.harness import SLOWDOWN, free_port


class Redis:
    def __init__(self):
        if not shutil.which('redis-server'):
            raise RuntimeError('redis-server is not installed (apt-get install redis-server)')
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aio-redis-')
        self.proc = None
        self.url = 'redis://127.0.0.1:%d' % self.port

    def start(self, timeout=10.0):
        log = open(os.path.join(self.dir, 'redis.log'), 'ab')
        self.proc = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', self.dir, '--enable-debug-command', 'yes',
             '--maxclients', '2000'],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.command('PING') == '+PONG':
                return self
            if self.proc.poll() is not None:
                raise AssertionError('redis-server exited: ' + self.read_log())
            time.sleep(0.05)
        raise AssertionError('redis-server did not start: ' + self.read_log())

    def command(self, *args):
        """One command over a fresh connection: the reply's first line, or
        None when the server does not answer."""
        payload = b'*%d\r\n' % len(args) + b''.join(
            b'$%d\r\n%s\r\n' % (len(a.encode()), a.encode()) for a in args)
        try:
            with socket.create_connection(('127.0.0.1', self.port), timeout=2) as s:
                s.sendall(payload)
                data = b''
                while not data.endswith(b'\r\n') or (data.startswith(b'$') and
                                                     data.count(b'\r\n') < 2 and
                                                     not data.startswith(b'$-1')):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        lines = data.decode().split('\r\n')
        return lines[1] if lines[0].startswith('$') and lines[0] != '$-1' else lines[0]

    def subscribers(self, channel):
        """How many connections are subscribed to `channel` (PUBSUB NUMSUB)."""
        payload = b'*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n' % (
            len(channel), channel.encode())
        with socket.create_connection(('127.0.0.1', self.port), timeout=2) as s:
            s.sendall(payload)
            data = b''
            while data.count(b'\r\n') < 4:  # *2, $len, channel, :count
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError('redis closed during PUBSUB NUMSUB: %r' % data)
                data += chunk
        return int(data.split(b'\r\n')[3].lstrip(b':'))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def read_log(self):
        try:
            with open(os.path.join(self.dir, 'redis.log'), 'rb') as f:
                return f.read().decode('utf-8', 'replace')[-3000:]
        except OSError:
            return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def wait_connected(server, workers, timeout=10.0):
    """Until every worker logged its subscriber connected."""
    deadline = time.monotonic() + timeout * SLOWDOWN
    while time.monotonic() < deadline:
        if server.read_log().count('(broadcast subscriber): connected') >= workers:
            return
        time.sleep(0.05)
    raise AssertionError('the workers did not all connect to Redis:\n' + server.read_log()[-3000:])
