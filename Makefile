# The two commands of the README: `make run` and `make test`. Both work on a fresh machine:
# they make .venv, install the project into it, and (for tests, as root) Debian's Chromium.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What is installed, one stamp each: the portal alone (make run), and with the test extra
# (make test and the checks), which includes the former and so marks it done too.
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.test-stamp
CHECKED := src tests alembic bench

.PHONY: run test lint typecheck pytest chromium sip-server node-deps vendor bench bench-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUN_STAMP)

## run: migrate, seed the demo tenant if the database is empty, serve on http://127.0.0.1:8000
run: $(RUN_STAMP) sip-server
	$(BIN)/portal demo

## test: lint, type-check and the whole suite (SQLite, PostgreSQL + Redis, real Chromium)
test: lint typecheck chromium sip-server pytest

lint: $(STAMP)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) node-deps
	$(BIN)/pytest

# Browser tests drive Debian's Chromium; install it when missing and we may.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "WARNING: /usr/bin/chromium is missing and this is not root: browser tests will skip (install the chromium package)"; \
		fi; \
	fi

# The softphone's SIP server (Kamailio) and TURN relay (coturn), for the demo and the phone
# tests; install them when missing and we may. The demo and the tests run their own instances
# with deploy/kamailio and deploy/coturn, so the packages' own services must not run: without
# systemd their init scripts are off by default (RUN_KAMAILIO, TURNSERVER_ENABLED), but the
# systemd units are enabled on install, so switch those off where systemd runs.
SIP_PACKAGES := kamailio kamailio-websocket-modules kamailio-autheph-modules coturn
SIP_MODULES := /usr/lib/*/kamailio/modules/websocket.so /usr/lib/*/kamailio/modules/auth_ephemeral.so

sip-server:
	@if [ ! -x /usr/sbin/kamailio ] || [ ! -x /usr/bin/turnserver ] \
			|| ! ls $(SIP_MODULES) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's Kamailio and coturn for the softphone"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SIP_PACKAGES) >/dev/null; \
			if [ -d /run/systemd/system ]; then systemctl disable --now kamailio coturn >/dev/null 2>&1 || true; fi; \
		else \
			echo "WARNING: Kamailio or coturn is missing and this is not root: the phone tests will skip and the demo has no phone system (apt-get install $(SIP_PACKAGES))"; \
		fi; \
	fi

# The accessibility tests inject axe-core into pages: pinned in tests/browser/package-lock.json,
# installed by `npm ci` into tests/browser/node_modules (gitignored) when the lock changes.
AXE := tests/browser/node_modules/axe-core/axe.min.js

node-deps: $(AXE)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/axe-core/axe.min.js; \
	else \
		echo "WARNING: npm is missing: the accessibility tests will skip (install nodejs and npm)"; \
	fi

# JsSIP ships no browser bundle: `make vendor` rebuilds static/vendor/jssip.min.js from the
# packages pinned in vendor-build/package-lock.json, with the command recorded in
# static/vendor/README.md, and checks that the bytes are the ones committed.
# The MIT licences ask for their notices in every copy.
JSSIP_NOTICE := /*! JsSIP 3.13.8, MIT, (c) José Luis Millán - Versatica. Bundled, each MIT: debug (c) TJ Holowaychuk, Josh Junon; ms (c) Vercel, Inc.; events (c) Joyent, Inc. and other Node contributors; sdp-transform (c) Eirik Albrigtsen. */
ESBUILD_JSSIP := ./node_modules/.bin/esbuild node_modules/jssip/lib/JsSIP.js --bundle \
	--format=iife --global-name=JsSIP --platform=browser --target=es2020 --minify \
	--legal-comments=eof --charset=utf8 --log-level=warning --outfile=../static/vendor/jssip.min.js \
	'--banner:js=$(JSSIP_NOTICE)'

vendor:
	cd vendor-build && npm ci --no-audit --no-fund --loglevel=error && $(ESBUILD_JSSIP)
	cd static/vendor && sha256sum --check --strict ../../vendor-build/SHA256SUMS

## bench: serve the real app, load it with wrk, print the benchmark table (not part of make test)
## (BENCH_ARGS: --quick, --production, --servers, --soak [--minutes N --rate R]; see bench/__main__.py)
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-stamp
bench: $(BENCH_STAMP) bench-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

# The optional extra `bench`: Django and gunicorn for case 1b's peer, granian for --servers.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

# The load generator is Debian's wrk; install it when missing and we may.
bench-deps:
	@if ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's wrk for the benchmarks"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
				{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; \
		else \
			echo "ERROR: wrk is missing and this is not root: install the wrk package" >&2; exit 1; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/browser/node_modules vendor-build/node_modules
