# Convenience front end to CMake.  The two commands the README starts with:
#   make demo   build, then run the demos (shared buffer, then mmap of resources,
#               then a manager read with cat and written with echo through the
#               FUSE export)
#   make test   build, then run every test (CTest)
# Both build quietly (the log goes to $(BUILD)/build.log and is shown only
# when the build fails) and work for any user: see the two recipes.
# Others: make sanitize (the tests under ASan+UBSan), make tsan (the
#         signal-handler tests under ThreadSanitizer), make fuzz (libFuzzer,
#         FUZZ_SECONDS each), make bench (make bench-update writes the
#         results into BENCHMARKS.md), make install PREFIX=/usr/local,
#         make aarch64-test (the suite on an emulated 64-bit ARM machine:
#         .ci/aarch64/run; needs root for apt), make clean.

BUILD    ?= build
ASAN     ?= build-asan
TSAN     ?= build-tsan
AARCH64  ?= build-aarch64
FUZZ     ?= build-fuzz
FUZZ_SECONDS ?= 30
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
CTEST    ?= ctest

.PHONY: all build quiet-build demo test check sanitize tsan fuzz bench bench-update install clean aarch64-test

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

# The configure and build output of demo and test, kept out of sight unless
# something fails: the first screen should be the demo or the test results.
quiet-build:
	@mkdir -p $(BUILD)
	@echo "building in $(BUILD)/ (log: $(BUILD)/build.log)"
	@$(MAKE) --no-print-directory build >$(BUILD)/build.log 2>&1 || { \
	    tail -n 60 $(BUILD)/build.log; \
	    echo "make: the build failed; the whole log is $(BUILD)/build.log"; exit 1; }

# Not root: QNX's default leaves a non-root process without
# PROCMGR_AID_MEM_PEER, which the first demo's server needs to map into its
# client.  make is the parent here, and grants it the way a QNX parent grants
# an ability to the non-root program it spawns (procmgr_ability(3)); the
# kernel's ptrace rule still applies (the client is the server's own child).
# The demo says on its first lines what it holds and why.
demo: quiet-build
	@if [ "$$(id -u)" != 0 ] && [ -z "$${PEERMAP_ABILITIES+set}" ]; then \
	    export PEERMAP_ABILITIES=mem_peer; fi; \
	./$(BUILD)/examples/demo_shared_buffer && echo && \
	./$(BUILD)/examples/demo_resource_mmap --spawn-servers \
	    --shmem-server ./$(BUILD)/examples/shmem_server \
	    --image-server ./$(BUILD)/examples/image_server && \
	examples/demo_export.sh $(BUILD)

# As root, every program in tests/CMakeLists.txt's UNPRIVILEGED_TESTS runs a
# second time as uid 65534 (label as_nobody).  Another user cannot drop to
# 65534, so those runs are left out rather than listed as 200 skips; the
# tests that need root are still run and show as skipped, with their reason.
# CTest lists skipped tests without their reasons: skip-reasons.sh prints them.
test: quiet-build
	@if [ "$$(id -u)" = 0 ]; then \
	    $(CTEST) --test-dir $(BUILD) --output-on-failure -j $(JOBS); \
	else \
	    echo "not root: the second run as uid 65534 (label as_nobody) needs root to drop to that user; left out"; \
	    $(CTEST) --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE as_nobody; \
	fi; status=$$?; tests/skip-reasons.sh $(BUILD); exit $$status

check: test

$(ASAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPEERMAP_SANITIZE=ON -DPEERMAP_BUILD_BENCH=OFF

sanitize: $(ASAN)/CMakeCache.txt
	$(CMAKE) --build $(ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(CTEST) --test-dir $(ASAN) --output-on-failure -j $(JOBS)

# ThreadSanitizer, for what it checks best: the library's threads and the
# calls signal handlers make (test_sigsafe; TSan also reports allocation
# in a handler and a handler that changes errno).  Its runtime cannot start
# threads in a fork() child of a threaded process unless told it may (the
# agent's targets do).
$(TSAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(TSAN) -DCMAKE_BUILD_TYPE=Debug -DPEERMAP_TSAN=ON -DPEERMAP_BUILD_BENCH=OFF

tsan: $(TSAN)/CMakeCache.txt
	$(CMAKE) --build $(TSAN) -j $(JOBS) --target test_sigsafe
	TSAN_OPTIONS=halt_on_error=1:die_after_fork=0 \
	    $(CTEST) --test-dir $(TSAN) --output-on-failure -R '^test_sigsafe\.'

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

# The same, written into BENCHMARKS.md's "Current run" section.
bench-update: build
	bench/run.sh --update BENCHMARKS.md $(BUILD)

# The whole suite on an emulated 64-bit ARM machine (.ci/aarch64/run).
aarch64-test:
	.ci/aarch64/run $(AARCH64)

# As root, refresh the dynamic linker's cache: /usr/local/lib is searched
# only through it, and a program linked with -lpeermap would otherwise not
# find libpeermap.so.0 until the next ldconfig.
install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then ldconfig; fi

clean:
	rm -rf $(BUILD) $(ASAN) $(TSAN) $(FUZZ) $(AARCH64)
