# The whole contributor interface: `make serve` and `make test` (plus lint, bench, clean).
# Both create .venv on first use and reinstall only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=

# Node glTF validator used by the mesh tests (from the npm registry, not committed).
GLTF_DIR := tests/gltf
GLTF_STAMP := $(GLTF_DIR)/node_modules/.installed
TEST_NODE := $(GLTF_STAMP)

.PHONY: serve test lint bench clean

serve: $(INSTALLED)
	$(BIN)/image2model serve

test: $(INSTALLED_TEST) $(TEST_NODE)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(INSTALLED_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(INSTALLED_TEST)
	@scripts="$(wildcard bench/bench_*.py)"; \
	if [ -z "$$scripts" ]; then echo "no bench/bench_*.py scripts"; exit 1; fi; \
	for script in $$scripts; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info $(GLTF_DIR)/node_modules
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the test install is a superset, so it also satisfies `make serve`
$(INSTALLED_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(INSTALLED)

$(GLTF_STAMP): $(GLTF_DIR)/package.json $(wildcard $(GLTF_DIR)/package-lock.json)
	npm ci --prefix $(GLTF_DIR)
	touch $@
