#!/usr/bin/env python3
"""Builds uwsgi-aio.

    python3 uwsgiconfig.py                 plugin, libaio_testing and the example
                                           view modules into build/
    python3 uwsgiconfig.py --sanitize      the same with ASan+UBSan into build/asan/
    python3 uwsgiconfig.py module DIR      a view module of your own: DIR/*.c -> DIR.so
    python3 uwsgiconfig.py test DIR...     build module DIR and its tests (DIR/tests/*.c,
                                           linked with libaio_testing and cmocka), run them
    python3 uwsgiconfig.py bench           the benchmarks (listed in bench/run.py)
    python3 uwsgiconfig.py create --scaffold aio_starter|aio_websocket DIR
                                           a new project in DIR, standalone: it builds
                                           against an installed uwsgi-aio (make install)

The plugin is built by uWSGI's own plugin builder (`uwsgi --build-plugin`),
so it is compiled against the installed uWSGI's uwsgi.h (`uwsgi --dot-h`)
and compiler flags (`uwsgi --cflags`). View modules only need aio.h.
libaio_testing (build/testing/libaio_testing.so) is the same engine without
uWSGI, for tests that run views in-process (aio_testing.h).
"""
import argparse
import glob
import shlex
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.join(ROOT, 'plugin')
INCLUDE_DIR = os.path.join(PLUGIN_DIR, 'include')
SANITIZE_FLAGS = ['-fsanitize=address,undefined', '-fno-omit-frame-pointer',
                  '-fno-sanitize-recover=undefined']
# -fstack-clash-protection: a view's large frame (a big array, a VLA sized
# from the request) faults in its coroutine's guard region instead of
# writing into the stack of the coroutine below it.
C_FLAGS = ['-std=c11', '-D_POSIX_C_SOURCE=200809L', '-g', '-fstack-clash-protection', '-Wall',
           '-Wextra', '-Werror']
# A module of the user's (outside this checkout) gets GNU C with every
# declaration of the C library (usleep ...), warnings that do not stop the
# build, and the user's own CFLAGS last; stack-clash protection stays (see
# aio-stack-size in the README).
USER_C_FLAGS = ['-std=gnu11', '-g', '-fstack-clash-protection', '-Wall', '-Wextra']


def own_module(src_dir):
    """A module of this checkout (views/, tests/views/): the strict flags."""
    return os.path.abspath(src_dir).startswith(ROOT + os.sep)


def module_flags(src_dir, extra):
    if own_module(src_dir):
        return C_FLAGS + extra
    return USER_C_FLAGS + extra + shlex.split(os.environ.get('CFLAGS', ''))


def shown(path):
    """A path as the log shows it: relative to the checkout when inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def log(message):
    print('uwsgiconfig: %s' % message, flush=True)


def run(cmd, **kwargs):
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        sys.exit('uwsgiconfig: failed (%d): %s' % (result.returncode, ' '.join(cmd)))


def newest_mtime(paths):
    return max((os.path.getmtime(p) for p in paths), default=0)


def up_to_date(target, sources):
    return os.path.exists(target) and os.path.getmtime(target) >= newest_mtime(sources)


def compiler():
    return os.environ.get('CC', 'gcc')


def build_plugin(out_dir, sanitize):
    target = os.path.join(out_dir, 'aio_plugin.so')
    recipe = plugin_recipe()
    sources = ([p for layer in recipe['LAYERS'] + ['uwsgi']
                for p in glob.glob(os.path.join(PLUGIN_DIR, layer, '*.[ch]'))] +
               public_headers() + [os.path.join(PLUGIN_DIR, 'uwsgiplugin.py')])
    if up_to_date(target, sources):
        return target
    # uWSGI's builder writes uwsgi.h and the .so into the working directory.
    work = os.path.join(out_dir, 'plugin-build')
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ)
    env['PYTHON'] = sys.executable  # `uwsgi --build-plugin` runs $PYTHON (default: python)
    env['CC'] = compiler()
    env['AIO_PLUGIN_DIR'] = PLUGIN_DIR
    env['CFLAGS'] = ' '.join(SANITIZE_FLAGS if sanitize else [])
    env['LDFLAGS'] = ' '.join(SANITIZE_FLAGS if sanitize else [])
    log('building %s' % shown(target))
    run(['uwsgi', '--build-plugin', PLUGIN_DIR], cwd=work, env=env, stdout=subprocess.DEVNULL)
    os.replace(os.path.join(work, 'aio_plugin.so'), target)
    return target


def out_dir_of(sanitize):
    return os.path.join(ROOT, 'build', 'asan') if sanitize else os.path.join(ROOT, 'build')


def asset_dir_of(out_so):
    """Where a module's templates (and tests) go: the .so path without .so."""
    return out_so[:-3] if out_so.endswith('.so') else out_so + '.assets'


def plugin_recipe():
    """What plugin/uwsgiplugin.py says (ENGINE, CFLAGS, LIBS ...), with the
    include paths absolute, as the plugin build gets them."""
    os.environ['AIO_PLUGIN_DIR'] = PLUGIN_DIR
    recipe = {}
    with open(os.path.join(PLUGIN_DIR, 'uwsgiplugin.py')) as f:
        exec(compile(f.read(), 'uwsgiplugin.py', 'exec'), recipe)
    return recipe


def public_headers():
    return glob.glob(os.path.join(INCLUDE_DIR, 'uwsgi-aio', '*.h'))


def build_testing_lib(out_dir, sanitize):
    """libaio_testing.so: every layer (no uWSGI) and the test host."""
    target = os.path.join(out_dir, 'testing', 'libaio_testing.so')
    recipe = plugin_recipe()
    layers = recipe['LAYERS'] + ['testing']
    sources = [os.path.join(PLUGIN_DIR, name + '.c')
               for layer in layers for name in recipe['sources'](layer)]
    headers = ([p for layer in layers for p in glob.glob(os.path.join(PLUGIN_DIR, layer, '*.h'))] +
               public_headers())
    if up_to_date(target, sources + headers + [os.path.join(PLUGIN_DIR, 'uwsgiplugin.py')]):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    log('building %s' % shown(target))
    # uwsgi.h is not needed here: drop its -isystem directory
    cflags = recipe['CFLAGS']
    at = cflags.index('-isystem')
    flags = (cflags[:at] + cflags[at + 2:] + ['-fPIC', '-shared', '-O2', '-g'] +
             recipe['LDFLAGS'] + (SANITIZE_FLAGS if sanitize else []))
    run([compiler()] + flags + ['-o', target] + sources + recipe['LIBS'])
    return target


def build_module_tests(src_dir, out_so, sanitize):
    """Builds src_dir/tests/*.c against libaio_testing and cmocka, next to
    the module (<out_so without .so>/tests/; DIR/build/tests/ when that is the
    source directory itself), and returns their paths. Each
    test finds the module it tests in the macro AIO_TEST_MODULE."""
    tests = sorted(glob.glob(os.path.join(src_dir, 'tests', '*.c')))
    lib = build_testing_lib(out_dir_of(sanitize), sanitize)
    lib_dir = os.path.dirname(lib)
    asset_dir = asset_dir_of(out_so)
    if os.path.abspath(asset_dir) == os.path.abspath(src_dir):  # DIR.so beside DIR
        test_dir = os.path.join(src_dir, 'build', 'tests')        # a build directory, not tests/
    else:
        test_dir = os.path.join(asset_dir, 'tests')
    os.makedirs(test_dir, exist_ok=True)
    binaries = []
    for source in tests:
        binary = os.path.join(test_dir, os.path.basename(source)[:-2])
        if not up_to_date(binary, [source, lib, out_so]):
            log('building %s' % shown(binary))
            run([compiler()] + module_flags(src_dir, ['-O1']) + (SANITIZE_FLAGS if sanitize else []) +
                ['-I' + INCLUDE_DIR, '-DAIO_TEST_MODULE="%s"' % os.path.abspath(out_so),
                 '-o', binary, source, '-L' + lib_dir, '-laio_testing', '-lcmocka',
                 '-Wl,-rpath,' + os.path.abspath(lib_dir)])
        binaries.append(binary)
    return binaries


def pkg_config_flags(src_dir):
    """Flags for the libraries a module names in its `pkgconfig` file (one
    pkg-config package per line, e.g. libpq)."""
    path = os.path.join(src_dir, 'pkgconfig')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        packages = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    if not packages:
        return []
    result = subprocess.run(['pkg-config', '--cflags', '--libs'] + packages,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit('uwsgiconfig: %s needs %s: %s' % (src_dir, ', '.join(packages),
                                                   result.stderr.strip()))
    return result.stdout.split()


def build_module(src_dir, out_so, sanitize=False):
    """Compiles src_dir/*.c into out_so and copies src_dir/templates next to
    it (out_so without .so + /templates), where aio_render() looks."""
    name = os.path.basename(os.path.normpath(src_dir))
    sources = sorted(glob.glob(os.path.join(src_dir, '*.c')))
    if not sources:
        sys.exit('uwsgiconfig: no .c files in %s' % src_dir)
    headers = (glob.glob(os.path.join(src_dir, '*.h')) + public_headers() +
               glob.glob(os.path.join(src_dir, 'pkgconfig')))
    os.makedirs(os.path.dirname(os.path.abspath(out_so)), exist_ok=True)
    if not up_to_date(out_so, sources + headers):
        log('building %s' % shown(out_so))
        flags = module_flags(src_dir, ['-fPIC', '-shared', '-O2']) + (SANITIZE_FLAGS if sanitize else [])
        run([compiler()] + flags + ['-I' + INCLUDE_DIR, '-o', out_so] + sources +
            pkg_config_flags(src_dir))
    templates = os.path.join(src_dir, 'templates')
    asset_dir = asset_dir_of(out_so)
    if os.path.isdir(templates) and os.path.abspath(asset_dir) != os.path.abspath(src_dir):
        shutil.rmtree(os.path.join(asset_dir, 'templates'), ignore_errors=True)
        shutil.copytree(templates, os.path.join(asset_dir, 'templates'))
    return name


def build_all(sanitize):
    out_dir = out_dir_of(sanitize)
    os.makedirs(os.path.join(out_dir, 'views'), exist_ok=True)
    build_plugin(out_dir, sanitize)
    build_testing_lib(out_dir, sanitize)
    for src_dir in sorted(glob.glob(os.path.join(ROOT, 'views', '*', ''))):
        name = os.path.basename(os.path.normpath(src_dir))
        build_module(src_dir, os.path.join(out_dir, 'views', name + '.so'), sanitize)
    for src_dir in sorted(glob.glob(os.path.join(ROOT, 'tests', 'views', '*', ''))):
        name = os.path.basename(os.path.normpath(src_dir))
        build_module(src_dir, os.path.join(out_dir, 'test-views', name + '.so'), sanitize)
    return out_dir


def test_modules(src_dirs, output, sanitize):
    """Builds each module and its tests, runs the tests; the exit status."""
    if output and len(src_dirs) > 1:
        sys.exit('uwsgiconfig: -o works with one module only')
    failed = []
    for src_dir in src_dirs:
        out = output or os.path.normpath(src_dir) + '.so'
        build_module(src_dir, out, sanitize)
        binaries = build_module_tests(src_dir, out, sanitize)
        if not binaries:
            log('%s has no tests (%s)' % (src_dir, os.path.join(src_dir, 'tests', '*.c')))
        for binary in binaries:
            log('running %s' % shown(binary))
            if subprocess.run([binary]).returncode != 0:
                failed.append(binary)
    for binary in failed:
        log('FAILED: %s' % shown(binary))
    return 1 if failed else 0


SCAFFOLDS = os.path.join(ROOT, 'scaffolds')


def scaffold_names():
    return sorted(name for name in os.listdir(SCAFFOLDS)
                  if name != 'common' and os.path.isdir(os.path.join(SCAFFOLDS, name)))


def create_project(scaffold, target):
    """Writes scaffolds/common and scaffolds/<scaffold> into `target` (new,
    or empty), with @@project@@ (in names and contents) the project's name:
    the directory's, which must be a C identifier (it names the module)."""
    project = os.path.basename(os.path.normpath(target))
    if not project.isidentifier() or not project.isascii():
        sys.exit('uwsgiconfig: %r cannot name a project: the directory name must be a C '
                 'identifier (letters, digits, _; not a digit first)' % project)
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        sys.exit('uwsgiconfig: %s exists and is not an empty directory' % target)
    for source in (os.path.join(SCAFFOLDS, 'common'), os.path.join(SCAFFOLDS, scaffold)):
        for dirpath, _, files in os.walk(source):
            rel = os.path.relpath(dirpath, source)
            for name in files:
                with open(os.path.join(dirpath, name)) as f:
                    text = f.read().replace('@@project@@', project)
                out = os.path.join(target, rel, name.replace('@@project@@', project))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with open(out, 'w') as f:
                    f.write(text)
    log('created %s (%s): cd %s && make && make test && uwsgi --ini development.ini'
        % (target, scaffold, target))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sanitize', action='store_true',
                        help='build with AddressSanitizer and UndefinedBehaviorSanitizer')
    sub = parser.add_subparsers(dest='command')
    module = sub.add_parser('module', help='build a view module of your own')
    module.add_argument('src_dir', help='directory with the module sources (*.c, templates/)')
    module.add_argument('-o', '--output', help='output .so (default: SRC_DIR.so)')
    test = sub.add_parser('test', help='build view modules and run their tests (DIR/tests/*.c)')
    test.add_argument('src_dirs', nargs='+', metavar='DIR', help='module source directory')
    test.add_argument('-o', '--output', help='output .so (one DIR only; default: DIR.so)')
    bench = sub.add_parser('bench', help='run the benchmark')
    bench.add_argument('args', nargs=argparse.REMAINDER)
    create = sub.add_parser('create', help='a new project from a scaffold')
    create.add_argument('--scaffold', required=True, choices=scaffold_names())
    create.add_argument('dir', help='the new project\'s directory (its name names the module)')
    args = parser.parse_args()

    if args.command == 'module':
        out = args.output or os.path.normpath(args.src_dir) + '.so'
        build_module(args.src_dir, out, args.sanitize)
        log('built %s' % out)
    elif args.command == 'test':
        sys.exit(test_modules(args.src_dirs, args.output, args.sanitize))
    elif args.command == 'create':
        create_project(args.scaffold, args.dir)
    elif args.command == 'bench':
        build_all(False)
        os.execv(sys.executable, [sys.executable, os.path.join(ROOT, 'bench', 'run.py')] +
                 args.args)
    else:
        build_all(args.sanitize)


if __name__ == '__main__':
    main()
