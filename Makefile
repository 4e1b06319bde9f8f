# The two commands: `make run` (services + pipelines + Mage UI) and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: help setup run up stop status psql backfill docs gcp-setup test test-quick lint bench bench-runs bench-backfill bench-bigquery bench-marts clean
BENCH_ARGS ?=

help:  ## this list: every target, one line each (also what a bare `make` prints)
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-z-]+):.*## /\1\t/' | \
		awk -F'\t' '{ printf "  make %-15s %s\n", $$1, $$2 }'

setup:  ## venv + system packages (PostgreSQL)
	@scripts/stack/setup.sh

run: setup  ## local PostgreSQL + sample mirror + Mage UI on :6789, runs the pipelines; Ctrl-C stops all
	@$(PY) scripts/stack/run_local.py up

up: setup  ## like run, but returns and leaves the services running (stop with make stop)
	@$(PY) scripts/stack/run_local.py up --detach

stop:  ## stop every service `make run` started
	@$(PY) scripts/stack/run_local.py down

status:  ## what runs, on which address, and where the database's files are
	@$(PY) scripts/stack/run_local.py status

psql:  ## psql on the project's database with make run's settings (.env/dev.env); SQL='SELECT ...' runs one statement; DB=course the course's
	@$(PY) scripts/ops/psql.py

backfill: setup  ## months FROM..TO through Mage backfills: make backfill PIPELINE=api_to_postgres SERVICE=yellow,green FROM=2019-01 TO=2020-12 [RELEASE=tlc] [FORCE=true] [CLEANING=raw]
	@$(PY) scripts/ops/backfill.py --pipeline '$(PIPELINE)' --service '$(SERVICE)' --from '$(FROM)' --to '$(TO)' --release '$(RELEASE)' --force '$(FORCE)' --cleaning '$(CLEANING)' --confirm '$(CONFIRM)'

docs: setup  ## dbt's docs of the marts (lineage, columns) from make up's PostgreSQL, on http://127.0.0.1:8580
	@$(PY) scripts/ops/marts_docs.py $(DOCS_ARGS)

gcp-setup: setup  ## create (if missing) the bucket and the BigQuery dataset in GOOGLE_LOCATION, or say what to change
	@$(PY) scripts/ops/gcp_setup.py

# What needs no Mage server, no container engine and no browser (a throwaway PostgreSQL and the
# emulators start in seconds): what to run while editing.
QUICK_TESTS := tests/utils tests/blocks tests/test_project.py tests/test_compose_file.py tests/test_docs.py tests/scripts/test_start_mage.py tests/scripts/test_pipeline_files.py \
	tests/scripts/test_mage_patches.py tests/scripts/test_check_layers.py tests/scripts/test_lint_workflow.py
# ... and, as its sqlfluff, only when something under dbt/ changed (make test always runs it):
QUICK_TESTS_IF_DBT_CHANGED := tests/pipelines/test_dbt_marts.py::test_the_gcp_target_compiles_with_no_network

# Two pytest-xdist workers: most tests wait on servers, and the groups that share a server stay on
# one worker (tests/support/worker_groups.py). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --no-loadscope-reorder

test:  ## make lint, then the whole test suite against real servers the tests start themselves (what CI runs)
	@scripts/stack/setup.sh --test
	@$(PY) scripts/dev/lint.py
	@$(PYTEST)

test-quick:  ## make lint (sqlfluff and the dbt compile test if dbt/ changed), then the tests that need no Mage server, containers or browser: run them while editing
	@started=$$(date +%s); scripts/stack/setup.sh --test && $(PY) scripts/dev/lint.py --sql-if-changed && \
		$(PYTEST) $(QUICK_TESTS) $$($(PY) scripts/dev/lint.py --dbt-changed && echo '$(QUICK_TESTS_IF_DBT_CHANGED)'); status=$$?; \
		echo "[test-quick] $$(( $$(date +%s) - started )) s in all (exit $$status)"; exit $$status

lint:  ## ruff, mypy, the layers' contracts, the pipeline files, sqlfluff on the dbt models (LINT_ARGS=--fix: fix first)
	@scripts/stack/setup.sh
	@$(PY) scripts/dev/lint.py $(LINT_ARGS)

bench: setup  ## our pipeline vs psql \copy vs the course's way (BENCH_ARGS='--rows 100000 --months 12'), then bench-bigquery, bench-marts and bench-runs
	@$(PY) scripts/bench/month_loads.py $(BENCH_ARGS)
	@$(PY) scripts/bench/bigquery_replace.py
	@$(PY) scripts/bench/marts_refresh.py
	@$(PY) scripts/bench/server_runs.py

bench-runs: setup  ## a run through the Mage server, trigger to end: Mage as it comes vs our preloaded imports and woken scheduler vs each block a job (run_pipeline_in_one_process: false)
	@$(PY) scripts/bench/server_runs.py

bench-bigquery: setup  ## replacing one month in a BigQuery table of 1 vs 12 months (emulator)
	@$(PY) scripts/bench/bigquery_replace.py

bench-marts: setup  ## one month's dbt refresh of the marts when they hold 1 vs 12 months (PostgreSQL, BigQuery emulator)
	@$(PY) scripts/bench/marts_refresh.py

bench-backfill: setup  ## a year of synthetic months through make backfill vs 12 x psql \copy (BENCH_ARGS='--months 12 --parallel 1 2 3')
	@$(PY) scripts/bench/backfill_year.py $(BENCH_ARGS)

clean:  ## stop, then remove local data (database wherever it is, Mage runs, work files); keeps .venv
	@$(PY) scripts/stack/run_local.py clean
