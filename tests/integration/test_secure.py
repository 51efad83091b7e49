"""Authentication, ACL authorization, traversal, renderers and tweens, over
HTTP: the views/secure flow with a cookie jar, and callbacks that really
suspend."""
import hashlib
import hmac
import json
import os
import time
import unittest

from tests.integration.harness import (BUILD, SLOWDOWN, ServerTestCase, Uwsgi, concurrent_gets,
                                       get, request)

SECURE = os.path.join(BUILD, 'views', 'secure.so')
SUSPENDING = os.path.join(BUILD, 'test-views', 'suspending.so')
SECRET = 'test-secret-that-is-long-enough-0123456789'
EXAMPLE_INI = os.path.join(os.path.dirname(__file__), '..', '..', 'example.ini')
WARNING = 'aio: authtkt: WARNING: the secret is the published example secret'


def example_secret():
    """The secret example.ini publishes."""
    with open(EXAMPLE_INI) as f:
        for line in f:
            key, _, value = line.partition('=')
            if key.strip() == 'aio-setting' and value.strip().startswith('secure.secret='):
                return value.strip()[len('secure.secret='):]
    raise AssertionError('no secure.secret in example.ini')


def ticket(userid, secret=SECRET):
    """A ticket signed as the built-in policy signs one, for any userid."""
    signed = '%d!%s!' % (int(time.time()), userid.encode().hex())
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha512).hexdigest() + '!' + signed


class Browser:
    """Just enough of a cookie jar."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def _headers(self, extra=None):
        headers = dict(extra or {})
        if self.cookies:
            headers['Cookie'] = '; '.join('%s=%s' % kv for kv in self.cookies.items())
        return headers

    def _keep(self, response):
        set_cookie = response.headers.get('set-cookie')
        if set_cookie:
            name, _, rest = set_cookie.partition('=')
            value = rest.split(';', 1)[0]
            if 'Max-Age=0' in set_cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    def get(self, path):
        return self._keep(get(self.port, path, headers=self._headers()))

    def post(self, path, form=''):
        return self._keep(request(self.port, 'POST', path, body=form.encode(), headers=self._headers(
            {'Content-Type': 'application/x-www-form-urlencoded'})))


class SecureFlowTest(ServerTestCase):
    server_kwargs = {'modules': (SECURE,),
                     'extra': [('aio-setting', 'secure.secret=' + SECRET),
                               ('aio-tweens', 'timing')]}

    def json(self, response):
        self.assertEqual(response.status, 200, response.raw)
        self.assertEqual(response.headers['content-type'], 'application/json')
        return json.loads(response.body)

    def test_login_flow(self):
        b = Browser(self.port)
        self.assertEqual(self.json(b.get('/whoami')), {'userid': None})
        self.assertEqual(b.get('/secret').status, 403)
        self.assertEqual(b.get('/admin').status, 403)

        r = b.post('/login', 'user=alice')
        self.assertEqual(self.json(r), {'remembered': 'alice'})
        cookie = r.headers['set-cookie']
        for attribute in ('Path=/', 'Max-Age=3600', 'HttpOnly', 'SameSite=Lax'):
            self.assertIn(attribute, cookie)
        self.assertEqual(self.json(b.get('/whoami')), {'userid': 'alice'})
        r = b.get('/secret')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, 'the secret is 42, alice\n')
        self.assertEqual(r.headers['content-type'], 'text/plain; charset=utf-8')
        self.assertEqual(b.get('/admin').status, 403)  # not in group:admins

        self.assertEqual(self.json(b.post('/login', 'user=admin')), {'remembered': 'admin'})
        r = b.get('/admin')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, 'welcome to the admin page, admin\n')

        self.assertEqual(self.json(b.post('/logout')), {'forgotten': 'yes'})
        self.assertNotIn('auth_tkt', b.cookies)
        self.assertEqual(self.json(b.get('/whoami')), {'userid': None})
        self.assertEqual(b.get('/secret').status, 403)

    def test_unknown_user_is_not_authenticated(self):
        b = Browser(self.port)
        b.post('/login', 'user=mallory')  # a valid ticket, but not in the directory
        self.assertIn('auth_tkt', b.cookies)
        self.assertEqual(self.json(b.get('/whoami')), {'userid': None})
        self.assertEqual(b.get('/secret').status, 403)

    def test_bad_tickets_are_anonymous(self):
        b = Browser(self.port)
        b.post('/login', 'user=admin')
        good = b.cookies['auth_tkt']
        mac, ts, user, tokens = good.split('!')
        bad = {
            'tampered signature': ('0' if mac[0] != '0' else '1') + mac[1:] + '!' + '!'.join([ts, user, tokens]),
            'other user': '!'.join([mac, ts, '616c696365', tokens]),  # alice
            'older timestamp': '!'.join([mac, str(int(ts) - 1), user, tokens]),
            'expired': None,
            'truncated': good[:len(good) // 2],
            'garbage': 'not-a-ticket',
        }
        for name, value in bad.items():
            if value is None:
                continue
            with self.subTest(ticket=name):
                r = get(self.port, '/whoami', headers={'Cookie': 'auth_tkt=' + value})
                self.assertEqual(self.json(r), {'userid': None})
                self.assertEqual(get(self.port, '/admin',
                                     headers={'Cookie': 'auth_tkt=' + value}).status, 403)
        self.assertEqual(self.json(get(self.port, '/whoami',
                                       headers={'Cookie': 'auth_tkt=' + good})),
                         {'userid': 'admin'})

    def test_reserved_userids_do_not_log_in(self):
        for user in ('system.Everyone', 'system.Authenticated', 'group%3Aadmins'):
            with self.subTest(user=user):
                b = Browser(self.port)
                self.assertEqual(b.post('/login', 'user=' + user).status, 400)
                self.assertNotIn('auth_tkt', b.cookies)
        # tickets signed with the secret all the same (another application
        # sharing it, an older version) are anonymous
        self.assertEqual(self.json(get(self.port, '/whoami', headers={
            'Cookie': 'auth_tkt=' + ticket('admin')})), {'userid': 'admin'})  # signed right
        for user in ('system.Everyone', 'system.Authenticated', 'group:admins'):
            with self.subTest(ticket=user):
                cookie = {'Cookie': 'auth_tkt=' + ticket(user)}
                self.assertEqual(self.json(get(self.port, '/whoami', headers=cookie)),
                                 {'userid': None})
                self.assertEqual(get(self.port, '/secret', headers=cookie).status, 403)
                self.assertEqual(get(self.port, '/admin', headers=cookie).status, 403)
        self.wait_for_log('authtkt: a validly signed ticket names a reserved userid')
        self.assertEqual(self.server.read_log().count('names a reserved userid'), 1)

    def test_no_warning_about_a_secret_of_its_own(self):
        self.assertNotIn(WARNING, self.server.read_log())

    def test_traversal(self):
        self.assertEqual(self.json(get(self.port, '/tree/')),
                         {'type': 'folder', 'name': '', 'children': ['docs', 'private']})
        self.assertEqual(self.json(get(self.port, '/tree/docs')),
                         {'type': 'folder', 'name': 'docs', 'children': ['readme', 'howto']})
        self.assertEqual(self.json(get(self.port, '/tree/docs/readme')),
                         {'type': 'document', 'name': 'readme', 'body': 'Read me first.'})
        self.assertEqual(self.json(get(self.port, '/tree/docs/readme/history/2024/05')),
                         {'document': 'readme', 'subpath': '2024/05'})
        self.assertEqual(get(self.port, '/tree/docs/nothing').status, 404)  # no such view
        self.assertEqual(get(self.port, '/tree/docs/readme/nothing').status, 404)
        # the private folder's own ACL: admins only
        self.assertEqual(get(self.port, '/tree/private/plans').status, 403)
        b = Browser(self.port)
        b.post('/login', 'user=alice')
        self.assertEqual(b.get('/tree/private/plans').status, 403)
        b.post('/login', 'user=admin')
        self.assertEqual(self.json(b.get('/tree/private/plans'))['body'],
                         'World domination, phase 2.')

    def test_timing_tween(self):
        r = get(self.port, '/whoami')
        self.assertRegex(r.headers['x-response-time'], r'^\d+\.\d{3} ms$')

    def test_login_needs_a_user(self):
        self.assertEqual(request(self.port, 'POST', '/login', body=b'').status, 400)
        self.assertEqual(get(self.port, '/login').status, 405)


class SuspendingCallbacksTest(unittest.TestCase):

    def test_callbacks_suspend_instead_of_blocking(self):
        """Each request: a tween, a traversal lookup, the groupfinder and the
        ACL each sleep 100 ms (400 ms in all). 100 of them at once on one
        worker finish in well under a second: they suspend, not block."""
        with Uwsgi(modules=(SUSPENDING,), aio=200,
                   extra=[('aio-setting', 'slow.secret=' + SECRET)]) as server:
            login = request(server.port, 'POST', '/login', body=b'')
            cookie = login.headers['set-cookie'].split(';')[0]
            start = time.monotonic()
            r = get(server.port, '/items/item', headers={'Cookie': cookie})
            single = time.monotonic() - start
            self.assertEqual((r.status, r.text), (200, 'sleeper\n'))
            self.assertGreaterEqual(single, 0.4)  # the four 100 ms pauses, one after another
            import asyncio

            async def fetch():
                reader, writer = await asyncio.open_connection('127.0.0.1', server.port)
                writer.write(('GET /items/item HTTP/1.1\r\nHost: x\r\nCookie: %s\r\nConnection: close\r\n\r\n'
                              % cookie).encode())
                data = await reader.read()
                writer.close()
                return data

            async def run():
                start = time.monotonic()
                results = await asyncio.gather(*(fetch() for _ in range(100)))
                return results, time.monotonic() - start
            results, elapsed = asyncio.run(run())
            self.assertEqual(sum(1 for d in results if d.endswith(b'\r\n\r\nsleeper\n')), 100)
            self.assertGreaterEqual(elapsed, 0.4)
            self.assertLess(elapsed, 0.8 * SLOWDOWN)
            # anonymous: the groupfinder never runs, the ACL says no
            self.assertEqual(get(server.port, '/items/item').status, 403)


class SecureConfigTest(unittest.TestCase):

    def test_example_secret_is_warned_about(self):
        secret = example_secret()
        self.assertEqual(len(secret), 40)
        with Uwsgi(modules=(SECURE,), extra=[('aio-setting', 'secure.secret=' + secret)]) as server:
            deadline = time.monotonic() + 5 * SLOWDOWN
            while WARNING not in server.read_log() and time.monotonic() < deadline:
                time.sleep(0.05)
            log = server.read_log()
            self.assertEqual(log.count(WARNING), 1, log[-3000:])
            # and it still serves: a warning, not an error
            self.assertEqual(json.loads(get(server.port, '/whoami').body), {'userid': None})

    def test_missing_or_short_secret_stops_startup(self):
        from tests.integration.test_config import start_and_fail
        for extra, needle in [([], 'authtkt: no secret'),
                              ([('aio-setting', 'secure.secret=short')],
                               'authtkt: the secret is too short (at least 32 bytes)')]:
            with self.subTest(needle=needle):
                code, log = start_and_fail([('aio', '10'), ('aio-views', SECURE)] + extra)
                self.assertNotEqual(code, 0)
                self.assertIn("aio: configuration error: view module '%s': %s" % (SECURE, needle),
                              log)
