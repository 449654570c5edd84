# galmorph: two commands.
#   make demo   install into .venv and run the main job on the bundled galaxies
#   make test   install the development tools and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

DEMO_CATALOG := src/galmorph/demo_data/gz2_demo/catalog.csv

# A short end-to-end run on the bundled galaxies with the shipped starter model.
demo: install
	mkdir -p demo-output
	$(BIN)/galmorph validate $(DEMO_CATALOG) --schema gz2
	$(BIN)/galmorph predict $(DEMO_CATALOG) -o demo-output/predictions.parquet
	$(BIN)/galmorph evaluate $(DEMO_CATALOG) --json demo-output/evaluation.json

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

test: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
