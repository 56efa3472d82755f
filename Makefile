# The two commands a newcomer needs: `make demo` and `make test`. Nothing else must be installed
# but Python 3.11+; the Makefile makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: demo test test-sqlite test-postgres install serve bench mutation clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## make demo: migrate, seed the AIFI pilot demo world on SQLite, serve it at http://$(HOST):$(PORT)
demo: $(STAMP)
	$(BIN)/registry demo
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

## make test: the whole suite (SQLite by default; REGISTRY_TEST_DATABASE_URL for PostgreSQL)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	REGISTRY_TEST_DATABASE_URL= $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	REGISTRY_TEST_DATABASE_URL=$${REGISTRY_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/registry_test} \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

## make mutation: mutation testing of the rule modules (slow; never part of CI's pass/fail).
## A part only: make mutation MUTANTS='registry.domain.*'. Results: docs/testing.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,mutation]'
	$(BIN)/mutmut run --max-children $${MUTMUT_CHILDREN:-2} $(MUTANTS)
	$(BIN)/mutmut results

bench: $(STAMP)
	$(BIN)/python bench/decisions_http.py

clean:
	rm -rf $(VENV) instance .pytest_cache mutants
