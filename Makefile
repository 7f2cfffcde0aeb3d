# Two commands on a fresh clone: `make demo` (the service on this machine) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install system-deps demo test bench clean

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

demo: install
	scripts/demo.sh

test: install system-deps
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo .pytest_cache
