#!/usr/bin/env python3
"""A throwaway PostgreSQL with the tables of views/bench, to try the module:

    python3 views/bench/database.py

initdb in a temporary directory, a server on a free loopback port (run as
the postgres user when started as root, since PostgreSQL refuses root),
schema.sql loaded. It prints the server's conninfo (one line, for
bench.conninfo) and runs until Ctrl-C, SIGTERM, or a line `stop` on its
standard input; then it stops the server and removes the directory. The
server is the integration tests' (tests/integration/postgres.py).
"""
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the checkout, for tests/

from tests.integration.postgres import Postgres  # noqa: E402


def wait_for_stop():
    """Until `stop` is read; without input (EOF, or started in the
    background), until a signal."""
    # Started in the background, a read of the terminal fails rather than
    # stopping this process (which would leave the server to nobody).
    signal.signal(signal.SIGTTIN, signal.SIG_IGN)
    try:
        for line in sys.stdin:
            if line.strip() == 'stop':
                return
    except OSError:
        pass
    signal.pause()


def main():
    # SIGTERM ends it the way Ctrl-C does: through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pg = Postgres().start()
    try:
        pg.sql_file(os.path.join(HERE, 'schema.sql'))
        print(pg.conninfo, flush=True)
        wait_for_stop()
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as e:
        sys.exit('database.py: %s\n%s' % (e, e.stderr))
    finally:
        pg.stop()


if __name__ == '__main__':
    main()
