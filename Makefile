# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; a plain `torch` would pull gigabytes of CUDA packages.
TORCH ?= torch==2.13.0
# llama-cpp-python compiles llama.cpp for this CPU, once per machine: the wheel is kept in
# LLAMA_WHEELS under a key of the version, these flags and the CPU's flags. AMX kernels are
# left out: on a Xeon with AMX, 0.3.36's crash on the first prompt (a segfault in
# ggml_backend_amx_mul_mat, seen here); so are llama.cpp's examples, tests, tools and server.
LLAMA ?= llama-cpp-python==0.3.36
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)' \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/newsrag/wheels
SAMPLE_INDEX ?= .rag/sample-index
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: run test install install-test index-sample lint clean

run: install index-sample
	$(BIN)/rag serve --index-dir $(SAMPLE_INDEX) --host $(HOST) --port $(PORT) \
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
		echo "Compiling llama.cpp for this CPU (about 4 minutes on 2 cores, once per machine)"; \
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
