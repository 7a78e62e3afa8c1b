# Two commands do all the set-up on a fresh Debian machine with Python 3.11+, pip and root:
#   make run    create .venv, install the locked dependencies and sockdash, start it with its defaults
#   make test   the same, then Chromium and the peer clients, then make lint (ruff check and mypy),
#               then pytest over every test; PYTEST_ARGS picks the tests (lint still runs):
#               make test PYTEST_ARGS="tests/integration/test_wheel.py -x"
# Maintenance:
#   make lock   regenerate requirements.txt, the lock: exact versions with hashes of pyproject.toml's
#               dependencies and its test extra, for Python 3.11 (uv pip compile). Run it after changing a
#               dependency in pyproject.toml; versions already locked are kept unless
#               LOCK_ARGS=--upgrade (or --upgrade-package NAME) says otherwise
#   make lint   ruff check and mypy with their settings in pyproject.toml (strict for sockets_core/);
#               make test runs it first
# A try of the cluster (issue 12):
#   make cluster  a redis-server on a unix socket in .sockdash/cluster and two sockdash instances on it:
#               A (--workers 2, dashboard on 8000) and B (dashboard on 8001, its services on other ports);
#               Ctrl-C stops all three. ARGS go to both instances
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.txt
UV := uv==0.13.9
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?= tests/unit tests/integration tests/e2e
LOCK_ARGS ?=

CLUSTER := $(CURDIR)/.sockdash/cluster

.PHONY: run test install peers lock lint clean cluster

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv" >&2; \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip

# The lock first (hash-checked), then sockdash itself without dependencies and without build
# isolation (setuptools is in the lock): nothing outside the lock is installed. pip check fails when
# pyproject.toml names a dependency the lock lacks.
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install -q -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check >&2; \
	  echo "$(LOCK) does not match pyproject.toml: run 'make lock'" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/sockdash $(ARGS)

peers: $(STAMP)
	@bash tests/tools/ensure_peers.sh $(BIN)/python

test: $(STAMP) peers
	@$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lock: $(BIN)/python
	$(BIN)/pip install -q $(UV)
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes --quiet \
	  --custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK)

lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

# Redis without a TCP port or a file on disk (a bus, not a store); the instances find it through
# SOCKDASH_BUS. The trap stops the three processes however the recipe ends.
cluster: $(STAMP)
	@command -v redis-server >/dev/null || { echo "make cluster needs redis-server (apt-get install redis-server)" >&2; exit 1; }
	@mkdir -p $(CLUSTER)/a $(CLUSTER)/b; rm -f $(CLUSTER)/redis.sock; \
	trap 'kill $$a $$b $$redis 2>/dev/null; wait' EXIT INT TERM; \
	redis-server --save '' --appendonly no --port 0 --unixsocket $(CLUSTER)/redis.sock --unixsocketperm 700 \
	  --dir $(CLUSTER) --logfile redis.log & redis=$$!; \
	for i in $$(seq 100); do [ -S $(CLUSTER)/redis.sock ] && break; sleep 0.1; done; \
	export SOCKDASH_BUS=unix://$(CLUSTER)/redis.sock; \
	$(BIN)/sockdash --workers 2 --data $(CLUSTER)/a $(ARGS) & a=$$!; \
	$(BIN)/sockdash --data $(CLUSTER)/b --http-port 8001 --tcp-chat-port 8889 --udp-chat-port 8990 \
	  --file-port 8081 --tftp-port 6970 --syslog-port 5515 $(ARGS) & b=$$!; \
	wait $$a $$b

clean:
	rm -rf $(VENV) build *.egg-info
