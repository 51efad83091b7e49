# `uwsgi --build-plugin bench/wsbare`: the websocket benchmark's baseline.
NAME = 'wsbare'
CFLAGS = ['-isystem', '.uwsgi_plugins_builder', '-Wall', '-Werror']
LDFLAGS = []
LIBS = []
GCC_LIST = ['wsbare']
