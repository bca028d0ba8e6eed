# Convenience front end to CMake.  The two commands the README starts with:
#   make demo   build, then run the demos (shared buffer, then mmap of resources)
#   make test   build, then run every test (CTest)
# Others: make sanitize (the tests under ASan+UBSan), make fuzz (libFuzzer,
#         FUZZ_SECONDS each), make bench, make install PREFIX=/usr/local,
#         make aarch64-test (the suite on an emulated 64-bit ARM machine:
#         .ci/aarch64/run; needs root for apt), make clean.

BUILD    ?= build
ASAN     ?= build-asan
AARCH64  ?= build-aarch64
FUZZ     ?= build-fuzz
FUZZ_SECONDS ?= 30
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
CTEST    ?= ctest

.PHONY: all build demo test check sanitize fuzz bench install clean aarch64-test

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/examples/demo_shared_buffer && \
	./$(BUILD)/examples/demo_resource_mmap --spawn-servers \
	    --shmem-server ./$(BUILD)/examples/shmem_server \
	    --image-server ./$(BUILD)/examples/image_server

test: build
	$(CTEST) --test-dir $(BUILD) --output-on-failure -j $(JOBS)

check: test

$(ASAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPEERMAP_SANITIZE=ON -DPEERMAP_BUILD_BENCH=OFF

sanitize: $(ASAN)/CMakeCache.txt
	$(CMAKE) --build $(ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(CTEST) --test-dir $(ASAN) --output-on-failure -j $(JOBS)

$(FUZZ)/CMakeCache.txt:
	CC=clang $(CMAKE) -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug -DPEERMAP_FUZZ=ON \
	    -DPEERMAP_BUILD_TESTS=OFF -DPEERMAP_BUILD_BENCH=OFF

fuzz: $(FUZZ)/CMakeCache.txt
# Every tests/fuzz/fuzz_NAME.c is a target (tests/fuzz/CMakeLists.txt), run
# for FUZZ_SECONDS on the corpus $(FUZZ)/corpus/NAME.  One build per target:
# with several targets in one build, a CMake re-run triggered by the first
# leaves the others unknown to the make already running ("No rule").
	set -e; for t in $(patsubst fuzz_%,%,$(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))); do \
	    $(CMAKE) --build $(FUZZ) -j $(JOBS) --target fuzz_$$t; \
	done
	set -e; for t in $(patsubst fuzz_%,%,$(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))); do \
	    mkdir -p $(FUZZ)/corpus/$$t; \
	    ./$(FUZZ)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -rss_limit_mb=2048 $(FUZZ)/corpus/$$t; \
	done

bench: build
	bench/run.sh $(BUILD)

aarch64-test:
	.ci/aarch64/run $(AARCH64)

install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) $(AARCH64)
