# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PORT ?= 8000
PYTEST_ARGS ?=
export CROSSBAY_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test lint typecheck bench install browser-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## make demo: migrate var/crossbay.db, load the demo catalog, serve everything at http://127.0.0.1:$(PORT)
demo: $(STAMP)
	$(BIN)/crossbay demo --port $(PORT)

## Chromium and CJK fonts for the browser tests (Debian packages; installed once per machine).
browser-deps:
	@if ! command -v chromium >/dev/null || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
		echo "installing chromium and fonts-noto-cjk"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## make test: lint, types, then the whole suite on SQLite and PostgreSQL
test: $(STAMP) browser-deps lint typecheck
	npm ci --prefix tests/browser --no-audit --no-fund  # axe-core, for the accessibility check
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## make bench: orders/s and wallet payments/s on PostgreSQL (each against pgbench on the same server),
## then 1,000 orders through worker SIGKILLs, SM-DP+ faults and repeated notifications (must lose nothing)
bench: $(STAMP)
	$(BIN)/python bench/journey.py
	$(BIN)/python bench/wallet.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/rating.py
	$(BIN)/python bench/credit.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
