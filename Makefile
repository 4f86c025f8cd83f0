# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(VENV)/bin/pip
HOST     ?= 127.0.0.1
PORT     ?= 8000

.PHONY: run test lint bank-lint bench system-deps clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP) install --quiet -e '.[bench]'
	touch $@

## make run: venv + install + migrate + load the demo bank (idempotent) + serve on http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(VENV)/bin/certamen init
	$(VENV)/bin/certamen demo load
	$(VENV)/bin/certamen serve --host $(HOST) --port $(PORT)

## make test: install what the tests need (Python extras, Debian packages), lint, type-check, lint the item bank,
## run the whole suite
test: $(VENV)/.installed-dev system-deps lint bank-lint tests/browser/node_modules/.installed
	$(VENV)/bin/pytest

# axe-core (npm), which the browser tests inject into every page they check for accessibility
tests/browser/node_modules/.installed: tests/browser/package-lock.json | system-deps
	cd tests/browser && npm ci --no-audit --no-fund --silent
	touch $@

## make lint: ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade) and mypy --strict on engine/ and certs/
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## make bank-lint: cues that give an item's key away, reading grade, what the keys teach (docs/item-writing.md)
bank-lint: $(VENV)/.installed
	$(VENV)/bin/certamen bank lint

system-deps:
	bash scripts/install-system-deps.sh

## make bench: the benchmarks, each printing ratios against a reference measured in the same run
bench: $(VENV)/.installed-bench
	$(PY) bench/cat_step.py
	$(PY) bench/calibration.py
	$(PY) bench/certs.py
	$(PY) bench/guessing.py

clean:
	rm -rf $(VENV) instance .pytest_cache
