"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temp
directory, listening on a free loopback port (and a socket in that
directory). Runs as the `postgres` user when the tests run as root, since
PostgreSQL refuses to run as root."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

from tests.integration.harness import Uwsgi, free_port


def _bin_dir():
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                  key=lambda d: int(d.split('/')[-2].split('.')[0]))
    if not dirs:
        raise RuntimeError('PostgreSQL is not installed (apt-get install postgresql)')
    return dirs[-1]


class Postgres:
    def __init__(self):
        self.bin = _bin_dir()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aio-pg-')
        self.data = os.path.join(self.dir, 'data')
        self.conninfo = 'host=127.0.0.1 port=%d user=postgres dbname=postgres' % self.port

    def _run(self, *cmd, **kwargs):
        if os.geteuid() == 0:
            cmd = ('runuser', '-u', 'postgres', '--') + cmd
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)

    def start(self):
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(os.path.join(self.bin, 'initdb'), '-D', self.data, '-A', 'trust',
                  '-U', 'postgres', '-E', 'UTF8', '--no-sync')
        self.start_server()
        return self

    def _pg_ctl(self, *args):
        return self._run(os.path.join(self.bin, 'pg_ctl'), '-D', self.data, *args)

    def stop_server(self):
        """Stops the server, keeping its data (start_server() starts it again
        on the same port)."""
        self._pg_ctl('-m', 'fast', '-w', 'stop')

    def start_server(self):
        options = ('-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off '
                   '-c max_connections=200' % (self.port, self.dir))
        self._pg_ctl('-l', os.path.join(self.dir, 'postgres.log'), '-o', options, '-w', 'start')

    def sql(self, statement):
        return self._run(os.path.join(self.bin, 'psql'), '-h', '127.0.0.1', '-p',
                         str(self.port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt',
                         '-c', statement).stdout

    def sql_file(self, path):
        """Runs the statements of a file (psql -f), stopping at the first error.
        The file goes in on stdin: psql may run as another user, who cannot
        read the checkout."""
        with open(path) as f:
            statements = f.read()
        return self._run(os.path.join(self.bin, 'psql'), '-h', '127.0.0.1', '-p',
                         str(self.port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qAt',
                         '-f', '-', input=statements).stdout

    def stop(self):
        try:
            self._run(os.path.join(self.bin, 'pg_ctl'), '-D', self.data, '-m', 'immediate',
                      '-w', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class DatabaseTestCase(unittest.TestCase):
    """A PostgreSQL and a uwsgi serving `modules` on it for the whole class:
    `schema` runs first, and the modules' `setting` names the database."""
    modules = ()
    setting = None
    schema = ''
    aio = 64
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres().start()
        try:
            if cls.schema:
                cls.pg.sql(cls.schema)
            cls.server = Uwsgi(modules=cls.modules, aio=cls.aio,
                               extra=[('aio-setting', '%s=%s' % (cls.setting, cls.pg.conninfo))]
                               + list(cls.extra)).start()
        except BaseException:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.server.stop()
            cls.server.assert_clean_log()
        finally:
            cls.pg.stop()

    @property
    def port(self):
        return self.server.port
