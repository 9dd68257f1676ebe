# postern - a thin wrapper around Meson so that the usual commands work.
#   make            build into ./build
#   make run        install what is missing, build, start a demo server
#   make check      install what is missing, build, run every test
#   make install    PREFIX=/usr/local DESTDIR=
PREFIX ?= /usr/local
BUILD ?= build
MESON_OPTS ?=

.PHONY: all deps build run check unit interop install clean check-banned fuzz bench

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

check-banned:
	@! git grep -nE '\<(strcpy|strcat|v?sprintf|gets|strtok|atoi)\(' -- 'src/*.c' 'src/*.h'

install: build
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

clean:
	rm -rf $(BUILD) build-clang
