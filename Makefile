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

# The whole suite except tests marked slow; conformance tests skip without ../shared/data
# unless CI=true. MARKERS selects another subset (pytest -m syntax).
MARKERS ?= not slow
test: $(STAMP)
	$(BIN)/python -m pytest -m "$(MARKERS)" -q

# Everything, including the slow tests.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q

# Only the tests against ../shared/data, failing (not skipping) when it is missing.
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
