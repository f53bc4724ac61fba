# hashwall developer commands. `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow conformance lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The whole suite except tests marked slow; conformance tests skip without the reference data
# (HASHWALL_SHARED_DATA, see README.md) unless CI=true. MARKERS selects another subset (pytest -m
# syntax).
MARKERS ?= not slow
test: $(STAMP)
	$(BIN)/python -m pytest -m "$(MARKERS)" -q

# Everything, including the slow tests.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q

# Only the tests against the reference data, failing (not skipping) when it is missing.
conformance: $(STAMP)
	CI=true $(BIN)/python -m pytest -m "conformance and not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# A local demo on http://127.0.0.1:8000 over SQLite (./var/hashwall.db): migrates, creates the
# demo organisation, platforms, partner and keys once (kept in ./var/demo-keys.json, 0600),
# prints the keys as export lines with three commands to try and the addresses of /report, /case
# and /demo, and serves until Ctrl-C. Only here is the demo set up: HASHWALL_DEMO_KEYS_FILE makes
# the server serve /demo as the first demo platform (its key held by the server).
.PHONY: run
RUN_ENV := HASHWALL_DATABASE_URL=sqlite:///./var/hashwall.db
run: $(STAMP)
	$(RUN_ENV) $(BIN)/hashwall db upgrade
	$(RUN_ENV) $(BIN)/hashwall demo setup --url http://127.0.0.1:8000 --keys-file ./var/demo-keys.json
	$(RUN_ENV) HASHWALL_DEMO_KEYS_FILE=./var/demo-keys.json \
		$(BIN)/hashwall serve --host 127.0.0.1 --port 8000
