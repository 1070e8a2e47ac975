"""Sweep the model fuzzer: many random models through both targets, reporting every failure.

Usage: python scripts/fuzz.py [--examples 200] [--seed N]
Runs tests/test_fuzz.py with hypothesis randomised (the CI run is bounded and derandomized). A
failing example prints its recipe and hypothesis' reproduction seed; add it to
tests/test_fuzz_regressions.py once understood.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = parser.parse_args()
    env = {**os.environ, "EDGEPREP_FUZZ_EXAMPLES": str(args.examples), "EDGEPREP_FUZZ_RANDOM": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", str(REPO / "tests" / "test_fuzz.py")]
    if args.seed is not None:
        command.append(f"--hypothesis-seed={args.seed}")
    return subprocess.call(command, env=env, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main())
