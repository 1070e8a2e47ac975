# edgeprep: `make demo` and `make test` take a fresh machine (Python 3.11) to a working export and a
# green test run. Both create .venv and install edgeprep with its test extras first.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out

.PHONY: install clients chromium demo test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "edgeprep needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# The JavaScript clients of tests/clients and examples/09_browser: onnxruntime-node, onnxruntime-web
# and playwright-core from package-lock.json into ./node_modules (no install scripts: onnxruntime-node
# ships its CPU binaries), and Debian's chromium. Quick when already installed. Without npm or apt-get
# the client tests skip, except under CI, where a missing client is an error.
NODE_STAMP := node_modules/.installed
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

clients: $(NODE_STAMP) chromium

$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	elif [ -n "$$CI" ]; then echo "npm is missing: CI needs Node.js 20+ and npm" >&2; exit 1; \
	else echo "npm not found: the JavaScript client tests (tests/clients) will skip"; fi

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1; then \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
		elif [ -n "$$CI" ]; then echo "chromium is missing and apt-get is not available" >&2; exit 1; \
		else echo "chromium not found: the headless browser tests (tests/clients) will skip"; fi; }

demo: $(STAMP)
	$(BIN)/python examples/01_image_normalization/train.py --out $(OUT)/digits.keras
	$(BIN)/edgeprep inspect $(OUT)/digits.keras
	$(BIN)/edgeprep export $(OUT)/digits.keras --out $(OUT)/digits-dist
	$(BIN)/edgeprep verify $(OUT)/digits-dist
	@echo "demo: artifacts and manifest in $(OUT)/digits-dist"

# Two pytest-xdist workers (CI has 2 cores): each keeps its own session cache of zoo exports; --dist loadscope
# runs a module on one worker, so a module-scoped export is made once, not once per worker.
test: $(STAMP) clients
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadscope

test-slow: $(STAMP) clients
	EDGEPREP_SLOW=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadscope

bench: $(STAMP)  # every benchmark, side by side per script; bench.py last assembles BENCHMARKS.md
	$(BIN)/python scripts/bench_adapt.py --markdown benchmarks/3-adapt.md
	$(BIN)/python scripts/bench_lowering.py --out benchmarks/2-lowering.md
	$(BIN)/python scripts/bench_verify.py
	$(BIN)/python scripts/bench_quant.py
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info
