# attn: the two commands.
#   make test   set up, configure, build, and run every suite through ctest
#   make demo   compile every example, run it on random inputs, check it
#               against the float64 reference and print a table

BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -G Ninja -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22

.PHONY: all setup build test demo clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja: | setup
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure

demo: build
	@python3 scripts/demo.py $(BUILD)

clean:
	rm -rf $(BUILD)
