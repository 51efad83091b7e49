"""The tutorial and the request/response API, over HTTP on a real uwsgi."""
import os
import re
import shutil
import signal
import tempfile
import socket
import time
import unittest

from tests.integration.harness import (PLUGIN, PROBE, TUTORIAL, SLOWDOWN, ServerTestCase, Uwsgi,
                                       free_port, get, raw_request, read_response, request)


class TutorialTest(ServerTestCase):
    server_kwargs = {'modules': (TUTORIAL,)}

    def test_list_page_loops_in_its_template(self):
        r = get(self.port, '/list?n=2')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-type'], 'text/html; charset=utf-8')
        self.assertIn('<tr><td>1</td><td>1</td><td>odd &lt;&amp; escaped&gt;</td></tr>\n'
                      '<tr><td>2</td><td>4</td><td>even</td></tr>', r.text)
        self.assertIn('<p>No rows.</p>', get(self.port, '/list?n=0').text)

    def test_home_page(self):
        r = get(self.port, '/')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-type'], 'text/html; charset=utf-8')
        self.assertIn('<title>aiotutorial websocket test</title>', r.text)
        self.assertIn('<h2>aiotutorial websocket test</h2>', r.text)
        self.assertIn('"/echo"', r.text)  # the page's websocket test targets /echo
        self.assertEqual(int(r.headers['content-length']), len(r.body))

    def test_sleep_param_is_honoured(self):
        start = time.monotonic()
        r = get(self.port, '/?sleep=0.5')
        elapsed = time.monotonic() - start
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(elapsed, 0.5)
        self.assertLess(elapsed, 0.5 + 1.0 * SLOWDOWN)
        self.assertIn('waiting 0.5 s', r.text)

    def test_default_sleep_is_a_tenth(self):
        start = time.monotonic()
        r = get(self.port, '/')
        self.assertGreaterEqual(time.monotonic() - start, 0.1)
        self.assertIn('waiting 0.1 s', r.text)

    def test_bad_sleep_is_a_400(self):
        self.assertEqual(get(self.port, '/?sleep=-1').status, 400)

    def test_hello(self):
        r = get(self.port, '/hello')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b'Hello World\n')
        self.assertEqual(r.headers['content-type'], 'text/plain; charset=utf-8')
        self.assertEqual(r.headers['content-length'], '12')
        self.assertEqual(r.headers['connection'], 'close')

    def test_head_has_headers_but_no_body(self):
        r = request(self.port, 'HEAD', '/hello')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers['content-length'], '12')
        self.assertEqual(r.body, b'')

    def test_unknown_path_is_404(self):
        r = get(self.port, '/no/such/page')
        self.assertEqual(r.status, 404)
        self.assertIn('404 Not Found', r.text)

    def test_wrong_method_is_405_with_allow(self):
        r = request(self.port, 'POST', '/hello', body=b'x=1')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers['allow'], 'GET, HEAD')
        r = request(self.port, 'DELETE', '/')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers['allow'], 'GET, HEAD')

    def test_request_log_line(self):
        get(self.port, '/hello?from=log-test')
        self.wait_for_log('GET /hello?from=log-test => generated 12 bytes')


class ProbeTest(ServerTestCase):
    server_kwargs = {'modules': (PROBE,),
                     'extra': [('aio-setting', 'probe.greeting=hi there'),
                               ('aio-setting', 'other=1'), ('limit-post', '100000')]}

    def fields(self, response):
        self.assertEqual(response.status, 200, response.raw)
        return response.text

    def test_request_line_and_query(self):
        text = self.fields(get(self.port, '/probe/request?a=1&b=x+y&a=2&msg=%C3%A9t%C3%A9'))
        self.assertIn('method=GET\n', text)
        self.assertIn('path=/probe/request\n', text)
        self.assertIn('query=a=1&b=x+y&a=2&msg=%C3%A9t%C3%A9\n', text)
        self.assertIn('remote=127.0.0.1\n', text)
        self.assertIn('route=request\n', text)
        self.assertIn('param a=1\nparam a=2\n', text)
        self.assertIn('param b=x y\n', text)
        self.assertIn('param msg=\u00e9t\u00e9\n', text)

    def test_remote_addr_of_each_client_in_turn(self):
        """REMOTE_ADDR is the client's address (formatted once per address
        in a row, so a change of client must be seen); loopback is all of
        127.0.0.0/8, so clients can bind several source addresses."""
        for source in ('127.0.0.1', '127.1.2.3', '127.10.200.99', '127.255.0.9',
                       '127.10.200.99', '127.0.0.1'):
            with socket.create_connection(('127.0.0.1', self.port), timeout=10 * SLOWDOWN,
                                          source_address=(source, 0)) as s:
                s.sendall(b'GET /probe/request HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                self.assertIn('remote=%s\n' % source, self.fields(read_response(s)))

    def test_form_body_params(self):
        r = request(self.port, 'POST', '/probe/request?a=q',
                    headers={'Content-Type': 'application/x-www-form-urlencoded'},
                    body=b'a=f1&msg=hello+world&a=f2')
        text = self.fields(r)
        self.assertIn('method=POST\n', text)
        self.assertIn('param a=q\nparam a=f1\nparam a=f2\n', text)  # query first
        self.assertIn('param msg=hello world\n', text)
        self.assertIn('body-length=25\n', text)

    def test_headers(self):
        text = self.fields(get(self.port, '/probe/request', headers={'X-Test': 'yes, really'}))
        self.assertIn('x-test=yes, really\n', text)
        self.assertIn('x-test=(none)\n', self.fields(get(self.port, '/probe/request')))

    def test_percent_decoded_path_and_match_dict(self):
        r = get(self.port, '/probe/match/J%C3%B6rg/a/b%20c.txt')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, 'id=J\u00f6rg rest=a/b c.txt')
        self.assertEqual(get(self.port, '/probe/match/x').status, 404)

    def test_body_round_trip(self):
        body = bytes(range(256)) * 200
        r = request(self.port, 'POST', '/probe/body', body=body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, body)
        self.assertEqual(r.headers['content-type'], 'application/octet-stream')

    def test_settings(self):
        self.assertEqual(self.fields(get(self.port, '/probe/setting?key=probe.greeting')),
                         'probe.greeting=hi there\n')
        self.assertEqual(self.fields(get(self.port, '/probe/setting?key=nope')),
                         'nope=(unset)\n')

    def test_failing_view_is_500_and_logged(self):
        r = get(self.port, '/probe/fail')
        self.assertEqual(r.status, 500)
        self.assertNotIn('partial output', r.text)
        self.wait_for_log("aio: view of route 'fail' failed on GET /probe/fail: "
                          "deliberate failure for the tests")
        r = get(self.port, '/probe/bare-error')
        self.assertEqual(r.status, 500)
        self.wait_for_log("route 'bare_error' failed on GET /probe/bare-error: invalid argument")
        # and the worker keeps serving
        self.assertEqual(get(self.port, '/probe/request').status, 200)

    def test_scope_error_outside_coroutines(self):
        text = self.fields(get(self.port, '/probe/scope'))
        # from aio_main(): AIO_ESCOPE (-2) for both suspending calls, not in a coroutine
        self.assertIn('main: sleep=-2 wait=-2 in_coroutine=0\n', text)
        # in a view: in a coroutine; a NULL/foreign request is a scope error,
        # and NaN or negative seconds are invalid (-5)
        self.assertIn('view: in_coroutine=1 sleep_null=-2 sleep_nan=-5 sleep_negative=-5', text)
        # the same for milliseconds, and over AIO_SLEEP_MAX_MS
        self.assertIn('view: sleep_ms_null=-2 sleep_ms_negative=-5 sleep_ms_over=-5\n', text)

    def test_wait_fd(self):
        self.assertEqual(self.fields(get(self.port, '/probe/wait?mode=ready')),
                         'wait rc=1 (ready)\n')
        start = time.monotonic()
        text = self.fields(get(self.port, '/probe/wait?mode=timeout&ms=300'))
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(text, 'wait rc=-4 (timed out)\n')

    def test_two_waiters_on_one_fd(self):
        from tests.integration.harness import concurrent_gets
        results, _ = concurrent_gets(self.port, ['/probe/wait?mode=shared&ms=1000'] * 2)
        texts = sorted(r.text for r, _ in results)
        self.assertEqual(texts, ['wait rc=-4 (timed out)\n',
                                 'wait rc=-7 (file descriptor already waited on by another task)\n'])

    def test_large_response_to_a_slow_reader(self):
        """A response larger than the socket buffers to a client that waits
        before reading: the write suspends the request (uWSGI's write goes
        through the loop's wait hook), and the worker answers others."""
        import socket
        n = 48 << 20
        with socket.create_connection(('127.0.0.1', self.port)) as slow:
            slow.sendall(b'GET /probe/big?n=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % n)
            time.sleep(0.5)  # the server fills the socket buffers and suspends
            start = time.monotonic()
            self.assertEqual(get(self.port, '/probe/request').status, 200)
            self.assertLess(time.monotonic() - start, 0.5 * SLOWDOWN)
            received = bytearray()
            while True:
                chunk = slow.recv(1 << 20)
                if not chunk:
                    break
                received += chunk
        head, _, body = bytes(received).partition(b'\r\n\r\n')
        self.assertIn(b'200 OK', head)
        self.assertIn(b'Content-Length: %d' % n, head)
        self.assertEqual(len(body), n)
        self.assertEqual(body.count(b'z'), n)
        log = self.server.read_log()
        switches = re.search(r'GET /probe/big\?n=%d => generated %d bytes .*\((\d+) switches'
                             % (n, n), log)
        self.assertIsNotNone(switches, log[-2000:])
        self.assertGreaterEqual(int(switches.group(1)), 1)  # it did suspend

    def test_method_predicate(self):
        self.assertEqual(request(self.port, 'POST', '/probe/only-post', body=b'').status, 200)
        r = get(self.port, '/probe/only-post')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers['allow'], 'POST')

    def test_absolute_form_target(self):
        r = raw_request(self.port, b'GET http://example.com/probe/request?a=1 HTTP/1.1\r\n'
                                   b'Host: example.com\r\n\r\n')
        self.assertEqual(r.status, 200)
        self.assertIn('path=/probe/request\n', r.text)
        self.assertTrue(re.search(r'param a=1', r.text))


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


class Ipv6Test(unittest.TestCase):
    @unittest.skipUnless(ipv6_loopback(), 'no ::1 on this machine')
    def test_remote_addr_over_ipv6_loopback(self):
        port = free_port()
        options = [('plugin', PLUGIN), ('http-socket', '[::1]:%d' % port), ('aio', '8'),
                   ('master', 'false'), ('aio-views', PROBE)]
        server = Uwsgi(options=options)
        server.host, server.port = '::1', port
        with server, socket.create_connection(('::1', port), timeout=10 * SLOWDOWN) as s:
            s.sendall(b'GET /probe/request HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            r = read_response(s)
        self.assertEqual(r.status, 200, r.raw)
        self.assertIn('remote=::1\n', r.text)


class ResponseHelpersTest(ServerTestCase):
    """Redirects, cookies and JSON bodies through uWSGI, on the wire."""
    server_kwargs = {'modules': (PROBE,)}

    def test_redirect(self):
        r = get(self.port, '/probe/redirect?to=/inbox%3Fpage%3D2')
        self.assertEqual(r.status, 303, r.raw)
        self.assertEqual(r.headers['location'], '/inbox?page=2')
        self.assertEqual(r.headers['content-length'], '0')
        for bad in ('//evil.example/', 'inbox', '/a%0D%0AX-Injected:%201'):
            r = get(self.port, '/probe/redirect?to=' + bad)
            self.assertEqual(r.status, 400, bad)
            self.assertNotIn('location', r.headers)
            self.assertNotIn('x-injected', r.headers)

    def test_cookies_each_on_its_own_line(self):
        r = get(self.port, '/probe/cookies')
        self.assertEqual(r.status, 200, r.raw)
        lines = [line.split(':', 1)[1].strip() for line in r.raw.decode().split('\r\n')
                 if line.lower().startswith('set-cookie:')]
        self.assertEqual(lines, ['theme=dark; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax',
                                 'lang=fr; Path=/',
                                 'old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT'])

    def test_json_bodies(self):
        def post(body, content_type='application/json'):
            return request(self.port, 'POST', '/probe/notes', body=body,
                           headers={'Content-Type': content_type})
        r = post(b'{"title": "groceries"}')
        self.assertEqual((r.status, r.text), (200, 'title=groceries\n'))
        r = post(b'{"title": ', )
        self.assertEqual(r.status, 400)
        self.assertIn('The request body is not valid JSON', r.text)
        r = post(b'title=x', 'application/x-www-form-urlencoded')
        self.assertEqual(r.status, 415)
        self.assertNotIn("route 'notes' failed", self.server.read_log())

    def test_views_chosen_by_accept(self):
        def fetch(accept):
            return request(self.port, 'GET', '/probe/negotiate', headers={'Accept': accept})
        self.assertEqual(fetch('application/json').body, b'{"as":"json"}')
        self.assertEqual(fetch('text/html,application/xhtml+xml;q=0.9').body, b'<p>as html</p>')
        self.assertEqual(fetch('application/json;q=0, text/*').body, b'<p>as html</p>')
        r = fetch('image/png')
        self.assertEqual(r.status, 406)
        self.assertIn('None of the media types', r.text)

    def test_declared_parameters(self):
        self.assertEqual(get(self.port, '/probe/queries?queries=20').text, 'queries=20\n')
        for target, says in (('/probe/queries', "Parameter 'queries' is required."),
                             ('/probe/queries?queries=0',
                              "Parameter 'queries' must be an integer from 1 to 500."),
                             ('/probe/queries?queries=2&name=x1',
                              "Parameter 'name' must match [A-Za-z]+.")):
            r = get(self.port, target)
            self.assertEqual(r.status, 400, target)
            self.assertIn(says, r.text)

    def test_untyped_bodies_are_plain_text(self):
        r = get(self.port, '/probe/request')
        self.assertEqual(r.headers['content-type'], 'text/plain; charset=utf-8')


class ErrorPagesTest(ServerTestCase):
    """An application's error view makes the error answers: the router's,
    a failing view's, and those the server makes before the view runs."""
    server_kwargs = {'modules': (PROBE,),
                     'extra': [('aio-setting', 'probe.error-pages=json'), ('limit-post', '100')]}

    def test_error_answers_as_json(self):
        r = get(self.port, '/nowhere')
        self.assertEqual(r.status, 404)
        self.assertEqual(r.headers['content-type'], 'application/json')
        self.assertEqual(r.body, b'{"error":404,"detail":"The resource could not be found."}')
        r = request(self.port, 'DELETE', '/probe/pid')
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers['allow'], 'GET, HEAD')
        self.assertEqual(r.body, b'{"error":405,"detail":null}')
        r = get(self.port, '/probe/fail')
        self.assertEqual(r.status, 500)
        self.assertEqual(r.headers['content-type'], 'application/json')
        r = request(self.port, 'POST', '/probe/body', body=b'x' * 200,
                    headers={'Content-Type': 'text/plain'})
        self.assertEqual(r.status, 413)
        self.assertEqual(r.headers['content-type'], 'application/json')
        self.assertIn(b'"error":413', r.body)


class UwsgiOptionsTest(unittest.TestCase):
    """The uWSGI options the README recommends do what it says with this
    engine: static-map serves files before the views, die-on-term stops on
    SIGTERM, strict refuses a misspelt option."""

    def test_static_map_serves_files(self):
        static = tempfile.mkdtemp(prefix='aio-static-')
        self.addCleanup(shutil.rmtree, static, ignore_errors=True)
        with open(os.path.join(static, 'app.css'), 'w') as f:
            f.write('body { color: teal }\n')
        with Uwsgi(modules=(TUTORIAL,), extra=[('static-map', '/static=' + static)]) as server:
            r = get(server.port, '/static/app.css')
            self.assertEqual(r.status, 200, r.raw)
            self.assertEqual(r.body, b'body { color: teal }\n')
            self.assertEqual(r.headers['content-length'], '21')
            self.assertIn('last-modified', r.headers)
            self.assertEqual(get(server.port, '/hello').text, 'Hello World\n')  # views still

    def test_die_on_term_stops_on_sigterm(self):
        server = Uwsgi(modules=(TUTORIAL,), extra=[('master', 'true'), ('die-on-term', 'true')])
        with server:
            self.assertEqual(get(server.port, '/hello').status, 200)
            server.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(server.wait_exit(15 * SLOWDOWN))

    def test_strict_refuses_a_misspelt_option(self):
        server = Uwsgi(modules=(TUTORIAL,), extra=[('strict', 'true'), ('aio-tween', 'timing')])
        server.start(wait=False)
        self.assertIsNotNone(server.wait_exit(15 * SLOWDOWN))
        self.assertIn('aio-tween', server.read_log())
        server.log.close()


class ResponseHeaderOptionsTest(ServerTestCase):
    """uWSGI's own options that rewrite response headers still apply to ours."""
    server_kwargs = {'modules': (TUTORIAL,),
                     'extra': [('del-header', 'Content-Type'),
                               ('add-header', 'X-Served-By: uwsgi-aio test')]}

    def test_del_header_and_add_header(self):
        r = get(self.port, '/hello')
        self.assertEqual(r.status, 200, r.raw)
        self.assertNotIn('content-type', r.headers)
        self.assertEqual(r.headers['x-served-by'], 'uwsgi-aio test')
        self.assertEqual(r.headers['content-length'], str(len(r.body)))
        self.assertIn('date', r.headers)
