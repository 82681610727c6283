# Two commands do everything on a fresh machine with Python 3.11+ and make:
#   make run    create .venv, install, migrate, serve on http://127.0.0.1:8000
#   make test   create .venv, install, lint, type-check and run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run serve test lint typecheck pytest fuzz migrate openapi client bench bench-smoke bench-chat bench-compare bench-count install install-dev lock hooks clean image image-test chart

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs are exact and hash-checked: a lock file (every package, pinned, with its hashes; pip
# refuses anything unpinned or altered), then the project itself without re-resolving anything.
$(VENV)/.installed: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

$(VENV)/.installed-fuzz: $(VENV)/.installed-dev requirements-fuzz.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-fuzz.txt
	touch $@

$(VENV)/.installed-chart: $(VENV)/.installed-dev requirements-chart.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-chart.txt
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed requirements-bench.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-bench.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## The git pre-commit hooks of .pre-commit-config.yaml: ruff and mypy before each commit.
hooks: install-dev
	$(BIN)/pre-commit install

## Development server: migrate, then serve with auto-reload.
run: install
	$(BIN)/python -m todo_api dev-setup
	$(BIN)/alembic upgrade head
	$(BIN)/python -m todo_api serve --host $(HOST) --port $(PORT) --reload

## Production-style server: no reload, no access log, $(WORKERS) workers.
serve: install
	$(BIN)/alembic upgrade head
	$(BIN)/python -m todo_api serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

migrate: install
	$(BIN)/alembic upgrade head

## The whole suite: lint, types, tests with coverage.
test: install-dev lint typecheck pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

# The suite covers 93 % of the code: below the floor, the run fails (COVERAGE_FLOOR=0 for a subset).
COVERAGE_FLOOR ?= 91
pytest: install-dev
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

## Schemathesis against the live server, every operation and check (about a minute).
fuzz: $(VENV)/.installed-fuzz
	$(BIN)/pytest -m fuzz backend/tests/fuzz $(PYTEST_ARGS)

## Load benchmark (about 8 minutes; BENCH_ARGS=--full about 20; needs wrk, installed via apt-get
## when missing and root). BENCH_ARGS=--events adds task events (about 5 minutes more; needs
## nats-server; --events-only runs only them); --reminders and --live add reminders and live
## streams (about 3 minutes each; --reminders-only, --live-only). A stopped run stops its servers
## and database.
bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## The same, tiny and short (two to four minutes, a small events section included): checks the
## benchmark itself works.
bench-smoke: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py --smoke
	$(BIN)/python bench/chat.py --smoke

## What a chat turn costs the service itself, against the tests' stand-in model (about a minute).
bench-chat: $(VENV)/.installed-bench
	$(BIN)/python bench/chat.py $(BENCH_ARGS)

## This tree side by side with an earlier version: make bench-compare REF=<git ref>
## (alternated runs, a database per side, medians and ratios of req/s and of CPU per request;
## about 9 minutes with the defaults; BENCH_ARGS=--tree REF2 puts another ref in this tree's place).
bench-compare: $(VENV)/.installed-bench
	$(BIN)/python bench/compare.py $(REF) $(BENCH_ARGS)

## Instructions per request, this tree against an earlier version, counted by valgrind (needs
## valgrind; about 4 minutes per scenario): make bench-count REF=<git ref>
bench-count: $(VENV)/.installed-bench
	$(BIN)/python bench/count.py $(REF) $(BENCH_ARGS)

## The container image (Dockerfile; deploy guide: specs/001-backend-task-api/deploy.md).
IMAGE ?= todo-api:local
BASE_IMAGE ?= python:3.13-slim
image:
	docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .

## The image built and run for real, as root (a few minutes): its own Docker daemon (docker.io,
## installed when missing), a debootstrapped stand-in for the slim base (cached), the app image
## on it, and the checks of backend/tests/container against a PostgreSQL of the test's own.
image-test: install-dev
	$(BIN)/pytest -m container backend/tests/container $(PYTEST_ARGS)

## The Helm chart (deploy/helm/todo-api; about half a minute): rendered by Helm's own engine
## (Helm v4's Go SDK as a library, no binary, no cluster) for the default values and
## values-production.yaml, `helm lint --strict`, every manifest validated against the
## Kubernetes 1.27 and 1.37 schemas, and the chart's rules (backend/tests/chart).
chart: $(VENV)/.installed-chart
	$(BIN)/pytest -m chart backend/tests/chart $(PYTEST_ARGS)

## The typed TypeScript client's npm packages, from its lockfile (needs Node.js and npm).
client:
	cd specs/001-backend-task-api/client && npm ci --no-audit --no-fund

## Write the OpenAPI contract of the app to specs/.
openapi: install
	$(BIN)/python -m todo_api openapi > specs/001-backend-task-api/contracts/openapi.json
	$(BIN)/python -m todo_api asyncapi > specs/001-backend-task-api/contracts/asyncapi.json
	$(BIN)/python -m todo_api mcp-tools > specs/001-backend-task-api/contracts/mcp-tools.json

## Regenerate the hashed lock files from pyproject.toml (dependencies and dependency groups),
## keeping every version they pin that still fits; UPGRADE=1 moves each to its newest allowed.
## One resolution for Python 3.11 and later (CI installs them on 3.11 and 3.13).
LOCK = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: install-dev
	$(LOCK) pyproject.toml -o requirements.txt
	$(LOCK) pyproject.toml --group dev -c requirements.txt -o requirements-dev.txt
	$(LOCK) pyproject.toml --group bench -c requirements.txt -o requirements-bench.txt
	$(LOCK) pyproject.toml --group fuzz -c requirements-dev.txt -o requirements-fuzz.txt
	$(LOCK) pyproject.toml --group chart -c requirements-dev.txt -o requirements-chart.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
