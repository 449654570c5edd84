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

# Every step (predict + evaluate, similarity search, simulated anomaly hunt, ring
# fine-tuning) on the bundled galaxies with the shipped starter model; writes and
# prints demo-output/report.html.
demo: install
	$(BIN)/galmorph demo --out demo-output

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

test: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
