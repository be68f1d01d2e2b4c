# pdo-graph: `make run` serves GraphiQL at http://127.0.0.1:8000/graphql; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := tests/oidc/node_modules/.installed-stamp
TOOLS_STAMP := tests/http_audit/node_modules/.installed-stamp

.PHONY: install node run test lint schema schema-check bench-search bench-rush bench-sync bench-analytics clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(NODE_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(TOOLS_STAMP): tests/http_audit/package.json tests/http_audit/package-lock.json
	cd tests/http_audit && npm ci --no-audit --no-fund --loglevel=error
	touch $(TOOLS_STAMP)

node: $(NODE_STAMP) $(TOOLS_STAMP)

run: install
	$(VENV)/bin/pdo-graph serve --migrate --demo

test: install node
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check pdo_graph tests bench
	$(VENV)/bin/ruff format --check pdo_graph tests bench
	$(VENV)/bin/mypy pdo_graph

schema: install
	$(VENV)/bin/pdo-graph export-schema

schema-check: install
	$(VENV)/bin/pdo-graph export-schema --check

bench-search: install
	$(PY) bench/search.py

bench-rush: install
	$(PY) bench/rush.py

bench-sync: install node
	$(PY) bench/sync.py

bench-analytics: install
	$(PY) bench/analytics_region.py

clean:
	rm -rf $(VENV) .pdo tests/oidc/node_modules tests/http_audit/node_modules
