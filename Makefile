# The two commands a newcomer needs: `make demo` and `make test`. Nothing else must be installed
# but Python 3.11+; the Makefile makes its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests (tests/browser) drive Debian's Chromium; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium
# WeasyPrint (statements as PDF) needs Debian's Pango; fonts-dejavu-core gives the PDFs their font.
HOST ?= 127.0.0.1
# The suite runs on every core (pytest-xdist; each worker its own database): PYTEST_WORKERS=0 for
# one process, as when debugging.
PYTEST_WORKERS ?= auto
PORT ?= 5000

.PHONY: i18n demo test test-sqlite test-postgres test-browser install serve bench mutation mutation-sweep clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP) i18n

## the Dutch message catalogues (registry/translations/*/LC_MESSAGES/*.po) compiled to .mo
i18n: $(STAMP)
	@$(BIN)/python -c 'from registry.web.i18n import compile_catalogues; compile_catalogues()'


# Only the test targets need Chromium (`make demo` does not). Installed from Debian when missing,
# as root, like CI runs; the fonts give screenshots readable text.
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core

# WeasyPrint (the generated agreement PDFs) needs Pango from Debian, and newer WeasyPrint releases also
# HarfBuzz's subsetter (without it every PDF warns, and the suite treats warnings as errors);
# installed when missing, as root.
PANGO_STAMP := $(VENV)/.pango
$(PANGO_STAMP): $(STAMP)
	@{ ldconfig -p | grep -q 'libpangoft2-1.0.so.0' && ldconfig -p | grep -q 'libharfbuzz-subset.so.0'; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; }
	@touch $(PANGO_STAMP)

## make demo: migrate, seed the AIFI pilot demo world on SQLite, serve it at http://$(HOST):$(PORT)
demo: $(STAMP) i18n $(PANGO_STAMP)
	$(BIN)/registry demo
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

## make test: the whole suite (SQLite by default; REGISTRY_TEST_DATABASE_URL for PostgreSQL)
test: $(STAMP) i18n $(CHROMIUM) $(PANGO_STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-sqlite: $(STAMP) i18n $(CHROMIUM) $(PANGO_STAMP)
	REGISTRY_TEST_DATABASE_URL= $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-postgres: $(STAMP) i18n $(PANGO_STAMP)
	REGISTRY_TEST_DATABASE_URL=$${REGISTRY_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/registry_test} \
	  $(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## make test-browser: only the browser tests; REGISTRY_SCREENSHOTS=1 also rewrites docs/screenshots/
test-browser: $(STAMP) i18n $(CHROMIUM)
	REGISTRY_TEST_DATABASE_URL= $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

## make mutation: mutation testing of the rule modules (slow; never part of CI's pass/fail).
## A part only: make mutation MUTANTS='registry.domain.*'. Results: docs/testing.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,mutation]'
	$(BIN)/mutmut run --max-children $${MUTMUT_CHILDREN:-2} $(MUTANTS)
	$(BIN)/mutmut results

## make mutation-sweep NAMES=names.txt OUT=sweep.jsonl TESTS='tests/policy': the mutants named,
## each against only those tests, in a worktree of its own (.ci/mutation_sweep.py; docs/testing.md).
mutation-sweep: $(STAMP)
	rm -rf $${SWEEP_CHECKOUT:-/tmp/registry-sweep} && git worktree prune && \
	  git worktree add --detach $${SWEEP_CHECKOUT:-/tmp/registry-sweep} HEAD
	$(BIN)/python .ci/mutation_sweep.py $${SWEEP_CHECKOUT:-/tmp/registry-sweep} $(OUT) $(NAMES) -- $(TESTS)

bench: $(STAMP)
	$(BIN)/python bench/decisions_http.py

clean:
	rm -rf $(VENV) instance .pytest_cache mutants
