# attn: the two commands.
#   make test   set up, configure, build, and run every suite through ctest
#   make demo   compile every example, run it on random inputs, check it
#               against the float64 reference and print a table
#   make notebooks  execute the ten notebooks; the executed copies, with
#               their figures, go to build/notebooks
# and the long fuzzing campaign:
#   make fuzz   10,000 IR mutants through the CPU and GPU compilers, then
#               each libFuzzer target for FUZZ_SECONDS (default 120)

BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -G Ninja -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22

FUZZ_SECONDS ?= 120

.PHONY: all setup build test demo notebooks fuzz clean

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

notebooks: build
	.venv/bin/python scripts/run_notebooks.py --output $(BUILD)/notebooks

fuzz: build
	python3 scripts/fuzz-ir.py --bin $(BUILD)/bin --budget 10000 --seed 0 \
	    --pipelines cpu,nvvm,translate --jobs $(JOBS) --out $(BUILD)/fuzz-findings
	ATTN_FUZZ_SECONDS=$(FUZZ_SECONDS) cmake --build $(BUILD) --target fuzz-mask
	cmake -S . -B $(BUILD)/sanitizers $(CMAKE_FLAGS) -DATTN_SANITIZER_BUILD=ON
	ATTN_FUZZ_SECONDS=$(FUZZ_SECONDS) cmake --build $(BUILD)/sanitizers \
	    --target fuzz-npy fuzz-signature

clean:
	rm -rf $(BUILD)
