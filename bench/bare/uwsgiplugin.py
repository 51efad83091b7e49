# `uwsgi --build-plugin bench/bare`: the benchmark's baseline plugin.
NAME = 'bare'
CFLAGS = ['-isystem', '.uwsgi_plugins_builder', '-Wall', '-Werror']
LDFLAGS = []
LIBS = []
GCC_LIST = ['bare']
