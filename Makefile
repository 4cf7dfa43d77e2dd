# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake. build/ is the gcc -O2 build (build/keysentry);
# build-asan/ is clang with ASan+UBSan and the libFuzzer targets.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

.PHONY: all deps test test-dev test-asan demo bench bench-serve bench-live fuzz format lint clean

all: deps
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
	@$(CMAKE) --build build -j $(JOBS)

deps:
	@scripts/install-deps.sh

test: all test-dev test-asan

test-dev: all
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	    -DKS_SANITIZE=ON -DKS_FUZZ=ON >/dev/null
	@$(CMAKE) --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

demo: all
	@scripts/demo.sh

bench: all
	@scripts/install-deps.sh --bench
	@bench/run.sh

# keysentry serve: PutLogEvents ingest beside jq, and a fast-forwarded day (docs/benchmarks.md)
bench-serve: all
	@bench/serve-ingest.sh
	@bench/serve-day.sh

# the lab live: KMS call -> e-mail and -> key disabled, with and without early fire
bench-live: all
	@bench/live-latency.sh

format:
	clang-format -i $$(git ls-files "src/*.[ch]" "tests/*.[ch]" "bench/*.[ch]")

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-asan
