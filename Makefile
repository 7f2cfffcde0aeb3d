# Two commands on a fresh clone: `make demo` (the service on this machine) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install system-deps test-services lint demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# unixODBC and the MariaDB ODBC driver: only the pyodbc tests need them; the service itself
# loads pyodbc only for SQL Server / ODBC URLs.
system-deps:
	scripts/install-system-deps.sh

# The servers the tests talk to (started when down, RabbitMQ's management API enabled) and the
# Debian packages above; exit 2 with what to do when one cannot be had.
test-services:
	scripts/setup-test-services.sh

# Lint and import order (ruff, the whole tree), then the type hints (mypy, strict on app/,
# shared/, producers/ and workers/); both configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: install
	scripts/demo.sh

# In this order: a missing server or a lint finding stops the run (exit 2) before pytest.
test: install
	$(MAKE) --no-print-directory test-services
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest

# Side-by-side ratios (never timed tests); needs the same servers as the tests. See BENCHMARKS.md.
bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	for p in woocommerce prestashop shoper idosell allegro; do $(BIN)/python bench/bench_calls.py --platform $$p; done
	$(BIN)/python bench/bench_shoper_bucket.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_tick.py --db postgresql --db sqlite
	$(BIN)/python bench/bench_worker_overhead.py
	$(BIN)/python bench/bench_webhook_latency.py
	$(BIN)/python bench/bench_redact.py

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache .mypy_cache
