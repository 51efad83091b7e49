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
#   make bench        benchmarks (not part of CI)

CC ?= gcc
PYTHON ?= python3
BUILD := build
PURE := acl arena auth buf coro http options params registry render request route template traversal tween utf8 wsframe
PURE_SRC := $(PURE:%=plugin/%.c)
HEADERS := $(wildcard plugin/*.h plugin/include/*.h)
UNIT := http utf8 wsframe params route template options registry request auth acl coro coro_ucontext
CFLAGS_UNIT := -std=gnu11 -g -O1 -Wall -Wextra -Werror -Iplugin -Iplugin/include
LIBS_UNIT := -lcmocka -ljansson -lcrypto -ldl -lm
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all build unit inproc inproc-asan integration sanitize unit-asan integration-asan check \
	test bench clean fuzz

all: build

build:
	$(PYTHON) uwsgiconfig.py

# ---- unit tests -------------------------------------------------------

$(BUILD)/unit/test_%: tests/unit/test_%.c $(PURE_SRC) $(HEADERS) tests/unit/testing.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) -o $@ $< $(PURE_SRC) $(LIBS_UNIT)

# the coroutine tests again, with the portable ucontext switch
$(BUILD)/unit/test_coro_ucontext: tests/unit/test_coro.c $(PURE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) -DAIO_CORO_UCONTEXT -o $@ $< $(PURE_SRC) $(LIBS_UNIT)

$(BUILD)/asan/unit/test_%: tests/unit/test_%.c $(PURE_SRC) $(HEADERS) tests/unit/testing.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) $(SAN_FLAGS) -o $@ $< $(PURE_SRC) $(LIBS_UNIT)

$(BUILD)/asan/unit/test_coro_ucontext: tests/unit/test_coro.c $(PURE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) $(SAN_FLAGS) -DAIO_CORO_UCONTEXT -o $@ $< $(PURE_SRC) $(LIBS_UNIT)

unit: $(UNIT:%=$(BUILD)/unit/test_%)
	@set -e; for t in $^; do echo "== $$t"; $$t; done

unit-asan: $(UNIT:%=$(BUILD)/asan/unit/test_%)
	@set -e; for t in $^; do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# ---- in-process tests (libaio_testing) ------------------------------------

# modules with tests of their own, built and run by `uwsgiconfig.py test`
VIEW_TESTS := $(patsubst views/%/tests/,%,$(wildcard views/*/tests/))
INPROC_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra -Werror -Iplugin/include

# $(1): the build directory (build or build/asan), $(2): extra flags
define run_inproc
	$(CC) $(INPROC_FLAGS) $(2) -DBUILD_DIR='"$(abspath $(1))"' -o $(1)/testing/test_helpers \
	    tests/testing/test_helpers.c -L$(1)/testing -laio_testing -lcmocka \
	    -Wl,-rpath,$(abspath $(1))/testing
	$(1)/testing/test_helpers
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
WS_CLIENT_SRC := tests/ws/wsclient.c plugin/wsframe.c plugin/utf8.c plugin/buf.c
$(BUILD)/ws/wstest: tests/ws/wstest.c $(WS_CLIENT_SRC) tests/ws/wsclient.h $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_UNIT) -Itests/ws -o $@ $< $(WS_CLIENT_SRC) -lcmocka

integration: build $(BUILD)/ws/wstest
	$(PYTHON) -m unittest discover -s tests/integration -t . -v

integration-asan: $(BUILD)/ws/wstest
	$(PYTHON) uwsgiconfig.py --sanitize
	AIO_SANITIZE=1 $(PYTHON) -m unittest discover -s tests/integration -t . -v

sanitize: unit-asan inproc-asan integration-asan

test: unit inproc integration

check: test sanitize fuzz

bench: build
	$(PYTHON) bench/run.py

clean:
	rm -rf $(BUILD)

# ---- fuzzing (clang's libFuzzer) -----------------------------------------

FUZZ_SECONDS ?= 20

$(BUILD)/fuzz/fuzz_wsframe: tests/fuzz/fuzz_wsframe.c plugin/wsframe.c plugin/utf8.c plugin/buf.c $(HEADERS)
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -Iplugin -Iplugin/include -o $@ $< plugin/wsframe.c plugin/utf8.c plugin/buf.c

# A bounded run from the seed corpus; new inputs it finds stay in build/.
fuzz: $(BUILD)/fuzz/fuzz_wsframe
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/fuzz_wsframe -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	    $(BUILD)/fuzz/corpus tests/fuzz/corpus
