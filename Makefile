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

# why the second pass: the suite waits on real processes and real time on a shared 2-core
# machine; a test that failed runs once more, alone with the other failures, and the run
# passes only if they all pass then; both results are printed, the second under FLAKY
test: $(VENV)/.test-tools lint
	@$(BIN)/pytest -q -n 4 || { \
	  echo "== FLAKY? the tests that failed above run once more, on 2 workers =="; \
	  $(BIN)/pytest -q -n 2 --last-failed --last-failed-no-failures none \
	    && echo "== FLAKY: the tests that failed above passed on a second run (see their first failure above) =="; }

lint: $(VENV)/.test-tools
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.test-tools
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .jetcron
