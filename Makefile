# Two commands on a fresh machine: `make run` and `make test`. Both set up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: setup run test lint typecheck unit redis-server chromium

setup: $(STAMP)

# torch first, pinned: that takes the small CPU wheel; anything else would pull a CUDA build.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/workflow-search migrate
	$(BIN)/workflow-search seed --demo
	$(BIN)/workflow-search serve --host $(HOST) --port $(PORT)

# Load and soak: the Locust profile (locustfile.py) against a service each target starts itself
# (migrate, seed --demo, serve) on a throwaway embedded PostgreSQL; stopped afterwards, even on failure.
.PHONY: load soak
LOAD_SECONDS ?= 60
SOAK_SECONDS ?= 600
LOAD_BENCH_STAMP := $(VENV)/.installed-dev-bench

load: setup
	$(BIN)/python -m benchmarks.load_run --seconds $(LOAD_SECONDS)

soak: $(LOAD_BENCH_STAMP)
	$(BIN)/python -m benchmarks.soak --seconds $(SOAK_SECONDS)

# The bench extra (matplotlib for the soak plot), installed once.
$(LOAD_BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

# Benchmarks (benchmarks/README.md): every figure beside its floor or peer, measured in the same run;
# results in benchmarks/results/. bench-quick is the CI smoke run (small catalogs, short rounds).
.PHONY: bench bench-quick
bench: $(LOAD_BENCH_STAMP)
	$(BIN)/python -m benchmarks.run

bench-quick: $(LOAD_BENCH_STAMP)
	$(BIN)/python -m benchmarks.run --quick

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# Coverage of lines and branches, with a floor of 90 % of lines (pyproject.toml, [tool.coverage]).
test: lint typecheck redis-server chromium
	$(BIN)/pytest --cov --cov-report=term

# The tests start their own redis-server processes; install the binary once if it is missing.
redis-server:
	@command -v redis-server >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }

# The API docs test loads /schema in headless Chromium with the network blocked; install it once.
chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
