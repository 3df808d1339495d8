# One obvious command for each habit. `make install` is quick when nothing changed.
VENV ?= .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install system-deps run test check format bench soak chaos clean

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian packages the browser, nginx, Redis and store-fault (chattr) tests use (needs root).
system-deps:
	bash scripts/system-deps.sh

run: install
	$(PY) app.py

test: install system-deps
	$(PY) -m pytest

check: install
	bash scripts/stray-files.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) node_modules test-output .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info

# Side by side with the Node.js reference; run nothing else meanwhile.
# About 12 minutes; e.g. `make bench BENCH_ARGS="--quick"` or "--only fanout".
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

# Bounded, not part of `make test`: 2,000 clients in 20 rooms, 100 messages/s,
# 5 minutes (docs/reliability.md). E.g. `make soak SOAK_ARGS="--minutes 1"`.
soak: install
	$(PY) bench/soak.py $(SOAK_ARGS)

# Bounded, not part of `make test`: two processes over one Redis that stalls,
# restarts and hangs, clients on every door; about 3 minutes
# (docs/reliability.md). E.g. `make chaos CHAOS_ARGS="--seconds 90"`.
chaos: install
	$(PY) bench/chaos.py $(CHAOS_ARGS)
