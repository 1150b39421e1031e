# labelserver: `make run` sets up and starts everything; `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONUNBUFFERED := 1

.PHONY: install migrate demo run test test-fast lint imports typecheck typecheck-baseline clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of PyTorch first: a bare `torch` requirement would pull GBs of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# `python -m labelserver.env` writes var/.env (in $LABELSERVER_DATA_DIR when set) if absent: DEBUG=1
# and a random SECRET_KEY, read by the settings, so `.venv/bin/python manage.py ...` works as well.
migrate: install
	$(BIN)/python -m labelserver.env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

demo: migrate
	$(BIN)/python manage.py create_demo

run: demo
	$(BIN)/python scripts/run_all.py

# Runs every test on SQLite, then the tests marked `postgres` again on a real PostgreSQL server
# when LABELSERVER_TEST_POSTGRES_URL names one (.ci/run starts one). One pytest-xdist worker per
# CPU: tests/conftest.py gives each worker its share of the CPUs for PyTorch and runs the slow
# tests first; the run's trained model is trained by one worker and loaded by the others.
test: install
	$(BIN)/python -m ruff check .
	$(MAKE) --no-print-directory imports typecheck
	node --test frontend/tests/
	$(BIN)/python -m pytest -n logical
	@if [ -n "$$LABELSERVER_TEST_POSTGRES_URL" ]; then \
	  DATABASE_URL="$$LABELSERVER_TEST_POSTGRES_URL" $(BIN)/python -m pytest -m postgres; \
	else \
	  echo "NOTE: PostgreSQL runs of the concurrency tests skipped: LABELSERVER_TEST_POSTGRES_URL is not set"; \
	fi

test-fast: install
	node --test frontend/tests/
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: install
	$(BIN)/python -m ruff check .
	$(MAKE) --no-print-directory imports typecheck

# The import contract of the parts (.importlinter): which app, or part of one, may import which.
imports: install
	$(BIN)/lint-imports --no-logo --no-cache

# mypy over the app packages ([tool.mypy] in pyproject.toml). Errors from before issue 29 are listed
# in mypy-baseline.txt, which may only shrink: a new error fails, and so does a listed one that is
# gone (`make typecheck-baseline` drops it). Exit status 1 is "errors found", left to the baseline.
MYPY := LABELSERVER_DATA_DIR=$(CURDIR)/var/cache/mypy-django $(BIN)/python -m mypy
MYPY_OUT := var/cache/mypy-output.txt
typecheck: install
	@mkdir -p var/cache
	@$(MYPY) > $(MYPY_OUT) || [ $$? -eq 1 ] || { cat $(MYPY_OUT); exit 2; }
	@$(BIN)/mypy-baseline filter --no-colors < $(MYPY_OUT) || { echo "mypy: fix the new errors" \
	  "above; for fixed ones (or moved code) run \`make typecheck-baseline\`"; exit 1; }

# Rewrites mypy-baseline.txt from mypy's errors now: after fixes, or after moving code (the list
# names files). Fails when the list grew against the last commit's: fix the new errors instead.
typecheck-baseline: install
	@mkdir -p var/cache
	@$(MYPY) > $(MYPY_OUT) || [ $$? -eq 1 ] || { cat $(MYPY_OUT); exit 2; }
	$(BIN)/mypy-baseline sync < $(MYPY_OUT)
	@old=$$(git show HEAD:mypy-baseline.txt 2>/dev/null | wc -l); new=$$(wc -l < mypy-baseline.txt); \
	echo "mypy-baseline.txt: $$new errors (last commit: $$old)"; \
	if [ "$$old" -gt 0 ] && [ "$$new" -gt "$$old" ]; then echo "it may only shrink: see git diff"; exit 1; fi

clean:
	rm -rf var
