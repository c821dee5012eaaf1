# The two commands a newcomer needs are `make demo` and `make test`; the rest are conveniences.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast test-oldest-pgmq chaos soak fuzz lab stop clean lint bench schema

# .gitattributes names the nbstripout filter; git only applies it once the filter is defined in the repository's
# config, so a lab session's outputs never show up as changes to the notebooks (outside a git checkout: skipped).
setup: $(STAMP)
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(VENV)/bin/nbstripout --install --attributes .gitattributes; fi

$(STAMP): pyproject.toml packages/supabase-local/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e "packages/supabase-local[test]" -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (test_queue)" >/dev/null
	touch $(STAMP)

demo: setup
	$(PY) -m jobqueue.demo

test: setup
	$(PY) -m pytest

# Quick feedback: the job system's unit and integration tiers, without processes, notebooks or the browser.
test-fast: setup
	$(PY) -m pytest -q tests/unit tests/integration

# The schema's tests again on a stack that presents PGMQ 1.4.4, the oldest hosted Supabase ships.
test-oldest-pgmq: setup
	SUPABASE_LOCAL_PGMQ_SURFACE=1.4.4 $(PY) -m pytest -q tests/integration/test_submit_job.py \
		tests/integration/test_schema_worker.py tests/integration/test_schema_webhook.py \
		tests/integration/test_schema_access.py tests/integration/test_job_model_schema.py \
		tests/integration/test_provision.py tests/integration/test_schema_upgrade.py \
		tests/integration/test_queues_lab_schema.py tests/integration/test_queues_lab_consumers.py

# supabase/schema.sql, the schema the migrations make, regenerated on the embedded stack (started if need be).
# After adding a migration: make schema, and python -m jobqueue.migration_lock to lock the new file.
schema: setup
	$(PY) -m jobqueue.schema_snapshot

# Jupyter refuses to run as root unless told to (containers often run as root).
# Longer runs of the bounded suites that make test runs by default.
chaos: setup
	CHAOS_JOBS=$${CHAOS_JOBS:-2000} CHAOS_OUTAGE_SECONDS=$${CHAOS_OUTAGE_SECONDS:-30} $(PY) -m pytest -q -m chaos -s

soak: setup
	SOAK_SECONDS=$${SOAK_SECONDS:-60} SOAK_RATE=$${SOAK_RATE:-200} $(PY) -m pytest -q -m soak -s

fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(PY) -m pytest -q -m fuzz

lab: setup
	$(PY) -m supabase_local start
	$(PY) -m jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb
	$(VENV)/bin/actionlint .github/workflows/*.yml

bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/bench_end_to_end.py

stop:
	@if [ -x $(PY) ]; then $(PY) -m jobqueue.worker_process stop; $(PY) -m supabase_local stop; fi

clean: stop
	rm -rf .supabase_local artifacts
