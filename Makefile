# edgeprep: `make demo` and `make test` take a fresh machine (Python 3.11) to a working export and a
# green test run. Both create .venv and install edgeprep with its test extras first.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out

.PHONY: install demo test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "edgeprep needs Python 3.11 (set PYTHON=/path/to/python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/01_image_normalization/train.py --out $(OUT)/digits.keras
	$(BIN)/edgeprep inspect $(OUT)/digits.keras
	$(BIN)/edgeprep export $(OUT)/digits.keras --out $(OUT)/digits-dist
	$(BIN)/edgeprep verify $(OUT)/digits-dist
	@echo "demo: artifacts and manifest in $(OUT)/digits-dist"

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-slow: $(STAMP)
	EDGEPREP_SLOW=1 $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)  # every benchmark, side by side per script; bench.py last assembles BENCHMARKS.md
	$(BIN)/python scripts/bench_adapt.py --markdown benchmarks/3-adapt.md
	$(BIN)/python scripts/bench_lowering.py --out benchmarks/2-lowering.md
	$(BIN)/python scripts/bench_verify.py
	$(BIN)/python scripts/bench_quant.py
	$(BIN)/python scripts/bench.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache build *.egg-info
