# The same targets run locally and in CI. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv sysdeps demo test lint typecheck pytest bench bench-routing fmt clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/hexdispatch demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# PostgreSQL 15 + PostGIS for the PostGIS tests: installed when missing (root), else explained.
sysdeps:
	./scripts/install-system-deps.sh

pytest: venv sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv sysdeps
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest benchmarks -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,mean,max,rounds -o testpaths=benchmarks $(BENCH_ARGS)

# The full routing comparison: both suites, 10 s per instance, against VROOM (about 40 minutes).
bench-routing: venv
	$(BIN)/python -m benchmarks.routing --suite solomon --seconds 10 --json > bench-routing-solomon.json
	$(BIN)/python -m benchmarks.routing --suite li_lim_100 --seconds 10 --json > bench-routing-li_lim_100.json

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
