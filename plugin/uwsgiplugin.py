# Recipe for uWSGI's plugin builder: `uwsgi --build-plugin plugin` (or
# `python3 uwsgiconfig.py`, which wraps it) compiles these files against the
# installed uWSGI's uwsgi.h (--dot-h) and CFLAGS (--cflags).
import os

NAME = 'aio'

_here = os.environ.get('AIO_PLUGIN_DIR', 'plugin')

CFLAGS = [
    '-std=gnu11',
    # uwsgi.h is not ours: treat it as a system header so that -Werror
    # applies to our code only.
    '-isystem', '.uwsgi_plugins_builder',
    '-I%s' % _here,
    '-I%s/include' % _here,
    '-fvisibility=hidden',
    '-Wall', '-Wextra', '-Werror', '-Wunused-parameter', '-Wshadow',
    '-Wno-missing-field-initializers',
]
# Calls between our own exported functions must never be interposed by
# another library's symbol of the same name.
LDFLAGS = ['-Wl,-Bsymbolic-functions']
LIBS = ['-luv', '-ljansson', '-lcrypto', '-ldl', '-lm', '-lpthread']
# The engine knows nothing of uWSGI (libaio_testing is built from it too) ...
ENGINE = ['acl', 'arena', 'auth', 'buf', 'coro', 'dispatch', 'engine', 'executor', 'http',
          'mapper', 'options', 'params', 'registry', 'render', 'request', 'route', 'suspend',
          'task', 'template', 'traversal', 'tween', 'utf8', 'websocket', 'wsframe']
# ... and these host it in uWSGI.
UWSGI_HOST = ['accept', 'handler', 'loop', 'plugin', 'waithooks']
GCC_LIST = ENGINE + UWSGI_HOST
