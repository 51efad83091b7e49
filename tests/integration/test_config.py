"""Bad configuration stops start-up with one clear line naming the culprit,
and uwsgi exits non-zero."""
import os
import re
import unittest

from tests.integration.harness import BADROUTE, PLUGIN, PROBE, Uwsgi, free_port


def start_and_fail(options, master=False, processes=1, timeout=15):
    port = free_port()
    opts = [('plugin', PLUGIN), ('http-socket', '127.0.0.1:%d' % port),
            ('master', 'true' if master else 'false'), ('processes', str(processes))]
    server = Uwsgi(options=opts + options)
    server.start(wait=False)
    code = server.wait_exit(timeout)
    log = server.read_log()
    if code is None:
        server.proc.kill()
        server.proc.wait()
        raise AssertionError('uwsgi kept running with a bad configuration:\n' + log[-3000:])
    server.log.close()
    return code, log


class BadConfigTest(unittest.TestCase):

    def assert_one_error(self, log, *needles):
        lines = [l for l in log.splitlines() if 'aio: configuration error' in l]
        self.assertEqual(len(lines), 1, log[-3000:])
        for needle in needles:
            self.assertIn(needle, lines[0])
        return lines[0]

    def test_missing_module(self):
        code, log = start_and_fail([('aio', '10'), ('aio-views', '/nonexistent/views.so')])
        self.assertNotEqual(code, 0)
        self.assert_one_error(log, "'/nonexistent/views.so'", 'No such file')

    def test_not_a_view_module(self):
        code, log = start_and_fail([('aio', '10'), ('aio-views', PLUGIN)])
        self.assertNotEqual(code, 0)
        self.assert_one_error(log, 'aio_plugin.so', 'no aio_main()')

    def test_views_without_the_loop_engine(self):
        code, log = start_and_fail([('aio-views', PROBE)])
        self.assertNotEqual(code, 0)
        self.assert_one_error(log, "'aio-views' needs the aio loop engine", "'aio = N'")

    def test_bad_option_values(self):
        cases = [([('aio', 'many')], "option 'aio' must be an integer from 2 to 100000"),
                 ([('aio', '1')], "option 'aio' must be an integer"),
                 ([('aio', '10'), ('aio-stack-size', '1k')], "option 'aio-stack-size'"),
                 ([('aio', '10'), ('aio-stack-size', 'huge')], "option 'aio-stack-size'"),
                 ([('aio', '10'), ('aio-setting', 'no-equals-sign')], "option 'aio-setting'"),
                 ([('aio', '10'), ('aio-stall-ms', '-1')],
                  "option 'aio-stall-ms' must be an integer from 0 to 600000"),
                 ([('aio', '10'), ('aio-request-timeout', '1s')],
                  "option 'aio-request-timeout' must be an integer from 0 to 86400000"),
                 ([('aio', '10'), ('aio-websocket-callbacks', '0')],
                  "option 'aio-websocket-callbacks' must be an integer from 1 to 100000"),
                 ([('aio', '10'), ('threads', '4')], "'threads' cannot be combined with 'aio'")]
        for options, needle in cases:
            with self.subTest(options=options):
                code, log = start_and_fail(options)
                self.assertNotEqual(code, 0)
                self.assert_one_error(log, needle)

    def test_unsupported_socket_protocol(self):
        port = free_port()
        code, log = start_and_fail([('aio', '10'), ('fastcgi-socket', '127.0.0.1:%d' % port)])
        self.assertNotEqual(code, 0)
        self.assert_one_error(log, "speaks 'fastcgi'", "'http11-socket'")

    def test_route_mistakes_found_by_aio_main(self):
        cases = [('no-view', "route 'orphan' has no view"),
                 ('duplicate', "duplicate route name 'twice'"),
                 ('pattern', "route 'broken': bad pattern '/items/{id': unclosed '{'"),
                 ('placeholder-regex', "route 'bracket': bad pattern '/items/{id:[0-9}/{rest}': "
                  "invalid regex in placeholder 'id'"),
                 ('unknown-route', "names route 'ghost', which does not exist"),
                 ('ws-executor', "route 'ws': a websocket view runs on the loop"),
                 ('ws-post', "route 'ws': a websocket view answers GET requests only"),
                 ('ws-and-get', "route 'ws' has two views for GET")]
        for mistake, needle in cases:
            with self.subTest(mistake=mistake):
                code, log = start_and_fail([('aio', '10'), ('aio-views', BADROUTE),
                                            ('aio-setting', 'badroute.mistake=' + mistake)])
                self.assertNotEqual(code, 0)
                self.assert_one_error(log, 'badroute.so', needle)

    def test_aio_main_failure(self):
        code, log = start_and_fail([('aio', '10'), ('aio-views', PROBE),
                                    ('aio-setting', 'probe.greeting=fail')])
        self.assertNotEqual(code, 0)
        self.assert_one_error(log, 'probe.so', 'aio_main() returned 7')

    def test_with_master_and_workers_the_instance_stops_once(self):
        """Each worker runs aio_main(); all fail alike but one line is
        logged and the master ends the instance instead of respawning."""
        code, log = start_and_fail([('aio', '10'), ('aio-views', BADROUTE)], master=True,
                                   processes=3)
        self.assertEqual(code, 22)  # uWSGI's "failed to load the app" exit code
        self.assert_one_error(log, "route 'orphan' has no view")
        self.assertNotIn('Respawned uWSGI worker', log)

    def test_good_configuration_starts(self):
        with Uwsgi(modules=(PROBE,)) as server:
            self.assertIn('running aio loop engine', server.read_log())
            self.assertNotIn('configuration error', server.read_log())

    def test_options_are_documented_in_help(self):
        import subprocess
        from tests.integration.harness import SANITIZE, sanitizer_env
        env = dict(os.environ, **(sanitizer_env() if SANITIZE else {}))
        out = subprocess.run(['uwsgi', '--plugin', PLUGIN, '--help'], capture_output=True,
                             text=True, env=env).stdout
        for option in ('--aio ', '--aio-views', '--aio-setting', '--aio-stack-size'):
            self.assertIn(option, out)
