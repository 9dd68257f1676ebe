# postern - a thin wrapper around Meson so that the usual commands work.
#   make            build into ./build
#   make run        install what is missing, build, start a demo server
#   make check      install what is missing, build, run every test
#   make install    PREFIX=/usr/local DESTDIR=
PREFIX ?= /usr/local
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build run check check-asan fuzz install clean check-banned

all: build

deps:
	@sh scripts/deps.sh --build-only

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build
	@sh scripts/run-demo.sh $(BUILD)/postern

check:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build
	@sh scripts/check.sh $(BUILD)

# The interop suites against an ASan/UBSan build of postern (about 2 minutes
# more than make check); a sanitizer report in any server log fails it.
check-asan:
	@sh scripts/deps.sh
	@[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	rm -rf build-asan/pytest
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 POSTERN_BIN=$(CURDIR)/build-asan/postern \
		/usr/bin/python3 -m pytest -q -n 2 -m "not perf" --basetemp=build-asan/pytest tests/interop
	@! grep -rlE 'runtime error|AddressSanitizer' build-asan/pytest

# Every libFuzzer harness in fuzz/ for FUZZ_SECONDS each (two at a time);
# make check runs each for a few seconds only.
FUZZ_SECONDS ?= 600
fuzz:
	@sh scripts/deps.sh --build-only
	@sh scripts/fuzz.sh $(FUZZ_SECONDS)

check-banned:
	@! git grep -nE '\<(strcpy|strcat|v?sprintf|gets|strtok|atoi)\(' -- 'src/*.c' 'src/*.h'

install: build
	meson configure $(BUILD) --prefix=$(PREFIX)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

clean:
	rm -rf $(BUILD) build-clang build-fuzz
