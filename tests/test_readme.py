"""README's generated sections (CLI reference, layer matrix, Keras comparison) are current."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO


def test_readme_is_current():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "update_readme.py"), "--check"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_readme_starts_with_the_two_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    assert lines[2:6] == ["```", lines[3], lines[4], "```"]
    assert lines[3].startswith("make demo") and lines[4].startswith("make test")
