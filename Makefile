# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH when present, else the copy pip installs into this Python.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: run test lint bench install uv chromium clean

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; $(PYTHON) -m pip install --quiet --disable-pip-version-check uv; }

install: uv
	@$(UV) sync --locked --quiet

chromium:
	@bash scripts/ensure-chromium.sh

## make run: start the whole system on this machine with demo data (Ctrl-C stops it)
run: install
	@$(UV) run --locked python -m portal_local run $(ARGS)

## make lint: buf lint over protos/, ruff over the Python, import-linter's contracts (pyproject.toml)
lint: install
	@$(UV) run --locked buf lint
	@$(UV) run --locked ruff check .
	@$(UV) run --locked ruff format --check .
	@# lint-imports puts the working directory first on sys.path, where the folder gateway/ would
	@# shadow the installed gateway package: run it from a folder that holds no package's name.
	@cd docs && $(UV) run --locked lint-imports --no-cache ../pyproject.toml

## make test: lint, then the whole test suite (unit, integration, end to end in Chromium)
test: install chromium lint
	@$(UV) run --locked pytest -q $(PYTEST_ARGS)

## make bench: the benchmarks in bench/, each printing its figures next to a same-run baseline
bench: install
	@$(UV) run --locked python bench/portal_home.py $(ARGS)

clean:
	rm -rf .tools .pytest_cache .ruff_cache
