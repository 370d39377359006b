# The two entry points of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install

$(BIN)/sleuth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.13.0 first: a CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/sleuth

demo: install
	$(BIN)/sleuth demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest
