"""Regenerate README.md's generated sections: CLI reference, supported-layer matrix, Keras comparison.

    python scripts/update_readme.py          # rewrite README.md in place
    python scripts/update_readme.py --check  # exit 1 if README.md is out of date (tests/test_readme.py)

Each section sits between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def cli_reference() -> str:
    """``edgeprep --help`` and every subcommand's help, as argparse prints them at 100 columns."""
    os.environ["COLUMNS"] = "100"
    from edgeprep.cli import build_parser

    parser = build_parser()
    parts = ["```", parser.format_help().rstrip(), "```"]
    subparsers = next(action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction")
    for name, sub in subparsers.choices.items():
        parts += ["", f"#### `edgeprep {name}`", "", "```", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def layer_matrix() -> str:
    from edgeprep.transforms.matrix import markdown

    return markdown()


def comparison() -> str:
    """The goals table of BENCHMARKS.md (numbers from its last `scripts/bench.py` run)."""
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    match = re.search(r"^Measured .*?$", text, re.M)
    goals = re.search(r"^## Goals\n(.*?)(?=^## )", text, re.S | re.M)
    if not goals:
        raise SystemExit("BENCHMARKS.md has no '## Goals' section; run scripts/bench.py")
    header = (match.group(0) + "\n\n") if match else ""
    body = goals.group(1).strip()
    return header + body + "\n\nFull tables, latency at 1 and all threads, memory and the other benchmarks: [BENCHMARKS.md](BENCHMARKS.md)."


SECTIONS = {"cli": cli_reference, "layers": layer_matrix, "comparison": comparison}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- BEGIN {name} --> ... <!-- END {name} --> section")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md is out of date: run python scripts/update_readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
