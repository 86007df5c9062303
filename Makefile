# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; a plain `torch` would pull gigabytes of CUDA packages.
TORCH ?= torch==2.13.0
# llama-cpp-python compiles llama.cpp from source: only the library the package loads (no
# examples, tools, tests, server or multimodal library), on every core. AMX off: with it,
# the first prompt crashed (a fault in ggml's AMX tile code) on a Xeon under KVM.
LLAMA ?= llama-cpp-python>=0.3.0
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF
ifeq ($(shell uname -m),x86_64)
# -march=native would turn AMX back on where the CPU has it: the compiler is told not to.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS += -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
endif
SAMPLE_INDEX ?= .rag/sample-index
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test install install-test index-sample lint clean

run: install index-sample
	$(BIN)/rag serve --index-dir $(SAMPLE_INDEX) --host $(HOST) --port $(PORT) \
		--examples samples/example_questions.txt

test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

index-sample: install
	$(BIN)/rag index samples/articles --index-dir $(SAMPLE_INDEX)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	@echo "Installing llama-cpp-python: compiling llama.cpp takes several minutes on 2 cores," \
		"once (pip keeps the wheel in its cache for the next install)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install --quiet "$(LLAMA)"
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .rag build *.egg-info
