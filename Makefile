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
# The web page's 3D viewer (npm `@google/model-viewer`), served under /ui/vendor/, not committed.
WEB_DIR := web
WEB_STAMP := $(WEB_DIR)/node_modules/.installed

.PHONY: serve test lint bench clean screenshots

serve: $(INSTALLED) $(WEB_STAMP)
	$(BIN)/image2model serve

test: $(INSTALLED_TEST) $(TEST_NODE) $(WEB_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# docs/screenshots/*.png of the web page; needs redis-server (or TEST_REDIS_URL) and Chromium
screenshots: $(INSTALLED_TEST) $(WEB_STAMP)
	$(BIN)/python -m tests.web.screenshots

lint: $(INSTALLED_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(INSTALLED_TEST)
	@scripts="$(wildcard bench/bench_*.py)"; \
	if [ -z "$$scripts" ]; then echo "no bench/bench_*.py scripts"; exit 1; fi; \
	for script in $$scripts; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info $(GLTF_DIR)/node_modules \
		$(WEB_DIR)/node_modules
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

# without npm the page still works, with still previews instead of the 3D viewer
$(WEB_STAMP): $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the web page runs without its 3D viewer"; exit 0; }; \
	npm ci --prefix $(WEB_DIR) && touch $@
