# Top-level wrapper: `make`, `make test`, `make demo`, `make test-asan`, `make bench`, `make bench-observe`,
# `make bench-routes`, `make bench-cluster`, `make lint`, `make install` (PREFIX, DESTDIR), `make deb` (the Debian package, in
# build-deb/), `make deb-test`.
# Every target first makes sure the Debian packages are installed (scripts/setup-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?= --output-on-failure
PREFIX     ?= /usr/local
DESTDIR    ?=
DEB_BUILD  ?= build-deb

.PHONY: all deps build test test-unit test-asan demo bench bench-observe bench-routes bench-cluster lint format clean \
        config-doc install deb deb-test

all: build

deps:
	@bash scripts/setup-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	@ln -sf $(BUILD)/compile_commands.json compile_commands.json

test: build
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-unit: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -L unit

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DLOGDIST_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LOGDIST_SANITIZED=1 ctest $(CTEST_ARGS)

demo: build
	python3 scripts/demo.py $(BUILD)/bin

bench: build
	bash bench/run.sh

# what /metrics, the dashboard polling and reloads cost (records per CPU-s, same run)
bench-observe: build
	bash bench/observe.sh

# what content routes (0, 5, 50; exact/set and glob) and key affinity cost (same run)
bench-routes: build
	bash bench/routes.sh

# 20 logdistd nodes against a 3-member etcd: config propagation p50/p99, etcd load, 200-node estimate
bench-cluster: build
	bash bench/cluster_scale.sh

lint: build
	bash scripts/check-layers.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr -I src src tools
	clang-tidy -p $(BUILD) --quiet $(shell find src tools -name '*.c')

# docs/CONFIG.md from the option table (the ctest doc/config checks it is fresh)
config-doc: build
	$(BUILD)/bin/logdistd --config-doc > docs/CONFIG.md

# Binaries, man pages, the sample config and the systemd unit (cmake/install.cmake).
# PREFIX is given to CMake (GNUInstallDirs: PREFIX=/usr puts the config in /etc/logdist
# and the unit in systemd's unit dir); DESTDIR stages the tree, e.g. for a package.
install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# The Debian package (debian/, dpkg-buildpackage + debhelper) from the tracked files
# of this tree, built in $(DEB_BUILD)/; the .deb lands in $(DEB_BUILD)/.
deb: deps
	bash packaging/build-deb.sh $(DEB_BUILD)

# `make deb`, then the package in a scratch root and (as root) dpkg -i / --purge on
# this machine: --version, --check-config, the enabled unit (packaging/test-deb.sh);
# then (as root) booted under systemd in a systemd-nspawn container: Type=notify,
# the sandbox, reload, stop and WAL replay (packaging/test-systemd.sh)
deb-test: deb
	bash packaging/test-deb.sh $(DEB_BUILD)/logdist_*.deb
	@if [ "$$(id -u)" = 0 ]; then bash packaging/test-systemd.sh $(DEB_BUILD)/logdist_*.deb; \
	 else echo "deb-test: not root: the systemd boot test is skipped"; fi

format:
	clang-format -i $(shell find src tools tests -name '*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_BUILD) compile_commands.json

# libFuzzer targets: `make fuzz` (FUZZ_SECONDS per target, default 60); kept last so
# that `all` stays the default goal.
-include tests/fuzz/fuzz.mk
