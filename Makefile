# c2watch — build, test, sanitizers, demo.
# Flavours live in their own build directories: build/ (release+debug info)
# and build/asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).

CC       ?= cc
PKGS     := rdkafka yajl yaml-0.1 zlib
CSTD     := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
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

.PHONY: all deps test unit scenarios asan demo bench clean check-compose
all: $(BUILD)/c2watch

deps:
	@sh deploy/install-deps.sh

$(BUILD)/obj/%.o: consumer/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

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
	@$(MAKE) --no-print-directory unit scenarios
	@$(MAKE) --no-print-directory asan

# Sanitizer run: every suite and every scenario under ASan+UBSan; any
# sanitizer report (leaks included) fails the run.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="$(ASAN_FLAGS)" build/asan/c2watch $(TESTSRC:tests/%.c=build/asan/tests/%)
	@sh tests/run-asan.sh build/asan

# The whole pipeline over the Kafka protocol, on an embedded cluster.
demo: deps all
	@$(BUILD)/c2watch demo

# Benchmarks: figures next to baselines measured in the same run (never a
# timed test). STRESS_CONNS=N sets the size of the bounded-state stress run.
bench: all
	@python3 tests/bench/run.py --bin $(BUILD)/c2watch --build $(BUILD)

clean:
	rm -rf build

-include $(DEPS)
