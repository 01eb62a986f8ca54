VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepview-installed
OUT ?= deepview-demo-report

.PHONY: demo test lint browsers venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all,dev]"
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
