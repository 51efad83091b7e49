#!/usr/bin/env python3
"""Instructions per /hello request in the worker, counted by callgrind.

    python3 bench/callgrind_hello.py [--small 300] [--large 2300] [--keepalive]
    python3 bench/callgrind_hello.py --routes      (1,000 routes: the first vs the last)

Runs one uWSGI worker (no master) under `valgrind --tool=callgrind` twice,
serving SMALL and then LARGE sequential requests on a loopback port, and
prints (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL): start-up and shut-down
cancel out. Instruction counts do not depend on what else the machine is
doing, so this is the stable figure to compare two builds by.

--keepalive sends the requests over one kept-alive connection to an
http11-socket. --routes serves bench/routes.c (500 literal routes /litN, then
500 patterned /phN/{id}) and prints the figure for /lit0, /lit499 and
/ph499/7: routing must not grow with the number of routes.
"""
import argparse
import glob
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def get(port, path='/hello'):
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        s.sendall(b'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' % path.encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b'HTTP/1.1 200') and not data.startswith(b'HTTP/1.0 200'):
        sys.exit('callgrind_hello: unexpected answer %r' % data[:80])


def build_routes_module():
    target = os.path.join(ROOT, 'build', 'bench', 'routes.so')
    os.makedirs(os.path.dirname(target), exist_ok=True)
    subprocess.run(['gcc', '-std=gnu11', '-O2', '-fPIC', '-shared', '-fstack-clash-protection',
                    '-I' + os.path.join(ROOT, 'plugin', 'include'), '-o', target,
                    os.path.join(ROOT, 'bench', 'routes.c')], check=True)
    return target


def kept_alive_gets(port, path, count):
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        request = b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path.encode()
        buf = b''
        for _ in range(count):
            s.sendall(request)
            while True:
                head, sep, rest = buf.partition(b'\r\n\r\n')
                if sep:
                    length = int(re.search(rb'Content-Length: (\d+)', head).group(1))
                    if len(rest) >= length:
                        buf = rest[length:]
                        break
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit('callgrind_hello: the connection closed')
                buf += chunk


def instructions(requests, path='/hello', module=None, keepalive=False, bare=False):
    port = free_port()
    out_dir = tempfile.mkdtemp(prefix='aio-callgrind-')
    out = os.path.join(out_dir, 'callgrind.out')
    socket_kind = '--http11-socket' if keepalive else '--http-socket'
    if bare:  # the peer: bench/bare, uWSGI's own parser and response path
        server_args = ['--plugin', os.path.join(ROOT, 'build', 'bench', 'bare_plugin.so'),
                       '--async', '100']
    else:
        server_args = ['--plugin', os.path.join(ROOT, 'build', 'aio_plugin.so'), '--aio', '100',
                       '--aio-views',
                       module or os.path.join(ROOT, 'build', 'views', 'tutorial.so')]
        if keepalive:  # every request on one connection: lift the per-connection cap
            server_args += ['--aio-keepalive-requests', str(requests + 10)]
    cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
           'uwsgi'] + server_args + [socket_kind, '127.0.0.1:%d' % port,
           '--disable-logging', '--die-on-term']
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                get(port, path)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit('callgrind_hello: the server did not start')
                time.sleep(0.2)
        if keepalive:
            kept_alive_gets(port, path, requests - 1)
        else:
            for _ in range(requests - 1):
                get(port, path)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    total = 0
    for path in glob.glob(out + '*'):
        with open(path) as f:
            for line in f:
                m = re.match(r'(?:summary|totals): (\d+)', line)
                if m:
                    total = max(total, int(m.group(1)))
    if not total:
        sys.exit('callgrind_hello: no callgrind totals in %s' % out_dir)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--small', type=int, default=300)
    parser.add_argument('--large', type=int, default=2300)
    parser.add_argument('--keepalive', action='store_true')
    parser.add_argument('--routes', action='store_true')
    parser.add_argument('--bare', action='store_true',
                        help='the bare C plugin (bench/bare, built by make bench) instead')
    args = parser.parse_args()
    if args.routes:
        module = build_routes_module()
        figures = {}
        for path in ('/lit0', '/lit499', '/ph0/7', '/ph499/7'):
            small = instructions(args.small, path, module, args.keepalive)
            large = instructions(args.large, path, module, args.keepalive)
            figures[path] = (large - small) / (args.large - args.small)
            print('callgrind: %-9s %.0f instructions per request' % (path, figures[path]))
        print('callgrind: 1,000 routes: /lit499 costs %.2fx /lit0, /ph499/7 %.2fx (target <= 1.3)'
              % (figures['/lit499'] / figures['/lit0'], figures['/ph499/7'] / figures['/lit0']))
        return
    small = instructions(args.small, keepalive=args.keepalive, bare=args.bare)
    large = instructions(args.large, keepalive=args.keepalive, bare=args.bare)
    per = (large - small) / (args.large - args.small)
    print('callgrind: %d requests %d Ir, %d requests %d Ir: %.0f instructions per request%s'
          % (args.small, small, args.large, large, per,
             ' (one kept-alive connection)' if args.keepalive else ''))


if __name__ == '__main__':
    main()
