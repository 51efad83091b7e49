# Developer entry points. The build itself is uwsgiconfig.py (uWSGI's plugin
# builder); this file runs tests and benchmarks.
#
#   make              build the plugin and the example view modules
#   make unit         cmocka unit tests of the pure logic
#   make inproc       the engine in-process through libaio_testing: its own
#                     tests and the view modules' tests (views/*/tests)
#   make integration  start real uwsgi processes and talk HTTP to them
#   make sanitize     unit + inproc + integration tests under ASan/UBSan/LSan
#   make check        all of the above (what CI runs)
#   make install      PREFIX=/usr/local (and DESTDIR): the plugin, the headers,
#                     libaio_testing and pkg-config files (uwsgi-aio,
#                     uwsgi-aio-testing)
#   make bench        benchmarks (not part of CI)

CC ?= gcc
PYTHON ?= python3
BUILD := build
# The layers, lowest first, as plugin/uwsgiplugin.py lists them: a layer's
# sources are the .c files of its folder, and a unit test of a layer links
# that layer and those below it only (tests/unit/<layer>/ mirrors plugin/).
LAYERS := $(shell cd plugin && $(PYTHON) -c 'exec(open("uwsgiplugin.py").read()); print(*LAYERS)')
$(if $(LAYERS),,$(error cannot read LAYERS from plugin/uwsgiplugin.py))
HEADERS := $(wildcard plugin/*/*.h plugin/include/uwsgi-aio/*.h)
CFLAGS_UNIT := -std=gnu11 -g -O1 -fstack-clash-protection -Wall -Wextra -Werror -Iplugin -Iplugin/include -Itests $(shell pkg-config --cflags libpq)
LIBS_UNIT := -lcmocka -luv -lhiredis -ljansson -lpq -lcurl -lcrypto -ldl -lm -lpthread
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# SRC_<layer>: the sources of that layer and of every layer below it
below :=
$(foreach l,$(LAYERS),$(eval below += $(wildcard plugin/$(l)/*.c))$(eval SRC_$(l) := $(below)))

UNIT_SRC := $(foreach l,$(LAYERS),$(wildcard tests/unit/$(l)/test_*.c))
UNIT := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%) $(BUILD)/unit/engine/test_coro_ucontext
UNIT_ASAN := $(UNIT:$(BUILD)/%=$(BUILD)/asan/%)

.PHONY: install all build build-asan binaries unit inproc inproc-asan integration sanitize unit-asan \
	integration-asan check test bench clean fuzz layers

all: build

build:
	$(PYTHON) uwsgiconfig.py

# ---- unit tests -------------------------------------------------------

# $(1): layer
define unit_rules
$(BUILD)/unit/$(1)/test_%: tests/unit/$(1)/test_%.c $$(SRC_$(1)) $$(HEADERS) tests/unit/testing.h
	@mkdir -p $$(@D)
	@echo "  CC $$@"; $$(CC) $$(CFLAGS_UNIT) -o $$@ $$< $$(SRC_$(1)) $$(LIBS_UNIT)

$(BUILD)/asan/unit/$(1)/test_%: tests/unit/$(1)/test_%.c $$(SRC_$(1)) $$(HEADERS) tests/unit/testing.h
	@mkdir -p $$(@D)
	@echo "  CC $$@"; $$(CC) $$(CFLAGS_UNIT) $$(SAN_FLAGS) -o $$@ $$< $$(SRC_$(1)) $$(LIBS_UNIT)
endef
$(foreach l,$(LAYERS),$(eval $(call unit_rules,$(l))))

# the coroutine tests again, with the portable ucontext switch
$(BUILD)/unit/engine/test_coro_ucontext: tests/unit/engine/test_coro.c $(SRC_engine) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) -DAIO_CORO_UCONTEXT -o $@ $< $(SRC_engine) $(LIBS_UNIT)

$(BUILD)/asan/unit/engine/test_coro_ucontext: tests/unit/engine/test_coro.c $(SRC_engine) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) $(SAN_FLAGS) -DAIO_CORO_UCONTEXT -o $@ $< $(SRC_engine) $(LIBS_UNIT)

unit: layers $(UNIT)
	@set -e; for t in $(UNIT); do echo "== $$t"; $$t; done

unit-asan: $(UNIT_ASAN)
	@set -e; for t in $^; do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# ---- the layers' include rules (tools/check-layers.sh) ------------------------

layers:
	bash tools/check-layers.sh

# ---- in-process tests (libaio_testing) ------------------------------------

# modules with tests of their own, built and run by `uwsgiconfig.py test`
VIEW_TESTS := $(patsubst views/%/tests/,%,$(wildcard views/*/tests/))
INPROC_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra -Werror -Iplugin/include

# $(1): the build directory (build or build/asan), $(2): extra flags
define run_inproc
	@set -e; for src in tests/testing/test_*.c; do \
	    bin=$(1)/testing/$$(basename $$src .c); \
	    $(CC) $(INPROC_FLAGS) $(2) -DBUILD_DIR='"$(abspath $(1))"' -o $$bin $$src \
	        -L$(1)/testing -laio_testing -lcmocka -ljansson -Wl,-rpath,$(abspath $(1))/testing; \
	    echo "== $$bin"; $$bin; done
	@set -e; for m in $(VIEW_TESTS); do \
	    $(PYTHON) uwsgiconfig.py $(3) test views/$$m -o $(1)/views/$$m.so; done
endef

inproc: build
	$(call run_inproc,$(BUILD),,)

inproc-asan:
	$(PYTHON) uwsgiconfig.py --sanitize
	$(call run_inproc,$(BUILD)/asan,$(SAN_FLAGS),--sanitize)

# ---- integration tests ------------------------------------------------

# a websocket client in C (the tutorial's WSTest), run against live servers
WS_CLIENT_SRC := tests/ws/wsclient.c $(SRC_proto)
$(BUILD)/ws/wstest: tests/ws/wstest.c $(WS_CLIENT_SRC) tests/ws/wsclient.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) -Itests/ws -o $@ $< $(WS_CLIENT_SRC) -lcmocka

# The plain run serves every HTTP test on http11-socket (keep-alive), the
# sanitized run on http-socket: the suite passes on both socket kinds.
integration: build $(BUILD)/ws/wstest
	AIO_TEST_HTTP_SOCKET=http11-socket $(PYTHON) -m unittest discover -s tests/integration -t . -v

integration-asan: $(BUILD)/ws/wstest
	$(PYTHON) uwsgiconfig.py --sanitize
	AIO_SANITIZE=1 AIO_TEST_HTTP_SOCKET=http-socket $(PYTHON) -m unittest discover -s tests/integration -t . -v

sanitize: unit-asan inproc-asan integration-asan

test: unit inproc integration

check: test sanitize fuzz

bench: build
	$(PYTHON) bench/run.py

clean:
	rm -rf $(BUILD)

# ---- fuzzing (clang's libFuzzer) -----------------------------------------

FUZZ_SECONDS ?= 20

FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Iplugin -Iplugin/include

# the parsers are in the protocol layer: a target links it and the base
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(SRC_proto) $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -o $@ $< $(SRC_proto)

# the route patterns are in the app layer: this target links route.c and
# the base it uses, not the rest of the app
FUZZ_ROUTE_SRC := plugin/app/route.c plugin/app/routeindex.c $(SRC_base)
$(BUILD)/fuzz/fuzz_route $(BUILD)/fuzz/fuzz_routeindex: $(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c \
		$(FUZZ_ROUTE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_ROUTE_SRC)

# templates are in the app layer too, and render JSON contexts (jansson)
FUZZ_TEMPLATE_SRC := plugin/app/template.c $(SRC_base)
$(BUILD)/fuzz/fuzz_template: tests/fuzz/fuzz_template.c $(FUZZ_TEMPLATE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_TEMPLATE_SRC) -ljansson

# A bounded run of every target from its seed corpus (tests/fuzz/corpus-<name>),
# two at a time (the two cores CI has); new inputs it finds stay in build/.
# Each target's output goes to build/fuzz/fuzz_<name>.log, shown whole if it
# fails.
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_JOBS ?= 2

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@$(MAKE) --no-print-directory -j$(FUZZ_JOBS) $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-run-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(BUILD)/fuzz/corpus-$*
	@if $(BUILD)/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=60 -max_len=8192 -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus-$* tests/fuzz/corpus-$* > $(BUILD)/fuzz/fuzz_$*.log 2>&1; then \
	    echo "== fuzz_$* ($(FUZZ_SECONDS) s): $$(grep -a '^stat::number_of_executed_units' \
	        $(BUILD)/fuzz/fuzz_$*.log | tr -s ' ')"; \
	else \
	    cat $(BUILD)/fuzz/fuzz_$*.log; echo "== fuzz_$* FAILED"; exit 1; \
	fi

# ---- every binary the checks run, built first two at a time -------------------
# (`make -j2 binaries && make check`: the checks themselves run one after the
# other, since the integration tests measure time)

build-asan:
	$(PYTHON) uwsgiconfig.py --sanitize

binaries: build build-asan $(UNIT) $(UNIT_ASAN) $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%) \
	$(BUILD)/ws/wstest

# ---- installing -------------------------------------------------------------------

# The plugin goes where `plugin = aio` finds it: uWSGI's plugin directory
# under PREFIX (Debian's uwsgi looks in /usr/lib/uwsgi/plugins; for another
# prefix, `plugin-dir = $$(pkg-config --variable=plugindir uwsgi-aio)`).
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define AIO_API_VERSION \([0-9]*\).*/\1/p' plugin/include/uwsgi-aio/aio.h).0
INSTALL_ROOT := $(DESTDIR)$(PREFIX)

install: build
	install -d $(INSTALL_ROOT)/lib/uwsgi/plugins $(INSTALL_ROOT)/include/uwsgi-aio \
	    $(INSTALL_ROOT)/lib/pkgconfig
	install -m 0755 $(BUILD)/aio_plugin.so $(INSTALL_ROOT)/lib/uwsgi/plugins/aio_plugin.so
	install -m 0755 $(BUILD)/testing/libaio_testing.so $(INSTALL_ROOT)/lib/libaio_testing.so
	install -m 0644 plugin/include/uwsgi-aio/*.h $(INSTALL_ROOT)/include/uwsgi-aio/
	for pc in uwsgi-aio uwsgi-aio-testing; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' tools/pkgconfig/$$pc.pc.in \
	        > $(INSTALL_ROOT)/lib/pkgconfig/$$pc.pc; done
	@echo "installed under $(INSTALL_ROOT): PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig finds uwsgi-aio"
