# The two commands a newcomer needs are `make demo` and `make test`; the rest are conveniences.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lab stop clean lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (test_queue)" >/dev/null
	touch $(STAMP)

demo: setup
	$(PY) -m jobqueue.demo

test: setup
	$(PY) -m pytest

lab: setup
	$(PY) -m supabase_local start
	$(PY) -m jupyter lab notebooks/

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb

bench: setup
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/bench_end_to_end.py

stop:
	@if [ -x $(PY) ]; then $(PY) -m jobqueue.worker_process stop; $(PY) -m supabase_local stop; fi

clean: stop
	rm -rf .supabase_local artifacts
