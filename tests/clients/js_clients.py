"""The JavaScript clients of the tests: node with onnxruntime-node, headless Chromium with onnxruntime-web.

A missing client skips its test with the reason and the fix (`make clients`), except under CI
(``CI`` set), where it fails: CI installs both, so a missing one is a broken machine, not a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NODE_MODULES = REPO / "node_modules"
RUN_ONNX = HERE / "run_onnx.mjs"
DRIVE_BROWSER = HERE / "drive_browser.mjs"
EXAMPLE = REPO / "examples" / "09_browser"


def _load_serve():
    spec = importlib.util.spec_from_file_location("browser_example_serve", EXAMPLE / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve = _load_serve()  # the example's static server, so the test serves pages exactly as users do


def missing(reason: str) -> None:
    """Skip with ``reason``, or fail under CI where every client must be installed."""
    message = f"{reason}; install the JavaScript clients with `make clients`"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"CI is set and {message}")
    pytest.skip(message)


def node_binary() -> str:
    """Path of node, with onnxruntime-node and playwright-core installed in node_modules/."""
    node = shutil.which("node")
    if node is None:
        missing("node is not on PATH")
    for package in ("onnxruntime-node", "onnxruntime-web", "playwright-core"):
        if not (NODE_MODULES / package / "package.json").is_file():
            missing(f"{NODE_MODULES / package} is not installed")
    return node


def chromium_binary() -> str:
    """Path of Debian's chromium (or $CHROMIUM)."""
    chromium = shutil.which(os.environ.get("CHROMIUM") or "chromium")
    if chromium is None:
        missing(f"{os.environ.get('CHROMIUM') or 'chromium'} is not installed (apt-get install chromium)")
    return chromium


def run_node(node: str, script: Path, *args, timeout: float = 300) -> str:
    """Run ``node script args...``; returns stdout, fails the test with stderr when node fails."""
    done = subprocess.run([node, str(script), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        pytest.fail(f"node {script.name} exited with {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def drive(node: str, chromium: str, url: str, *steps: str, screenshot: Path | None = None) -> dict:
    """Open ``url`` in headless Chromium, run drive_browser.mjs ``steps`` and return the page's report."""
    extra = ["--screenshot", str(screenshot)] if screenshot else []
    env = {**os.environ, "CHROMIUM": chromium}
    done = subprocess.run([node, str(DRIVE_BROWSER), url, *steps, *extra], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    if done.returncode != 0:
        pytest.fail(f"drive_browser.mjs exited with {done.returncode}:\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout)
    assert report["state"] == "done", f"the page ended in state {report['state']!r}: {report['result']}; console {report['console']}"
    assert not report["errors"], report["errors"]
    return report
