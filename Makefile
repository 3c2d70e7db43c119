# The two commands: `make run` (demo daemon) and `make test` (all tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: run test install browser lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: start the daemon in demo mode (embedded Postgres + Redis, simulator WhatsApp, sandbox YClients)
run: $(STAMP)
	$(VENV)/bin/ai-admin serve --demo --port $(PORT)

## browser: headless Chromium + Playwright for the connect-page browser test (best effort)
browser: $(STAMP)
	-@command -v chromium >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1) || echo "chromium not installed: browser tests will be skipped")
	-@$(PY) -m pip install --quiet 'playwright>=1.40' || echo "playwright not installed: browser tests will be skipped"

## test: install and run the whole suite (TEST_DATABASE_URL / TEST_REDIS_URL or embedded servers)
test: $(STAMP) browser
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m pip install --quiet ruff mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy gateway sessions marketplace sync booking web

bench: $(STAMP)
	$(PY) scripts/bench/sessions.py
	$(PY) scripts/bench/sync.py
	$(PY) scripts/bench/booking.py

clean:
	rm -rf $(VENV) var .pytest_cache
