# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH when present, else the copy pip installs into this Python.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf

.PHONY: run test lint bench install uv chromium buf clean

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		{ echo "installing uv with pip"; $(PYTHON) -m pip install --quiet --disable-pip-version-check uv; }

install: uv
	@$(UV) sync --locked --quiet

chromium:
	@bash scripts/ensure-chromium.sh

$(BUF):
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed for buf (apt-get install -y npm)"; exit 1; }
	@npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION) >/dev/null

buf: $(BUF)

## make run: start the whole system on this machine with demo data (Ctrl-C stops it)
run: install
	@$(UV) run --locked python -m portal_local run $(ARGS)

## make lint: buf lint over protos/ and ruff over the Python
lint: install buf
	@$(BUF) lint
	@$(UV) run --locked ruff check .
	@$(UV) run --locked ruff format --check .

## make test: lint, then the whole test suite (unit, integration, end to end in Chromium)
test: install chromium lint
	@$(UV) run --locked pytest -q $(PYTEST_ARGS)

## make bench: the benchmarks in bench/, each printing its figures next to a same-run baseline
bench: install
	@$(UV) run --locked python bench/portal_home.py $(ARGS)

clean:
	rm -rf .tools .pytest_cache .ruff_cache
