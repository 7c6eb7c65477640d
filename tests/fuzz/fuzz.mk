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
# The targets are built with clang straight from the sources they need (not from the
# CMake library), with ASan + UBSan; zlib, libevent, jansson, libcurl and OpenSSL are
# the installed (uninstrumented) libraries.

FUZZ_CC       ?= clang
FUZZ_DIR      ?= build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_NICE     ?= nice -n 10
FUZZ_TARGETS  ?= fuzz_scan fuzz_gunzip_scan fuzz_config fuzz_http_ingest
FUZZ_CFLAGS   ?= -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                 -fno-sanitize-recover=undefined
FUZZ_CPPFLAGS := -std=gnu11 -Isrc -Itests/fuzz -D_GNU_SOURCE
FUZZ_RUN_ARGS ?= -rss_limit_mb=2048 -timeout=10
FUZZ_ENV      ?= ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_HEADERS := $(wildcard src/*/*.h) tests/fuzz/scan_invariants.h

# Sources and libraries of each target.
FUZZ_SRCS_fuzz_scan        := src/ingest/scan.c
FUZZ_LIBS_fuzz_scan        :=
FUZZ_SRCS_fuzz_gunzip_scan := src/ingest/gunzip.c src/ingest/scan.c
FUZZ_LIBS_fuzz_gunzip_scan := -lz
FUZZ_SRCS_fuzz_config      := src/core/config.c src/core/auth.c src/common/util.c src/common/log.c
FUZZ_LIBS_fuzz_config      := -lcurl -ljansson -lcrypto
# ratelimit.c and resource.c are picked up when present (ingest.c uses them).
FUZZ_SRCS_fuzz_http_ingest := src/ingest/ingest.c src/ingest/scan.c src/ingest/gunzip.c \
                              $(wildcard src/ingest/ratelimit.c src/core/resource.c) \
                              src/core/packet.c src/core/metrics.c src/core/auth.c \
                              src/core/auth_http.c src/core/config.c src/core/connlimit.c \
                              src/common/util.c src/common/log.c src/common/http_reply.c \
                              src/store/queue.c src/store/durable.c src/store/wal.c \
                              src/store/crc32c.c
FUZZ_LIBS_fuzz_http_ingest := -levent -levent_pthreads -ljansson -lz -lcurl -lcrypto -lisal \
                              -lpthread -lm

# Extra libFuzzer flags per target.
FUZZ_OPTS_fuzz_scan        := -dict=tests/fuzz/dict/json.dict
FUZZ_OPTS_fuzz_gunzip_scan := -dict=tests/fuzz/dict/json.dict
FUZZ_OPTS_fuzz_config      := -dict=tests/fuzz/dict/config.dict -close_fd_mask=3
FUZZ_OPTS_fuzz_http_ingest := -dict=tests/fuzz/dict/http.dict -max_len=16384

FUZZ_BINS := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-clean

fuzz-build: $(FUZZ_BINS)

# $(1) = target name
define FUZZ_TARGET_RULE
$(FUZZ_DIR)/$(1): tests/fuzz/$(1).c $$(FUZZ_SRCS_$(1)) $$(FUZZ_HEADERS) tests/fuzz/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$$(FUZZ_CC) $$(FUZZ_CFLAGS) $$(FUZZ_CPPFLAGS) tests/fuzz/$(1).c $$(FUZZ_SRCS_$(1)) \
	  $$(FUZZ_LIBS_$(1)) -o $$@
endef
$(foreach t,fuzz_scan fuzz_gunzip_scan fuzz_config fuzz_http_ingest,$(eval $(call FUZZ_TARGET_RULE,$(t))))

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
