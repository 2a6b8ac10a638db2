# Front end over CMake. `make run` and `make test` do all setup on a fresh
# Debian 12 machine; see README.md.

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc)
MAKEFLAGS  += --no-print-directory
CITYPAY_DB ?= citypay.db
LISTEN     ?= 127.0.0.1:8080

.PHONY: all deps test-deps build run test test-valgrind fuzz clean bench

all: build

deps:
	@sh scripts/deps.sh

test-deps:
	@sh scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@sh scripts/run.sh $(BUILD) $(CITYPAY_DB) $(LISTEN)

test: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCITYPAY_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

# Run the unit and end-to-end tests under valgrind's memcheck in a Debug
# build without sanitizers (build-valgrind); fails on any memcheck error or
# definite leak. Needs valgrind installed.
test-valgrind: test-deps
	@sh scripts/valgrind.sh

# Build the libFuzzer harnesses in build-fuzz and run each for FUZZ_SECONDS
# seconds (default 60); see docs/FUZZING.md.
fuzz:
	@sh scripts/deps.sh fuzz
	@sh scripts/fuzz.sh

# Build with optimisation in build-bench and measure on loopback: wrk
# against citypayd and an nginx baseline, microbenchmarks, callbacks and
# memory; BENCH_QUICK=1 for one short round. See docs/BENCHMARKS.md.
bench: deps
	@bash scripts/bench.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-valgrind build-bench build-fuzz
