# Every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICE_STAMP := $(VENV)/.installed-service
BENCH_STAMP := $(VENV)/.installed-bench
CHECKED := src tests examples benchmarks noxfile.py stress compat

.PHONY: demo demo-core test lint typecheck pytest docs bench test-all clean stress compat

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The service edited under load (examples/service/demo.py): Starlette and uvicorn, from the dev extra.
demo: $(STAMP) $(SERVICE_STAMP)
	$(BIN)/python -m examples.service.demo

# The core of it in one process: edit, break, fix and roll back a module.
demo-core: $(STAMP)
	$(BIN)/python examples/core_demo.py

lint: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=95

# The documentation site, into site/; --strict turns every warning (a broken
# link, a missing page, a docstring mkdocstrings cannot read) into a failure.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck docs pytest

# The example service's dependencies (Starlette, uvicorn): the bench serves it.
$(SERVICE_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,service]'
	touch $@

# What the bench compares hookreload with (jurigged, IPython) and draws its chart with.
$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(STAMP) $(SERVICE_STAMP) $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py --write docs/benchmarks.md

# Minutes of callers against reloads, and 10,000 reloads' footprint (docs/robustness.md).
stress: $(STAMP)
	$(BIN)/python stress/run.py $(STRESS_ARGS)

# Real packages' test suites with and without hookreload; downloads into compat/.cache/.
compat: $(STAMP)
	$(BIN)/python compat/run.py $(COMPAT_ARGS)

# The suite under every supported Python found on this machine.
test-all: $(STAMP)
	$(BIN)/nox

clean:
	rm -rf $(VENV) site .nox .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
