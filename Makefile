# hashwall developer commands. `make test` works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow conformance lint format clean lock

# The development environment: the exact versions of requirements/dev.txt (hashes checked), then
# hashwall itself, editable, without resolving anything else.
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# The lock files, from the ranges in pyproject.toml, for this Python (3.11), with pip-tools in
# a venv of its own: requirements/dev.txt (server + dev tools: `make venv`, CI),
# requirements/server.txt (a deployment) and requirements/sdk.txt (the SDK alone). Existing pins
# are kept; LOCK_FLAGS=--upgrade (or "--upgrade-package NAME") moves them. server.txt and sdk.txt
# start from dev.txt's pins, so all three agree. hashwall itself is left out of them
# (--unsafe-package): it is installed from the tree with --no-deps.
LOCK_TOOLS := $(VENV)/lock-tools
LOCK_FLAGS ?=
PIP_COMPILE = $(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links --unsafe-package hashwall
lock:
	test -x $(LOCK_TOOLS)/bin/pip-compile || \
		($(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet pip-tools==7.6.2)
	$(PIP_COMPILE) $(LOCK_FLAGS) --extra dev -o requirements/dev.txt pyproject.toml
	cp requirements/dev.txt requirements/server.txt
	$(PIP_COMPILE) --extra server -o requirements/server.txt pyproject.toml
	cp requirements/dev.txt requirements/sdk.txt
	$(PIP_COMPILE) -o requirements/sdk.txt pyproject.toml
	for lock in dev server sdk; do \
		sed -i '/^# WARNING: The following packages were not pinned/,$$d' requirements/$$lock.txt && \
		echo '# hashwall itself: pip install --no-deps .' >> requirements/$$lock.txt; \
	done

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
	$(BIN)/ruff check --no-cache src tests
	$(BIN)/ruff format --no-cache --check src tests
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
