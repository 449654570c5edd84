# galmorph: two commands.
#   make demo   install into .venv and run the main job on the bundled galaxies
#   make test   install the development tools and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint install install-dev browser clean

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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
	$(BIN)/galmorph demo -o demo-output

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

# The web app's browser tests drive Debian's chromium package through Playwright
# (browser downloads are not possible offline). Elsewhere they are skipped (not in CI).
browser:
	@command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The tests run in TEST_WORKERS processes, a test file each (pytest-xdist): much of the
# suite is Python start-up, file work and subprocesses that leave a core idle.
TEST_WORKERS ?= 2

test: install-dev browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
