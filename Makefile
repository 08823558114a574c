# c2watch — build, test, sanitizers, demo.
# Flavours live in their own build directories: build/ (release+debug info,
# profile-guided: see "Profile-guided build" below) and build/asan/
# (AddressSanitizer + UndefinedBehaviorSanitizer).

CC       ?= cc
PKGS     := rdkafka yajl yaml-0.1 zlib
CSTD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O3 -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(XCFLAGS) -Iinclude -MMD -MP
LIBS     := -lrdkafka -lyajl -lyaml -lz -lm -lpthread
TESTLIBS := -lcriterion

BUILD    ?= build
SRC      := $(sort $(wildcard consumer/*.c))
LIBSRC   := $(filter-out consumer/main.c,$(SRC))
OBJ      := $(SRC:consumer/%.c=$(BUILD)/obj/%.o)
LIBOBJ   := $(LIBSRC:consumer/%.c=$(BUILD)/obj/%.o)
TESTSRC  := $(sort $(wildcard tests/test_*.c))
TESTBIN  := $(TESTSRC:tests/%.c=$(BUILD)/tests/%)
DEPS     := $(OBJ:.o=.d) $(TESTBIN:=.d)

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# ---- Profile-guided build (docs/performance.md, "Fifth round") ----
# With PGO=1 (the default with gcc) the library and binary are compiled
# twice: first with -fprofile-generate into $(BUILD)/pgo-gen/, whose c2watch
# replays a training workload (deploy/pgo-train.sh: generated data and the
# fixtures), then with -fprofile-use, from the profiles it wrote. Any change
# to the sources retrains. PGO=0 gives one plain build; the sanitizer and
# fuzz builds are always plain. The flags are gcc's (11 or later, for
# -dumpdir and -dumpbase as below): with another compiler (CC=clang) the
# default is 0.
ifndef PGO
PGO := $(if $(filter 1,$(shell $(CC) -v 2>&1 | grep -c '^gcc version')),1,0)
endif
ifeq ($(PGO),1)
PGO_GEN   := $(BUILD)/pgo-gen
PGO_PROF  := $(BUILD)/pgo-prof/
PGO_STAMP := $(BUILD)/pgo.stamp
PGO_OBJ   := $(SRC:consumer/%.c=$(PGO_GEN)/obj/%.o)
# Both compiles of a file name its profile alike, PGO_PROF/<file>.c.gcda
# (-dumpdir, -dumpbase): gcc 12 also keys a static function's profile by
# that name, which would otherwise follow the object's path.
PGO_NAME   = -dumpdir $(PGO_PROF) -dumpbase $(notdir $<)
PGO_USE    = -fprofile-use -fprofile-partial-training -Wno-missing-profile -Wno-error=coverage-mismatch $(PGO_NAME)
DEPS      += $(PGO_OBJ:.o=.d)
endif

.PHONY: all deps test unit scenarios asan demo bench clean check-compose
all: $(BUILD)/c2watch

deps:
	@sh deploy/install-deps.sh

$(BUILD)/obj/%.o: consumer/%.c $(PGO_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PGO_USE) -c $< -o $@

ifeq ($(PGO),1)
$(PGO_GEN)/obj/%.o: consumer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fprofile-generate -fprofile-update=single $(PGO_NAME) -c $< -o $@

$(PGO_GEN)/c2watch: $(PGO_OBJ)
	$(CC) $(ALL_CFLAGS) -fprofile-generate -o $@ $^ $(LIBS)

$(PGO_STAMP): $(PGO_GEN)/c2watch deploy/pgo-train.sh tests/bench/gen.c
	CC="$(CC)" sh deploy/pgo-train.sh $(PGO_GEN) $(PGO_PROF)
	@touch $@
endif

$(BUILD)/libc2watch.a: $(LIBOBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/c2watch: $(BUILD)/obj/main.o $(BUILD)/libc2watch.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libc2watch.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-field-initializers -o $@ $< $(BUILD)/libc2watch.a $(TESTLIBS) $(LIBS)

# Unit suites (Criterion) then the scenario checks on the built binary.
unit: $(TESTBIN) $(BUILD)/c2watch
	@set -e; for t in $(TESTBIN); do echo "== $$t"; C2W_ROOT=$(CURDIR) C2W_BIN=$(CURDIR)/$(BUILD)/c2watch $$t --jobs 2; done

scenarios: $(BUILD)/c2watch
	@python3 tests/check_scenarios.py --bin $(BUILD)/c2watch
	@python3 tests/check_join_otrf.py --bin $(BUILD)/c2watch
	@sh tests/check_kcat.sh $(BUILD)/c2watch
	@python3 tests/check_compose.py

test: deps
	@$(MAKE) --no-print-directory unit fuzz-replay scenarios
	@$(MAKE) --no-print-directory asan

# Sanitizer run: every suite and every scenario under ASan+UBSan; any
# sanitizer report (leaks included) fails the run.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(ASAN_FLAGS)" PGO=0 build/asan/c2watch $(TESTSRC:tests/%.c=build/asan/tests/%) $(FUZZ_TARGETS:%=build/asan/replay/%)
	@sh tests/run-asan.sh build/asan

# The whole pipeline over the Kafka protocol, on an embedded cluster.
demo: deps all
	@$(BUILD)/c2watch demo

# Benchmarks: figures next to baselines measured in the same run (never a
# timed test). STRESS_CONNS=N sets the size of the bounded-state stress run.
bench: all
	@python3 tests/bench/run.py --bin $(BUILD)/c2watch --build $(BUILD)

# ---- Fuzzing (tests/fuzz/README.md) ----
# `make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="rules config"]` builds the
# libFuzzer targets with clang (ASan+UBSan) into build/fuzz/ and runs each for
# N seconds over a working copy of its corpus, build/fuzz/work/<target>/;
# new inputs stay there (copy the good ones to tests/fuzz/corpus/ by hand).
# It fails when libFuzzer reports a crash, leak, timeout or UB.
# `make fuzz-replay` runs every stored corpus and crash input once through
# the targets built with $(CC) and no libFuzzer (tests/fuzz/replay_main.c);
# `make test` runs it, and `make asan` runs the same replays under ASan+UBSan.
FUZZ_TARGETS ?= decode_zeek decode_sysmon decode_eve rules config
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_DEPS    := $(wildcard tests/fuzz/*.c tests/fuzz/*.h) tests/record_summary.h
FUZZ_SRC_decode_zeek   := tests/fuzz/fuzz_decode.c
FUZZ_SRC_decode_sysmon := tests/fuzz/fuzz_decode.c
FUZZ_SRC_decode_eve    := tests/fuzz/fuzz_decode.c
FUZZ_SRC_rules         := tests/fuzz/fuzz_rules.c
FUZZ_SRC_config        := tests/fuzz/fuzz_config.c
FUZZ_DEF_decode_zeek   := -DFUZZ_KIND=C2W_SRC_ZEEK
FUZZ_DEF_decode_sysmon := -DFUZZ_KIND=C2W_SRC_SYSMON
FUZZ_DEF_decode_eve    := -DFUZZ_KIND=C2W_SRC_EVE
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
REPLAYBIN    := $(FUZZ_TARGETS:%=$(BUILD)/replay/%)

.PHONY: fuzz fuzz-build fuzz-replay

$(REPLAYBIN): $(BUILD)/replay/%: tests/fuzz/replay_main.c $(FUZZ_DEPS) $(BUILD)/libc2watch.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(ALL_CFLAGS)) $(FUZZ_DEF_$*) -o $@ tests/fuzz/replay_main.c $(FUZZ_SRC_$*) $(BUILD)/libc2watch.a $(LIBS)

fuzz-replay: $(REPLAYBIN)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    dirs=tests/fuzz/corpus/$$t; [ ! -d tests/fuzz/crashes/$$t ] || dirs="$$dirs tests/fuzz/crashes/$$t"; \
	    $(BUILD)/replay/$$t $$dirs; done

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" PGO=0 $(FUZZ_DIR)/libc2watch.a
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DEPS) $(FUZZ_DIR)/libc2watch.a
	$(FUZZ_CC) $(CSTD) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(FUZZ_DEF_$*) -Iinclude -o $@ $(FUZZ_SRC_$*) $(FUZZ_DIR)/libc2watch.a $(LIBS)

fuzz: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
	    work=$(FUZZ_DIR)/work/$$t; mkdir -p $$work/corpus $$work/artifacts; \
	    cp -n tests/fuzz/corpus/$$t/* $$work/corpus/; \
	    crashes=; [ ! -d tests/fuzz/crashes/$$t ] || crashes=tests/fuzz/crashes/$$t; \
	    before=$$(ls $$work/corpus | wc -l); \
	    echo "== fuzz $$t for $(FUZZ_SECONDS)s (log: $$work/log)"; \
	    if $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	            -dict=tests/fuzz/$$t.dict -artifact_prefix=$$work/artifacts/ $$work/corpus $$crashes >$$work/log 2>&1; then \
	        grep -E '^#[0-9]+[[:space:]]+DONE' $$work/log || tail -n 3 $$work/log; \
	    else \
	        grep -E -A 30 '^==[0-9]+==ERROR|runtime error:|^fuzz_|^SUMMARY' $$work/log | head -n 60; \
	        echo "fuzz $$t: FAILED, reproducer(s) in $$work/artifacts/ (store one in tests/fuzz/crashes/$$t/)"; status=1; \
	    fi; \
	    echo "fuzz $$t: $$(( $$(ls $$work/corpus | wc -l) - before )) new inputs in $$work/corpus/"; \
	done; exit $$status

clean:
	rm -rf build

-include $(DEPS)
