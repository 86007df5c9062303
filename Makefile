# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; a plain `torch` would pull gigabytes of CUDA packages.
TORCH ?= torch==2.13.0
# llama-cpp-python compiles llama.cpp for this CPU, once per machine: only the library the
# package loads (no examples, tools, tests, server or multimodal library), on every core. The
# wheel is kept in LLAMA_WHEELS under a key of the version, these flags and the CPU's flags
# (pip's own wheel cache ignores build flags, so it would hand back a wheel built otherwise).
# AMX off: on a Xeon with AMX, 0.3.36 crashed on the first prompt (a segfault in
# ggml_backend_amx_mul_mat, seen here); -march=native would turn it back on, so the compiler
# is told not to.
LLAMA ?= llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS += -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
	-DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
endif
LLAMA_WHEELS ?= $(HOME)/.cache/newsrag/wheels
SAMPLE_INDEX ?= .rag/sample-index
# `make run HOST=0.0.0.0 PORT=8000` binds elsewhere; unset, `rag serve` uses its own defaults.
HOST ?=
PORT ?=

.PHONY: run test install install-test index-sample lint clean

run: install index-sample
	$(BIN)/rag serve --index-dir $(SAMPLE_INDEX) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) \
		--examples samples/example_questions.txt

test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

index-sample: install
	$(BIN)/rag index samples/articles --index-dir $(SAMPLE_INDEX)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	@key=$$(printf '%s' "$(LLAMA) $(LLAMA_CMAKE_ARGS) $$(grep -m1 '^flags' /proc/cpuinfo)" \
		| sha256sum | cut -c1-16); dir="$(LLAMA_WHEELS)/$$key"; \
	if ! ls "$$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "Compiling llama.cpp for this CPU: several minutes on 2 cores, once per machine"; \
		rm -rf "$$dir.tmp"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			$(BIN)/pip wheel --quiet --no-deps --no-cache-dir "$(LLAMA)" -w "$$dir.tmp" \
			&& mv "$$dir.tmp" "$$dir" || exit 1; \
	fi; \
	$(BIN)/pip install --quiet "$$dir"/llama_cpp_python-*.whl
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
