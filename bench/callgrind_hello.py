#!/usr/bin/env python3
"""Instructions per /hello request in the worker, counted by callgrind.

    python3 bench/callgrind_hello.py [--small 300] [--large 2300]

Runs one uWSGI worker (no master) under `valgrind --tool=callgrind` twice,
serving SMALL and then LARGE sequential requests on a loopback port, and
prints (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL): start-up and shut-down
cancel out. Instruction counts do not depend on what else the machine is
doing, so this is the stable figure to compare two builds by.
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


def get(port):
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        s.sendall(b'GET /hello HTTP/1.0\r\nHost: x\r\n\r\n')
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b'HTTP/1.1 200') and not data.startswith(b'HTTP/1.0 200'):
        sys.exit('callgrind_hello: unexpected answer %r' % data[:80])


def instructions(requests):
    port = free_port()
    out_dir = tempfile.mkdtemp(prefix='aio-callgrind-')
    out = os.path.join(out_dir, 'callgrind.out')
    cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
           'uwsgi', '--plugin', os.path.join(ROOT, 'build', 'aio_plugin.so'),
           '--aio', '100', '--http-socket', '127.0.0.1:%d' % port,
           '--aio-views', os.path.join(ROOT, 'build', 'views', 'tutorial.so'),
           '--disable-logging', '--die-on-term']
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                get(port)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit('callgrind_hello: the server did not start')
                time.sleep(0.2)
        for _ in range(requests - 1):
            get(port)
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
    args = parser.parse_args()
    small = instructions(args.small)
    large = instructions(args.large)
    per = (large - small) / (args.large - args.small)
    print('callgrind: %d requests %d Ir, %d requests %d Ir: %.0f instructions per request'
          % (args.small, small, args.large, large, per))


if __name__ == '__main__':
    main()
