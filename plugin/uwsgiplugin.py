# Recipe for uWSGI's plugin builder: `uwsgi --build-plugin plugin` (or
# `python3 uwsgiconfig.py`, which wraps it) compiles these files against the
# installed uWSGI's uwsgi.h (--dot-h) and CFLAGS (--cflags).
#
# The folders are the source lists: a layer's sources are the .c files in
# its folder (docs/ARCHITECTURE.md). uwsgiconfig.py and the Makefile read
# LAYERS from here, so this is the one place that says what is built of what.
import glob
import os
import subprocess

NAME = 'aio'

_here = os.environ.get('AIO_PLUGIN_DIR', 'plugin')

# Lowest first: each may include the headers of those before it only.
LAYERS = ['base', 'proto', 'engine', 'app']
# The hosts: each sits on every layer above, and never includes the other.
HOSTS = ['uwsgi', 'testing']


def sources(layer):
    """The .c files of a layer (or host), relative to the plugin folder,
    without their extension, as uWSGI's builder wants them."""
    found = glob.glob(os.path.join(_here, layer, '*.c'))
    return sorted(os.path.relpath(path, _here)[:-2] for path in found)



def _pkg_cflags(package):
    """A library's include flags (libpq's headers are not in the default
    path on Debian)."""
    try:
        out = subprocess.run(['pkg-config', '--cflags', package], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


CFLAGS = [
    '-std=gnu11',
    # uwsgi.h is not ours: treat it as a system header so that -Werror
    # applies to our code only.
    '-isystem', '.uwsgi_plugins_builder',
    '-I%s' % _here,
    '-I%s/include' % _here,
    '-fvisibility=hidden',
    # Coroutine stacks lie next to each other with a guard region between
    # them: a large frame must touch its pages in turn and fault there,
    # never skip the guard into a neighbour's stack.
    '-fstack-clash-protection',
    '-Wall', '-Wextra', '-Werror', '-Wunused-parameter', '-Wshadow',
    '-Wno-missing-field-initializers',
] + _pkg_cflags('libpq')
# Calls between our own exported functions must never be interposed by
# another library's symbol of the same name.
LDFLAGS = ['-Wl,-Bsymbolic-functions']
LIBS = ['-luv', '-lhiredis', '-ljansson', '-lpq', '-lcurl', '-lcrypto', '-ldl', '-lm', '-lpthread']
# The plugin: every layer and the uWSGI host (libaio_testing is the same
# layers with the test host instead).
GCC_LIST = [name for layer in LAYERS + ['uwsgi'] for name in sources(layer)]
