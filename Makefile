# Convenience front end to CMake.  The two commands the README starts with:
#   make demo   build, then run the demo
#   make test   build, then run every test (CTest)
# Others: make sanitize (the tests under ASan+UBSan), make bench,
#         make install PREFIX=/usr/local, make clean.

BUILD    ?= build
ASAN     ?= build-asan
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE    ?= cmake
CTEST    ?= ctest

.PHONY: all build demo test check sanitize bench install clean

all: build

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/examples/demo_shared_buffer

test: build
	$(CTEST) --test-dir $(BUILD) --output-on-failure -j $(JOBS)

check: test

$(ASAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPEERMAP_SANITIZE=ON -DPEERMAP_BUILD_BENCH=OFF

sanitize: $(ASAN)/CMakeCache.txt
	$(CMAKE) --build $(ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(CTEST) --test-dir $(ASAN) --output-on-failure -j $(JOBS)

bench: build
	bench/run.sh $(BUILD)

install: build
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN)
