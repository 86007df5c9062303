# Two commands a new user needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; a plain `torch` would pull gigabytes of CUDA packages.
TORCH ?= torch==2.13.0
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
