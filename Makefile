# prober: `make demo` runs the main job, `make test` the whole suite, `make test-fast` the tests that
# need no server; each sets up what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo

.PHONY: setup services demo test test-fast lint clean

setup: $(VENV)/.installed services

$(VENV)/.installed: pyproject.toml
	bash scripts/ensure-python.sh "$(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox,javascript]'
	touch $@

services:
	bash scripts/ensure-services.sh

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh "$(DEMO_DIR)"

test: setup
	$(BIN)/python -m pytest

# The pure lane: no PostgreSQL, Dovecot, Mosquitto, sandbox or daemon (markers in pyproject.toml).
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest -m "not e2e and not postgres and not services"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
