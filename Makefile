# Top-level wrapper: `make`, `make test`, `make demo`, `make test-asan`, `make bench`, `make bench-observe`, `make bench-routes`, `make lint`.
# Every target first makes sure the Debian packages are installed (scripts/setup-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?= --output-on-failure

.PHONY: all deps build test test-unit test-asan demo bench bench-observe bench-routes lint format clean config-doc

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

lint: build
	bash scripts/check-layers.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem --inline-suppr -I src src tools
	clang-tidy -p $(BUILD) --quiet $(shell find src tools -name '*.c')

# docs/CONFIG.md from the option table (the ctest doc/config checks it is fresh)
config-doc: build
	$(BUILD)/bin/logdistd --config-doc > docs/CONFIG.md

format:
	clang-format -i $(shell find src tools tests -name '*.[ch]')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) compile_commands.json

# libFuzzer targets: `make fuzz` (FUZZ_SECONDS per target, default 60); kept last so
# that `all` stays the default goal.
-include tests/fuzz/fuzz.mk
