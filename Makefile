VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepview-installed
OUT ?= deepview-demo-report

.PHONY: demo test lint browsers venv docs

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepview demo --out $(OUT) --overwrite

browsers:
	@bash scripts/ensure-chromium.sh

lint: $(STAMP)
	$(PY) -m ruff check src tests examples benchmarks
	$(PY) -m mypy

test: $(STAMP) browsers
	$(PY) -m pytest
	$(MAKE) lint
	$(MAKE) docs

# documentation site into site-docs/ (examples run at build time; warnings are errors)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site-docs
