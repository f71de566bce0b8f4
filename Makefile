# The two set-up commands of the README: `make up` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test lint install bench clean

# `make up` needs only jetcron itself; `make test` adds the test tools once.
$(BIN)/jetcron: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-tools: $(BIN)/jetcron
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/jetcron

up: install
	$(BIN)/jetcron up $(ARGS)

test: $(VENV)/.test-tools lint
	$(BIN)/pytest -q -n 4

lint: $(VENV)/.test-tools
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.test-tools
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .jetcron
