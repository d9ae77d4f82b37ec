# The commands: `make demo`, `make test` (the ten-minute loop) and `make test-all` (what CI
# runs: `make test`, then the slow tests, pandas 2.2 and the wheel). All create .venv when it is
# missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# A second environment with the oldest pandas we support (2.2); the main one has pandas 3.
VENV22  := .venv-pandas22
STAMP22 := $(VENV22)/.installed

.PHONY: demo test test-all lint typecheck pytest pytest-slow pytest-pandas22 notebooks \
	notebooks-rebuild package-check bench pictures docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(STAMP22): pyproject.toml
	test -x $(VENV22)/bin/python || $(PYTHON) -m venv $(VENV22)
	$(VENV22)/bin/python -m pip install --quiet --upgrade pip
	$(VENV22)/bin/python -m pip install --quiet -e '.[dev]' 'pandas>=2.2,<2.3'
	touch $(STAMP22)

# The documentation site's own environment (Sphinx and its extensions: the docs extra).
DOCS_VENV  := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed
$(DOCS_STAMP): pyproject.toml
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

# The widget JavaScript for the browser test (npm's @jupyter-widgets/html-manager), when npm
# is there; without it (or without Chromium) that one test skips. Under
# MOBILESTATUS_REQUIRE_BROWSER (set by .ci/run) a missing npm or a failed `npm ci` stops make.
BROWSER_JS := tests/browser/node_modules/.installed
$(BROWSER_JS): tests/browser/package.json tests/browser/package-lock.json
	if command -v npm >/dev/null 2>&1; then \
	  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed) \
	    || { echo "npm ci failed: the browser test will skip" >&2; \
	         test -z "$$MOBILESTATUS_REQUIRE_BROWSER"; }; \
	else echo "npm not found: the browser test will skip" >&2; \
	     test -z "$$MOBILESTATUS_REQUIRE_BROWSER"; fi

demo: $(STAMP)
	$(BIN)/mobilestatus demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests that measure time or rate (marked serial) run alone; the rest run on PYTEST_WORKERS
# processes (most of their time is spent waiting on sandboxes, not on the CPU). Tests marked
# slow (scale, many processes, a Dask cluster, the browser) are left to `make test-all`.
PYTEST_WORKERS ?= 3
PYTEST := $(BIN)/pytest -p no:cacheprovider
FAST_TESTS := -m "not serial and not slow" tests mobilestatus_pandas
pytest: $(STAMP)
	$(PYTEST) -n $(PYTEST_WORKERS) $(FAST_TESTS)
	$(PYTEST) -m "serial and not slow"

pytest-slow: $(STAMP) $(BROWSER_JS)
	$(PYTEST) -n $(PYTEST_WORKERS) -m "slow and not serial"
	$(PYTEST) -m "slow and serial"

# pandas 2.2: every test but the slow ones (they exercise no pandas difference).
pytest-pandas22: $(STAMP22)
	$(VENV22)/bin/python -c "import pandas; assert pandas.__version__.startswith('2.2'), pandas.__version__"
	$(VENV22)/bin/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) -m "not slow and not serial"
	$(VENV22)/bin/pytest -p no:cacheprovider -m "serial and not slow"

# The tutorial notebooks, run in a real kernel and compared output by output with what is stored
# (each with a fresh default cache: sandbox.client() uses it, and the stored outputs are a first
# run's; conftest.py gives each kernel its own).
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg
notebooks: $(STAMP)
	$(PYTEST) $(NBVAL) notebooks/

# After changing notebooks/make_notebooks.py: write and run the notebooks again.
notebooks-rebuild: $(STAMP)
	$(BIN)/python notebooks/make_notebooks.py

# What users install: sdist and wheel built (python -m build), the wheel installed in a clean
# venv outside the checkout, and a smoke test run there (.ci/smoke_test.py).
package-check: $(STAMP)
	.ci/package_check.sh $(BIN)/python

# The ten-minute loop: lint, types, every test but the slow ones, and the notebooks beside the
# parallel tests (they too mostly wait): each notebook, and each test file, whole on a worker.
# The slowest tests of each pass are listed, so that where the ten minutes go stays in sight.
test: lint typecheck $(STAMP)
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadfile --durations=15 $(NBVAL) $(FAST_TESTS) notebooks
	$(PYTEST) -m "serial and not slow" --durations=5

# Everything CI runs (.ci/run), each step once: the loop, then what it leaves out.
test-all: test pytest-slow pytest-pandas22 package-check

pictures: $(STAMP) $(BROWSER_JS)
	$(BIN)/python docs/make_pictures.py

# The documentation site in docs/_build/html: every page read afresh (-E, and the generated API
# pages removed) so that no warning hides in a cached page; any warning fails the build, and
# so does an internal link to a page, image or anchor that is not there. Then the site's tests
# (tests/test_docs.py: a page for each public name and accessor method, ...) on what was built.
docs: $(DOCS_STAMP) $(STAMP)
	rm -rf docs/_build/html docs/reference/api
	$(DOCS_VENV)/bin/sphinx-build -b html -E -n -W --keep-going -q docs docs/_build/html
	$(DOCS_VENV)/bin/python docs/check_links.py docs/_build/html
	$(BIN)/pytest -p no:cacheprovider -q tests/test_docs.py

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/workers.py
	$(BIN)/python benchmarks/jitter.py
	$(BIN)/python benchmarks/frame.py
	$(BIN)/python benchmarks/encryption.py
	$(BIN)/python benchmarks/team.py
	$(BIN)/python benchmarks/compare.py
	$(BIN)/python benchmarks/partial.py

clean:
	rm -rf $(VENV) $(VENV22) $(DOCS_VENV) docs/_build docs/reference/api docs/notebooks
	rm -rf tests/browser/node_modules .pytest_cache .mypy_cache .ruff_cache build dist
