# Every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICE_STAMP := $(VENV)/.installed-service
CHECKED := src tests examples benchmarks noxfile.py

.PHONY: demo test lint typecheck pytest docs bench test-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/python examples/demo.py

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

bench: $(STAMP) $(SERVICE_STAMP)
	$(BIN)/python benchmarks/run.py --write docs/benchmarks.md

# The suite under every supported Python found on this machine.
test-all: $(STAMP)
	$(BIN)/nox

clean:
	rm -rf $(VENV) site .nox .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
