# twokey build. `make` builds build/release/twokey; `make test` installs
# what the build and tests need, builds with sanitizers and runs every test;
# `make demo` starts a demo server; `make bench` measures.
#
# MODE=release (default) | asan (ASan+UBSan, test hooks) | tsan (ThreadSanitizer)
#   | debug (valgrind)

MODE ?= release
CC ?= cc
PKGS := libmicrohttpd jansson yaml-0.1 sqlite3 libcrypto libcurl ldap libqrencode libargon2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# -Wno-format-truncation: messages are cut to their bounded buffers on purpose.
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-truncation -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
BASE_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	$(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP

ifeq ($(MODE),tsan)
MODE_CFLAGS := -O1 -g -fsanitize=thread -DTK_TEST_HOOKS
MODE_LDFLAGS := -fsanitize=thread
else ifeq ($(MODE),asan)
MODE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -DTK_TEST_HOOKS
MODE_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(MODE),debug)
MODE_CFLAGS := -O0 -g -DTK_TEST_HOOKS
MODE_LDFLAGS :=
else
MODE_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
MODE_LDFLAGS := -Wl,-z,relro,-z,now
endif

CFLAGS_ALL := $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(MODE_LDFLAGS) $(PKG_LIBS) -lpthread $(LDLIBS)

B := build/$(MODE)
LIB_SRC := $(wildcard src/core/*.c src/audit/*.c src/store/*.c src/app/*.c src/http/*.c \
	src/verify/*.c src/connectors/*.c src/web/*.c)
# the console's templates and assets, embedded by src/web/assets.S (.incbin)
WEB_EMBED := $(wildcard src/web/templates/*.html src/web/assets/*)
LIB_ASM := $(wildcard src/web/*.S)
CLI_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard bench/bench_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(LIB_ASM:%.S=$(B)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# test-only driver: runs one connector operation outside the engine
CONN_DRIVER := $(B)/tests/conn_driver
# test-only driver: sends one message through a directory file's notify section
NOTIFY_DRIVER := $(B)/tests/notify_driver
# test-only driver: runs the console's OIDC login (begin, finish) from stdin
OIDC_DRIVER := $(B)/tests/oidc_driver
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all build deps test units integration e2e tsan demo bench bench-bins valgrind-units clean lint

all: build
build: $(B)/twokey

$(B)/libtwokey.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(B)/twokey: $(CLI_OBJ) $(B)/libtwokey.a
	$(CC) -o $@ $(CLI_OBJ) $(B)/libtwokey.a $(LDLIBS_ALL)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(B)/%.o: %.S $(WEB_EMBED)
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libtwokey.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libtwokey.a -lcmocka $(LDLIBS_ALL)

$(CONN_DRIVER): tests/conn/conn_driver.c $(B)/libtwokey.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libtwokey.a $(LDLIBS_ALL)

$(NOTIFY_DRIVER): tests/conn/notify_driver.c $(B)/libtwokey.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libtwokey.a $(LDLIBS_ALL)

$(OIDC_DRIVER): tests/conn/oidc_driver.c $(B)/libtwokey.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libtwokey.a $(LDLIBS_ALL)

$(B)/bench/%: bench/%.c $(B)/libtwokey.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(B)/libtwokey.a $(LDLIBS_ALL)

deps:
	@scripts/deps.sh build

# The whole suite: style gate, sanitizer build, unit tests, integration
# tests against the real binary, then the unit tests again under valgrind.
# lint, ASan+UBSan units, integration and browser tests, the server under
# ThreadSanitizer, 50 SIGKILLs under load (tests/stress/crash.py), and the
# units again under valgrind.
test: deps
	@scripts/lint.sh
	$(MAKE) MODE=asan build units bench-bins
	$(MAKE) MODE=asan integration
	$(MAKE) MODE=asan e2e
	$(MAKE) tsan
	python3 tests/stress/crash.py build/asan/twokey
	$(MAKE) valgrind-units

units: $(UNIT_BIN)
	@scripts/run-units.sh $(UNIT_BIN)

integration: $(B)/twokey $(CONN_DRIVER) $(NOTIFY_DRIVER) $(OIDC_DRIVER)
	@scripts/deps.sh servers
	TWOKEY_BIN=$(abspath $(B)/twokey) TWOKEY_CONN_DRIVER=$(abspath $(CONN_DRIVER)) \
	    TWOKEY_NOTIFY_DRIVER=$(abspath $(NOTIFY_DRIVER)) \
	    TWOKEY_OIDC_DRIVER=$(abspath $(OIDC_DRIVER)) \
	    python3 tests/integration/run.py

# The web console in a real browser: playwright-core drives Debian's
# chromium headless against the server (tests/e2e; the OIDC test also
# starts tests/servers' provider). TWOKEY_SCREENSHOTS=1 rewrites docs/img.
e2e: $(B)/twokey
	@scripts/deps.sh e2e
	@scripts/deps.sh servers
	TWOKEY_BIN=$(abspath $(B)/twokey) \
	    node --test --test-concurrency=1 $(sort $(wildcard tests/e2e/*.test.js))

# The server under concurrent mixed load, built with ThreadSanitizer.
tsan:
	$(MAKE) MODE=tsan build
	python3 tests/stress/concurrency.py build/tsan/twokey

valgrind-units:
	$(MAKE) MODE=debug build $(addprefix build/debug/tests/,$(notdir $(UNIT_BIN)))
	@scripts/run-units.sh --valgrind $(addprefix build/debug/tests/,$(notdir $(UNIT_BIN)))

demo: deps
	$(MAKE) MODE=release build
	@scripts/demo.sh build/release/twokey

# the benchmarks' binaries, built (not run) by `make test` so a change that
# breaks them is caught there
bench-bins: $(BENCH_BIN)

bench: deps
	@scripts/deps.sh bench
	@scripts/deps.sh servers
	$(MAKE) MODE=release build $(BENCH_BIN)
	@scripts/bench.sh build/release

lint:
	@scripts/lint.sh

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
