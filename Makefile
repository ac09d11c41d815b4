# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 3010
# The environment of every local command (make run, manage, superuser, reset): DEBUG on unless set,
# so no JWT_SECRET is needed (data/dev-jwt-secret signs tokens); the database is db.sqlite3 unless
# DATABASE_URL is set.
LOCAL_ENV = DEBUG=$${DEBUG:-true}

.PHONY: run manage superuser reset test test-faults lint typecheck check-python venv deps dev-deps bench clean chromium emoji-font screenshots

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "error: Python 3.12+ is required (found " + sys.version.split()[0] + "); install 3.13 or set PYTHON=python3.13")'

$(VENV)/.created: | check-python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.deps: requirements.txt $(VENV)/.created
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements-dev.txt requirements.txt bench/requirements.txt $(VENV)/.deps
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.created
deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

## run: serve on http://localhost:$(PORT) (embedded SQLite + in-memory layer unless DATABASE_URL/REDIS_URL are set)
run: deps
	$(LOCAL_ENV) DB_SYNC=$${DB_SYNC:-true} DB_SEED=$${DB_SEED:-true} PORT=$(PORT) $(PY) manage.py serve

## manage: a management command with run's environment, e.g. make manage ARGS="chat_stats --json"
manage: deps
	$(LOCAL_ENV) $(PY) manage.py $(ARGS)

## superuser: create a staff user for /admin/ (asks for its name, email and password)
superuser: deps
	$(LOCAL_ENV) $(PY) manage.py createsuperuser $(ARGS)

## reset: delete the local SQLite database, then migrate and load the demo data again. Refuses a
## DATABASE_URL that is not SQLite: it never drops a server's database.
reset: deps
	@case "$${DATABASE_URL:-}" in ""|sqlite:*) ;; \
	  *) echo "error: make reset deletes only a local SQLite database, and DATABASE_URL names another kind" >&2; exit 1;; \
	esac
	@db="$${DATABASE_URL#sqlite:///}"; db="$${db:-db.sqlite3}"; echo "deleting $$db"; rm -f "$$db" "$$db-wal" "$$db-shm"
	$(LOCAL_ENV) $(PY) manage.py migrate --no-input --verbosity 0
	$(LOCAL_ENV) $(PY) manage.py seed_demo

## test: the whole suite (against DATABASE_URL / REDIS_URL when they are set), on TEST_WORKERS
## processes (pytest-xdist; a module's tests stay together, in order); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2
test: dev-deps chromium
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

## test-faults: only the fault-injection tests (private PostgreSQL, Redis and daphne processes; part of `make test` too)
test-faults: dev-deps
	$(PY) -m pytest -m faults -s $(PYTEST_ARGS)

# Debian's Chromium for the browser test (tests/browser); apt-get runs only when it is missing.
# Where it cannot be installed the browser test is skipped and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: apt-get could not install chromium; the browser test will be skipped"; \
	  else \
	    echo "warning: /usr/bin/chromium is missing and apt-get needs root; the browser test will be skipped"; \
	  fi; \
	fi

## bench: load benchmark on loopback (two daphne processes, its own PostgreSQL database, Redis); prints
## one table of figures against their limits and targets. BENCH_QUICK=1: ~2 minutes. See docs/benchmarks.md.
bench: $(VENV)/.bench-deps
	$(PY) -m bench

$(VENV)/.bench-deps: bench/requirements.txt requirements.txt $(VENV)/.deps
	$(PY) -m pip install --quiet -r bench/requirements.txt
	@touch $@

# A colour emoji font, so the reactions in the screenshots are drawn (Debian's Noto); only
# `make screenshots` asks for it, the browser test checks emoji by their data, not their glyphs.
emoji-font:
	@if ! fc-list 2>/dev/null | grep -qi emoji; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null) \
	      || echo "warning: apt-get could not install fonts-noto-color-emoji; emoji will show as boxes"; \
	  else \
	    echo "warning: no emoji font and apt-get needs root; emoji in the screenshots will show as boxes"; \
	  fi; \
	fi

## screenshots: redraw docs/screenshots/ (the web client pictures in the README)
screenshots: dev-deps chromium emoji-font
	$(PY) -m tests.browser.screenshots docs/screenshots

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev-deps
	DEBUG=true $(VENV)/bin/mypy .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
