# labelserver: `make run` sets up and starts everything; `make test` runs the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DEBUG ?= 1
export PYTHONUNBUFFERED := 1

.PHONY: install migrate demo run test test-fast lint clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of PyTorch first: a bare `torch` requirement would pull GBs of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
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

clean:
	rm -rf var
