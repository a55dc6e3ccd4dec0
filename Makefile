# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates the virtual environment and installs the project on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench run clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# setuptools warns, on every editable install, that the folders bot/, handlers/ and store/ beside the
	# project could shadow its packages: they are those packages (README, "Packaging"), so the warning is
	# silenced here and nowhere else.
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/qyzmet demo

# Lint and type checks first (they fail the run like a failing test), then the suite on SQLite and, beside it,
# on PostgreSQL, with private PostgreSQL and Redis servers started and stopped by scripts/test.sh.
test: lint
	PY=$(PY) scripts/test.sh

# The import contracts (pyproject.toml, [tool.importlinter]) keep the map of the floors true.
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.installed
	$(PY) -m bench

run: $(VENV)/.installed
	$(VENV)/bin/qyzmet run

clean:
	rm -rf $(VENV) var
