# tests/fuzz/fuzz.mk - libFuzzer targets; included from the top-level Makefile
# (paths are relative to the repository root).
#
#   make fuzz-build                     build every target into build-fuzz/
#   make fuzz                           build, then run each target FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_TARGETS=fuzz_scan FUZZ_SECONDS=600
#   make fuzz-clean
#
# Each target runs on build-fuzz/corpus/<target>/ (seeded from tests/fuzz/corpus/<target>/,
# new inputs accumulate there) plus tests/fuzz/regressions/<target>/ (read only); crashes,
# leaks and timeouts go to build-fuzz/artifacts/<target>-*. Reproduce one with
#   build-fuzz/<target> build-fuzz/artifacts/<target>-crash-...
# The targets are built with clang, ASan + UBSan, against an archive of every module
# compiled the same way (build-fuzz/liblogdist_fuzz.a, not the CMake library); zlib,
# libevent, jansson, libcurl, OpenSSL and SQLite are the installed (uninstrumented)
# libraries. The same target sources are also built by CMake with the project's compiler
# into replay drivers (tests/fuzz/replay.cmake): ctest's unit/fuzz_replay_<target> runs
# each target over its corpus and regressions on every `make test`.

FUZZ_CC       ?= clang
FUZZ_DIR      ?= build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_NICE     ?= nice -n 10
FUZZ_ALL      := fuzz_scan fuzz_gunzip_scan fuzz_config fuzz_http_ingest fuzz_wal \
                 fuzz_deadletter fuzz_admin_body fuzz_forward fuzz_otlp fuzz_syslog fuzz_bulk fuzz_prom \
                 fuzz_field fuzz_etcd
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_CFLAGS   ?= -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined
FUZZ_CPPFLAGS := -std=gnu11 -Isrc -Itests/fuzz -I$(FUZZ_DIR)/gen -D_GNU_SOURCE
FUZZ_RUN_ARGS ?= -rss_limit_mb=2048 -timeout=10
FUZZ_ENV      ?= ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_HEADERS := $(wildcard src/*/*.h) $(wildcard tests/fuzz/*.h)

# Every module (src/<layer>/*.c, not the daemon's main) compiled once with coverage
# instrumentation into one archive; each target links only the objects it uses, so a
# target keeps building when a module it uses gains a new file or dependency.
FUZZ_LIB_SRCS := $(wildcard src/*/*.c)
FUZZ_LIB_OBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_LIB      := $(FUZZ_DIR)/liblogdist_fuzz.a
# Protocol Buffers schemas (src/proto/**/*.proto, as CMakeLists.txt compiles them): protoc-c
# writes their code into $(FUZZ_DIR)/gen/ (found as "otlp/..." like build/gen/), compiled
# into the same archive; every module object waits for the generated headers.
FUZZ_PROTOS     := $(shell find src/proto -name '*.proto' 2>/dev/null)
FUZZ_PROTO_C    := $(patsubst src/proto/%.proto,$(FUZZ_DIR)/gen/%.pb-c.c,$(FUZZ_PROTOS))
FUZZ_PROTO_OBJS := $(patsubst $(FUZZ_DIR)/gen/%.c,$(FUZZ_DIR)/genobj/%.o,$(FUZZ_PROTO_C))
FUZZ_LIBS     := -lprotobuf-c -lmsgpackc -levent_pthreads -levent_openssl -levent -lhttp_parser -lcurl -ljansson -lz -lisal \
                 -lsqlite3 -lssl -lcrypto -lpthread -lm

# Extra libFuzzer flags per target.
FUZZ_OPTS_fuzz_scan        := -dict=tests/fuzz/dict/json.dict
FUZZ_OPTS_fuzz_gunzip_scan := -dict=tests/fuzz/dict/json.dict
FUZZ_OPTS_fuzz_config      := -dict=tests/fuzz/dict/config.dict -close_fd_mask=3
FUZZ_OPTS_fuzz_http_ingest := -dict=tests/fuzz/dict/http.dict -max_len=16384
FUZZ_OPTS_fuzz_wal         := -dict=tests/fuzz/dict/wal.dict -max_len=65536 -malloc_limit_mb=256 \
                              -close_fd_mask=3
FUZZ_OPTS_fuzz_deadletter  := -dict=tests/fuzz/dict/deadletter.dict -max_len=65536 \
                              -malloc_limit_mb=256 -close_fd_mask=3
FUZZ_OPTS_fuzz_admin_body  := -dict=tests/fuzz/dict/admin.dict -max_len=8192
FUZZ_OPTS_fuzz_forward     := -dict=tests/fuzz/dict/forward.dict -max_len=65536 -malloc_limit_mb=512
FUZZ_OPTS_fuzz_otlp        := -dict=tests/fuzz/dict/otlp.dict -max_len=16384
FUZZ_OPTS_fuzz_syslog      := -dict=tests/fuzz/dict/syslog.dict -max_len=4096
FUZZ_OPTS_fuzz_bulk        := -dict=tests/fuzz/dict/bulk.dict -max_len=16384
FUZZ_OPTS_fuzz_prom        := -dict=tests/fuzz/dict/prom.dict -max_len=8192
FUZZ_OPTS_fuzz_field       := -dict=tests/fuzz/dict/field.dict -max_len=4096

FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-clean

fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: src/%.c $(FUZZ_HEADERS) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) -c $< -o $@

$(FUZZ_DIR)/gen/%.pb-c.c $(FUZZ_DIR)/gen/%.pb-c.h: src/proto/%.proto
	@mkdir -p $(FUZZ_DIR)/gen
	cd src/proto && protoc-c --proto_path=. --c_out=$(abspath $(FUZZ_DIR)/gen) $*.proto

$(FUZZ_DIR)/genobj/%.o: $(FUZZ_DIR)/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) -c $< -o $@

$(FUZZ_LIB_OBJS): | $(FUZZ_PROTO_C)

$(FUZZ_LIB): $(FUZZ_LIB_OBJS) $(FUZZ_PROTO_OBJS)
	rm -f $@
	ar rcs $@ $^

# $(1) = target name
define FUZZ_TARGET_RULE
$(FUZZ_DIR)/$(1): tests/fuzz/$(1).c $$(FUZZ_LIB) $$(FUZZ_HEADERS) tests/fuzz/fuzz.mk
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) -fsanitize=fuzzer $$(FUZZ_CPPFLAGS) tests/fuzz/$(1).c \
	  $$(FUZZ_LIB) $$(FUZZ_LIBS) -o $$@
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call FUZZ_TARGET_RULE,$(t))))

# Shell fragment running target $(1) (appends it to $$failed when it finds something).
define FUZZ_RUN
  mkdir -p $(FUZZ_DIR)/corpus/$(1); \
  if [ -d tests/fuzz/corpus/$(1) ]; then cp -n tests/fuzz/corpus/$(1)/* $(FUZZ_DIR)/corpus/$(1)/ 2>/dev/null || true; fi; \
  extra=""; if [ -d tests/fuzz/regressions/$(1) ]; then extra=tests/fuzz/regressions/$(1); fi; \
  echo "== $(1): $(FUZZ_SECONDS) s"; \
  $(FUZZ_ENV) $(FUZZ_NICE) $(FUZZ_DIR)/$(1) $(FUZZ_DIR)/corpus/$(1) $$extra \
    -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN_ARGS) $(FUZZ_OPTS_$(1)) \
    -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- || failed="$$failed $(1)";
endef

# Runs every target even when one fails; fails at the end if any did.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_DIR)/artifacts; failed=""; \
	$(foreach t,$(FUZZ_TARGETS),$(call FUZZ_RUN,$(t))) \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (see $(FUZZ_DIR)/artifacts/)"; exit 1; fi; \
	echo "fuzz: all targets ran $(FUZZ_SECONDS) s without a finding"

fuzz-clean:
	rm -rf $(FUZZ_DIR)
