# pdo-graph: `make run` serves GraphiQL at http://127.0.0.1:8000/graphql; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := tests/oidc/node_modules/.installed-stamp
TOOLS_STAMP := tests/http_audit/node_modules/.installed-stamp

.PHONY: install node run test test-fast lint schema schema-check bench-search bench-rush bench-fair bench-sync bench-dashboard bench-live bench-analytics bench-close-gate clean

# pip's own output goes to $(VENV)/install.log; on failure its end is shown.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "pdo-graph needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1) (try: make PYTHON=python3.12 ...)"; exit 1; }
	@echo "installing pdo-graph and its dependencies into $(VENV) (about a minute the first time; log: $(VENV)/install.log)"
	@$(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[dev]'; } > $(VENV)/install.log 2>&1 || { \
	  tail -n 25 $(VENV)/install.log; echo "installing failed: the whole log is $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

$(NODE_STAMP): tests/oidc/package.json tests/oidc/package-lock.json
	cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(TOOLS_STAMP): tests/http_audit/package.json tests/http_audit/package-lock.json
	cd tests/http_audit && npm ci --no-audit --no-fund --loglevel=error
	touch $(TOOLS_STAMP)

node: $(NODE_STAMP) $(TOOLS_STAMP)

run: install
	$(VENV)/bin/pdo-graph serve --migrate --demo --with-worker

test: install node
	$(PY) -m pytest -q

# the fast lane: no real server process, no browser, nothing over ~2 s (markers in pyproject.toml)
test-fast: install node
	$(PY) -m pytest -q -m "not slow and not e2e and not browser"

lint: install
	$(VENV)/bin/ruff check pdo_graph tests bench
	$(VENV)/bin/ruff format --check pdo_graph tests bench
	$(VENV)/bin/mypy pdo_graph
	$(VENV)/bin/lint-imports --no-logo

schema: install
	$(VENV)/bin/pdo-graph export-schema

schema-check: install
	$(VENV)/bin/pdo-graph export-schema --check

bench-search: install
	$(PY) bench/search.py

bench-rush: install
	$(PY) bench/rush.py

bench-fair: install
	$(PY) bench/fair_opening.py

bench-sync: install node
	$(PY) bench/sync.py

# installs its peer (PostGraphile, Node 22) into bench/postgraphile/node_modules with npm ci on first run
bench-dashboard: install
	$(PY) bench/dashboard.py

bench-live: install
	$(PY) bench/subscriptions.py

bench-analytics: install
	$(PY) bench/analytics_region.py

# needs PDO_DATABASE_URL (a scratch database is created there)
bench-close-gate: install
	$(PY) bench/close_gate.py

clean:
	rm -rf $(VENV) .pdo tests/oidc/node_modules tests/http_audit/node_modules bench/postgraphile/node_modules
