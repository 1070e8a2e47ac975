"""Parity reports people and CI systems can read: report.json, a self-contained report.html
(tables, error histograms and output-vs-reference scatter plots embedded as PNG), JUnit XML."""

from __future__ import annotations

import base64
import html
import io
import json
from xml.sax.saxutils import quoteattr

import numpy as np

from edgeprep.config import Target
from edgeprep.manifest import Manifest, encode
from edgeprep.parity.chain import TargetEvidence
from edgeprep.parity.compare import Comparison, ParityReport


def report_json(summary: dict) -> bytes:
    return (json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n").encode()


def summary(evidence: dict[Target, TargetEvidence], manifest: Manifest | None = None) -> dict:
    """The numbers of report.json: per target, the verdict and both links of the chain."""
    targets = {}
    for target, entry in evidence.items():
        targets[target.value] = {
            "verdict": entry.verdict.to_json(),
            "transformed_vs_keras": entry.transformed_vs_keras.to_json() if entry.transformed_vs_keras is not None else None,
            "artifact_vs_transformed": entry.artifact_vs_transformed.to_json() if entry.artifact_vs_transformed is not None else None,
            "origin": entry.origin,
        }
    data = {"passed": all(entry.verdict for entry in evidence.values()), "targets": targets}
    if manifest:
        data["transforms"] = [encode(step) for step in manifest.transforms]
        data["artifacts"] = [{"target": a.target, "file": a.file, "bytes": a.bytes, "sha256": a.sha256, "ops": a.ops} for a in manifest.artifacts]
    return data


def junit_xml(verdicts: dict[Target, ParityReport], suite: str = "edgeprep-parity") -> bytes:
    """One testcase per target and output."""
    cases = []
    failures = 0
    for target, report in verdicts.items():
        for output in report.outputs:
            body = ""
            if not output.passed:
                failures += 1
                body = f"<failure message={quoteattr(output.message or 'failed')}/>"
            cases.append(f'  <testcase classname={quoteattr(f"parity.{target.value}")} name={quoteattr(output.name)} time="0">{body}</testcase>')
    head = f'<testsuite name={quoteattr(suite)} tests="{len(cases)}" failures="{failures}" errors="0">'
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + head + "\n" + "\n".join(cases) + "\n</testsuite>\n").encode()


def render_html(title: str, summary_data: dict, comparisons: dict[Target, Comparison], manifest: Manifest | None = None) -> bytes:
    """A self-contained HTML page: verdict table, per-output plots, transforms, artifacts."""
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p class=verdict>{'PASSED' if summary_data['passed'] else 'FAILED'}</p>"]
    parts.append("<h2>Parity</h2><table><tr><th>target</th><th>output</th><th>passed</th><th>max abs</th><th>max rel</th>"
                 "<th>mean rel</th><th>p99 rel</th><th>min rtol</th><th>top-1</th><th>SQNR dB</th><th>note</th></tr>")
    for target, entry in summary_data["targets"].items():
        for output in entry["verdict"]["outputs"]:
            parts.append(
                "<tr>" + "".join(f"<td>{html.escape(_fmt(output.get(k)))}</td>" for k in ("name", "passed", "max_abs", "max_rel", "mean_rel", "p99_rel", "min_rtol", "top1", "sqnr_db", "message")).replace("<td>", f"<td>{html.escape(target)}</td><td>", 1) + "</tr>"
            )
        parts.append(f"<tr><td colspan=12 class=origin>{html.escape(target)}: {html.escape(entry['origin'])}</td></tr>")
    parts.append("</table>")
    for target, comparison in comparisons.items():
        for name, accumulator in comparison.accumulators.items():
            image = _plot(accumulator, f"{target.value} / {name}")
            if image:
                parts.append(f"<h3>{html.escape(target.value)} / {html.escape(name)}</h3><img alt='error plots' src='data:image/png;base64,{image}'>")
    if manifest:
        parts.append("<h2>Artifacts</h2><table><tr><th>target</th><th>file</th><th>bytes</th><th>ops</th></tr>")
        for artifact in manifest.artifacts:
            ops = ", ".join(f"{k}×{v}" for k, v in artifact.ops.items())
            parts.append(f"<tr><td>{artifact.target}</td><td>{artifact.file}</td><td>{artifact.bytes}</td><td>{html.escape(ops)}</td></tr>")
        parts.append("</table><h2>Transforms</h2><table><tr><th>layer</th><th>class</th><th>action</th><th>detail</th></tr>")
        for step in manifest.transforms:
            if step.action != "kept":
                parts.append("<tr>" + "".join(f"<td>{html.escape(value)}</td>" for value in (step.layer, step.class_name, step.action, step.detail)) + "</tr>")
        parts.append("</table>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;"
             "font-size:13px}.verdict{font-size:20px;font-weight:bold}.origin{color:#555}")
    page = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    return page.encode()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}"
    return "" if value is None else str(value)


def _plot(accumulator, title: str) -> str | None:
    """Error histogram and output-vs-reference scatter as one base64 PNG (None without data)."""
    points = accumulator.sample_points()
    if accumulator.kind != "float" or not len(points):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgeprep.runtime.compare import _EDGES

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    counts = accumulator.histogram
    nonzero = np.nonzero(counts)[0]
    if nonzero.size:
        lo, hi = nonzero[0], nonzero[-1] + 1
        edges = _EDGES[lo:hi + 1].copy()
        edges[0] = max(edges[0], 1e-13)
        edges[-1] = edges[-1] if np.isfinite(edges[-1]) else edges[-2] * 10
        left.stairs(counts[lo:hi], edges, fill=True)
        left.set_xscale("log")
    left.set_title("|artifact - reference|")
    left.set_ylabel("elements")
    right.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5)
    bounds = [float(points.min()), float(points.max())]
    right.plot(bounds, bounds, color="gray", linewidth=0.8)
    right.set_xlabel("reference")
    right.set_ylabel("artifact")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()
