# Two commands do all the set-up on a fresh Debian machine with Python 3.11+, pip and root:
#   make run    create .venv, install sockdash, start it with its defaults
#   make test   create .venv, install sockdash[test], install Chromium and the peer clients, run pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: run test install peers clean

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv" >&2; \
	  [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/sockdash $(ARGS)

peers: $(STAMP)
	@bash tests/tools/ensure_peers.sh $(BIN)/python

test: $(STAMP) peers
	$(BIN)/python -m pytest -q tests/unit tests/integration tests/e2e

clean:
	rm -rf $(VENV) build *.egg-info
