# The command-line interface of the schema repository. `make` lists the targets.
# Every target but `help` creates or refreshes .venv from the pinned requirements first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN := $(BIN)/python -m dbtools

REV ?=
FROM ?=
TO ?=
m ?=
EMPTY ?=
# These reach the tool as data, never as shell or make syntax: each in an environment
# variable of its own, unexpanded ($(value ...)); the variables themselves are not
# exported (make would expand them on the way), and no recipe names them.
unexport REV FROM TO m EMPTY
upgrade downgrade: export DBTOOLS_REV = $(value REV)
revision: export DBTOOLS_MESSAGE = $(value m)
revision: export DBTOOLS_EMPTY = $(value EMPTY)
sql: export DBTOOLS_FROM = $(value FROM)
sql: export DBTOOLS_TO = $(value TO)
review: export DBTOOLS_FROM = $(value FROM)
squash: export DBTOOLS_TO = $(value TO)
TEST_POSTGRES_VERSIONS ?= 16 18
TEST_WORKERS ?= auto

.DEFAULT_GOAL := help
.PHONY: help venv upgrade downgrade revision current history heads sql db db-stop db-reset psql test \
	generate check lint format release
.PHONY: bench bench-quick
.PHONY: audit test-matrix verify review squash test-without-example

help: ## list the targets with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Variables: REV=<revision> (upgrade, downgrade), m=\"message\" EMPTY=1 (revision), FROM= TO= (sql), FROM= REVIEW_FORMAT=json (review), TO= (squash)"
	@echo "  verify: VERIFY_FORMAT=json, VERIFY_SCRATCH_URL=<server>, VERIFY_SCHEMAS=a,b; MIGRATION_VERIFY=1 make upgrade"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## create or refresh .venv from the pinned requirements

upgrade: $(STAMP) ## apply migrations up to REV (default head)
	@$(RUN) upgrade

downgrade: $(STAMP) ## revert to REV (default one step back)
	@$(RUN) downgrade

revision: $(STAMP) ## autogenerate a revision from the models: make revision m="..." [EMPTY=1]
	@$(RUN) revision

current: $(STAMP) ## the revision the configured database is at
	@$(RUN) current

history: $(STAMP) ## the chain of revisions
	@$(RUN) history

heads: $(STAMP) ## the head revision(s)
	@$(RUN) heads

sql: $(STAMP) ## print the upgrade SQL from FROM (default empty) to TO (default head), offline
	@$(RUN) sql

db: $(STAMP) ## start the development server
	@$(RUN) db

db-stop: $(STAMP) ## stop the development server (its data stays)
	@$(RUN) db-stop

db-reset: db-stop ## stop the development server and delete its data
	@rm -rf .pgdata
	@echo "Development server data deleted"

psql: $(STAMP) ## open psql on the configured database
	@$(RUN) psql

test: $(STAMP) ## the whole suite, starting its own PostgreSQL (TEST_WORKERS parallel, default one per core)
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

test-without-example: $(STAMP) ## the whole suite again, in a copy without the example table (CI runs it after make test)
	@DBTOOLS_TEST_WITHOUT_EXAMPLE=1 $(BIN)/python -m pytest -p no:xdist -p no:cacheprovider -s -q tests/test_without_the_example.py

generate: $(STAMP) ## rewrite every generated artefact (per-revision SQL, migrations/HEAD, ...)
	@$(RUN) generate

check: $(STAMP) ## fail on drift, several heads, an edited released revision, stale artefacts, lint or lock-trace findings, in one list
	@$(RUN) check

release: $(STAMP) ## mark every revision as released (migrations/RELEASED); commit it with the release
	@$(RUN) release

format: $(STAMP) ## apply ruff's fixes and formatting to every Python file
	@$(BIN)/ruff check --fix --quiet --exit-zero . && $(BIN)/ruff format --quiet . && $(BIN)/ruff check --quiet .

lint: $(STAMP) ## ruff, import-linter (the layers), squawk on each revision's SQL, actionlint on the workflows
	@$(RUN) lint

bench: $(STAMP) ## the benchmarks (over an hour on 2 cores): rewrites BENCHMARKS.md and docs/bench/
	@$(BIN)/python -m bench

bench-quick: $(STAMP) ## the benchmarks, small and fast (under 2 min): shows the harness runs
	@$(BIN)/python -m bench --quick

review: $(STAMP) ## new revisions (after FROM, default: not on the base branch): SQL, lint, lock trace
	@$(RUN) review

verify: $(STAMP) ## compare the database with the schema of its recorded revision (reads only)
	@$(RUN) verify

squash: $(STAMP) ## fold the released revisions up to TO=<revision> into one baseline revision
	@$(RUN) squash

audit: $(STAMP) ## the migration log of the configured database (who applied what, when)
	@$(RUN) audit

test-matrix: $(STAMP) ## the whole suite on each supported PostgreSQL (16, 18)
	@for v in $(TEST_POSTGRES_VERSIONS); do \
		echo "== PostgreSQL $$v"; TEST_POSTGRES_VERSION=$$v $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup || exit 1; \
	done
