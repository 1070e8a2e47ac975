"""BENCHMARKS.md from the measurements of `scripts/bench.py`: machine, versions, goals, tables."""

from __future__ import annotations

from pathlib import Path

# How the report names each of `bench.VARIANTS`.
LABELS = {"keras": "(a) Keras model.export", "nofold": "(b) edgeprep --no-fold", "fold": "(c) edgeprep", "batch1": "edgeprep --batch 1", "bare": "(d) bare network, edgeprep"}


def write_report(path: Path, results: list[dict], machine: dict, args: dict) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Measured {_provenance(machine, args, '--runs ' + str(args['runs']))}, {machine['platform']}.",
        "",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in machine["versions"].items()) + ".",
        "",
        "Latency: batch 1, one process, all artifacts of a model interleaved round-robin, median of "
        f"{args['runs']} runs after {args['warmup']} warm-up runs, at 1 thread and at all threads. The machine is "
        "shared: compare ratios within a table, not absolute numbers across runs.",
        "",
        "Variants: (a) Keras' own `model.export` (format `litert` / `onnx`); (b) edgeprep `--no-fold`; "
        "(c) edgeprep (folding on, the default); edgeprep `--batch 1` (static shapes); (d) the same network "
        "without its preprocessing layers, through edgeprep: the floor that free preprocessing reaches.",
        "",
        "## Goals",
        "",
        "| model | target | (c)/(d) latency, 1 thread | (c)/(a) latency, 1 thread | --batch 1: XNNPACK partitions, shape ops | ONNX nodes (c) / onnxslim(a) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        lines.extend(_goal_rows(result))
    lines.append("")
    lines.extend(_export_goal(results))
    lines.extend(_predict_goal(results))
    for result in results:
        lines.extend(_model_section(result, args))
    lines.extend(_fragments(path.parent / "benchmarks"))
    path.write_text("\n".join(lines) + "\n")


def write_fragment(markdown: str | Path, section: str, results: Path, rows: list[dict]) -> None:
    """Print a benchmark's section, write it to its ``benchmarks/*.md`` fragment and its rows as JSON."""
    import json

    print(section)
    Path(markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(markdown).write_text(section + "\n")
    results.write_text(json.dumps(rows, indent=2))


FRAGMENTS = "<!-- below: benchmarks/*.md, each written by its own script; `python scripts/bench_report.py` re-assembles -->"


def refresh_fragments(path: Path) -> None:
    """Re-append benchmarks/*.md to an existing BENCHMARKS.md, keeping bench.py's own tables as measured."""
    text = path.read_text(encoding="utf-8")
    if FRAGMENTS not in text:
        raise SystemExit(f"{path} has no fragment marker; run scripts/bench.py to write it whole")
    head = text.split(FRAGMENTS)[0].rstrip("\n").split("\n")
    path.write_text("\n".join(head + _fragments(path.parent / "benchmarks")) + "\n")


MEMORY_FRAGMENT = "benchmarks/8-memory.md"  # relative to BENCHMARKS.md's folder


def write_memory(path: Path, results: list[dict], machine: dict, args: dict, history: str = "") -> None:
    """The big models' section (issue 21): peak RSS and wall time of edgeprep vs Keras' two exports, and the slopes;
    ``history`` (`memory_history`: what the file held before this run) below it."""
    lines = [
        "## Big models: export memory and wall time (issue 21)",
        "",
        f"Measured {_provenance(machine, args)}; other sessions shared the machine, so read the ratios: both sides ran "
        "in the same hour. Each export in its own process; peak RSS is that process tree's (the worker's `ru_maxrss` from `wait4`, "
        "the summed RSS of the worker and its children sampled every 20 ms, and edgeprep's per-step peaks, which sum the tree too: "
        "edgeprep can convert in a child process, `converters/isolate.py`, off by default), wall its whole life "
        "(model build included). Keras: `model.export` litert then onnx, nothing verified; "
        "edgeprep: both targets converted and verified in both runtimes.",
        "",
        "| model | weights MB | Keras peak RSS MB | edgeprep peak RSS MB | edgeprep / Keras RSS | Keras wall s | edgeprep wall s | edgeprep / Keras wall | edgeprep parity |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    points = {"keras": [], "fold": []}
    for result in results:
        keras, ours = result["exports"].get("keras", {}), result["exports"].get("fold", {})
        weights = ours.get("weights_mb") or keras.get("weights_mb")
        for variant, entry in (("keras", keras), ("fold", ours)):
            if weights and entry and "error" not in entry and not any(k.endswith("_error") for k in entry):
                points[variant].append((weights, entry["peak_rss_mb"]))
        parity = "error: " + ours["error"][:80] if "error" in ours else ("passed" if ours.get("passed") else "FAILED")
        lines.append(
            f"| {result['model']} | {weights or 0:.0f} | {keras.get('peak_rss_mb', 0):.0f} | {ours.get('peak_rss_mb', 0):.0f} | "
            f"{_ratio(ours.get('peak_rss_mb'), keras.get('peak_rss_mb'))} | {keras.get('process_seconds', 0):.0f} | "
            f"{ours.get('process_seconds', 0):.0f} | {_ratio(ours.get('process_seconds'), keras.get('process_seconds'))} | {parity} |"
        )
    lines += ["", "Slope, MB of peak RSS per MB of weights (least squares over the models above; goal <= 10 for edgeprep): "
              + "; ".join(f"{'Keras' if variant == 'keras' else 'edgeprep'} {_slope(pts)}" for variant, pts in points.items()), ""]
    for result in results:
        steps = result["exports"].get("fold", {}).get("steps")
        if steps:
            lines += [f"edgeprep's steps, {result['model']}:", "", "| step | s | peak RSS MB | RSS after MB |", "| --- | ---: | ---: | ---: |"]
            lines += [f"| {s['step'].split(' /')[0]} | {s['seconds']:.1f} | {s['peak_rss_mb'] or 0:.0f} | {s['rss_after_mb'] or 0:.0f} |" for s in steps]
            lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + history)


def memory_history(path: Path) -> str:
    """What ``path`` holds before a run (the older runs and notes), to keep below the new run: the previous
    run's section becomes "### Earlier run" history, the sections after it stay as they were."""
    if not path.exists():
        return ""
    old = path.read_text()
    heading = "## Big models: export memory and wall time (issue 21)"
    if old.startswith(heading):
        old = "### Earlier run" + old[len(heading):]
    return "\n" + old


def _provenance(machine: dict, args: dict, extra: str = "") -> str:
    """When, by which command line and on what machine a report was measured."""
    command = f"scripts/bench.py --models {' '.join(args['models'])} --size {args['size']}" + (f" {extra}" if extra else "")
    return f"{machine['date']} by `{command}` on {machine['cpu'] or 'an unknown CPU'} ({machine['cores']} cores, load average {machine['load']:.1f} at the end)"


def _slope(points: list[tuple[float, float]]) -> str:
    if len(points) < 2:
        return "n/a (fewer than two models)"
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return "n/a" if not spread else f"{sum((x - mean_x) * (y - mean_y) for x, y in points) / spread:.1f}"


def _fragments(directory: Path) -> list[str]:
    """The other benchmarks' sections (benchmarks/*.md, each written by its own script), in order."""
    lines = ["", FRAGMENTS]
    for fragment in sorted(directory.glob("*.md")):
        lines += ["", fragment.read_text(encoding="utf-8").rstrip()]
    return lines


def _by(result: dict) -> dict:
    return {(a.variant, a.target): a for a in result["artifacts"]}


def _ratio(numerator, denominator) -> str:
    return f"{numerator / denominator:.2f}" if numerator and denominator else "n/a"


def _goal_rows(result: dict) -> list[str]:
    by = _by(result)
    rows = []
    for target in ("tflite", "onnx"):
        fold, bare, keras, static = (by.get((v, target)) for v in ("fold", "bare", "keras", "batch1"))
        static_text = "n/a"
        if target == "tflite" and static is not None and not static.error:
            xnn = static.facts["xnnpack"]
            shape_ops = sorted(set(static.facts["shape_ops"]))
            static_text = f"{xnn['partitions']}, {', '.join(shape_ops) or 'none'}"
        nodes = "n/a"
        if target == "onnx" and fold is not None and not fold.error:
            slim = result["simplifiers"].get("Keras export + onnxslim", {}).get("nodes")
            nodes = f"{fold.facts['ops']} / {slim if slim else 'n/a'}"
        rows.append(
            f"| {result['model']} | {target} | {_ratio(_lat(fold, 1), _lat(bare, 1))} | {_ratio(_lat(fold, 1), _lat(keras, 1))}"
            f"{'' if not (keras and keras.error) else ' (a: ' + keras.error[:60] + ')'} | {static_text} | {nodes} |"
        )
    return rows


def _lat(artifact, threads: int):
    return None if artifact is None or artifact.error else artifact.latency.get(threads)


def _export_goal(results: list[dict]) -> list[str]:
    lines = ["Export wall time, edgeprep (both targets, converted and verified in both runtimes) over Keras' two exports:", ""]
    for result in results:
        keras, fold = result["exports"]["keras"], result["exports"]["fold"]
        keras_seconds = (keras.get("tflite_seconds") or 0) + (keras.get("onnx_seconds") or 0)
        if fold.get("seconds") and keras_seconds:
            lines.append(f"- {result['model']}: {fold['seconds']:.1f} s / {keras_seconds:.1f} s = {fold['seconds'] / keras_seconds:.2f}")
    return lines + [""]


def _predict_goal(results: list[dict]) -> list[str]:
    """Tabular and text models: Keras predict_on_batch over edgeprep's per-example latency (goal >= 100)."""
    lines = []
    for result in results:
        predict = result["keras_predict"].get("predict_on_batch") if result["keras_predict"] else None
        if not predict:
            continue
        by = _by(result)
        parts = []
        for target in ("tflite", "onnx"):
            floors = result["keras_predict"]["floor"]
            fold, floor, raw = _lat(by.get(("fold", target)), 1), floors.get(target), floors.get(f"{target}-raw")
            if fold:
                parts.append(
                    f"{target} {predict / fold:.1f}x ({fold * 1e3:.3f} ms; edgeprep's runner call floor {floor * 1e3:.3f} ms caps this at "
                    f"{predict / floor:.0f}x, the runtime's own call {raw * 1e3:.4f} ms at {predict / raw:.0f}x)"
                )
        lines.append(f"- {result['model']}: Keras predict_on_batch {predict * 1e3:.3f} ms over edgeprep (c), raw example in, 1 thread: " + "; ".join(parts))
    if not lines:
        return []
    head = [
        "Keras `predict_on_batch` over edgeprep's batch-1 latency per raw example (host steps + artifact, as `edgeprep run` "
        "does; goal: >= 100x). The floors are a one-unit Dense model, through the same edgeprep runner (its input checks "
        "and conversion plus the runtime) and through the runtime's own Python call alone: no artifact can beat the first here, "
        "no Python deployment the second.",
        "",
    ]
    return head + lines + [""]


def _model_section(result: dict, args: dict) -> list[str]:
    lines = ["", f"## {result['model']}", "", result["note"], "", "### Exports (one process each)", ""]
    lines += ["| variant | export s | process wall s | peak RSS MiB | parity max rel (tflite / onnx) |", "| --- | --- | --- | --- | --- |"]
    for variant, export in result["exports"].items():
        seconds = export.get("seconds") or sum(export.get(f"{t}_seconds", 0) for t in ("tflite", "onnx"))
        rel = export.get("max_rel", {})
        parity = " / ".join(f"{rel[t]:.1e}" for t in ("tflite", "onnx") if t in rel) or ("error: " + export["error"][:80] if "error" in export else "not verified")
        if export.get("passed") is False:
            parity += " (parity FAILED at rtol 1e-5)"
        lines.append(f"| {_label(variant)} | {seconds:.1f} | {export['process_seconds']:.1f} | {export['peak_rss_mb']:.0f} | {parity} |")
    threads = sorted({t for a in result["artifacts"] for t in a.latency})
    head = " | ".join(f"{t} thread{'s' if t > 1 else ''} ms" for t in threads)
    lines += ["", "### Artifacts", "", f"| variant | target | KiB | ops | XNNPACK partitions / fallback ops | layout Transposes | {head} | vs (a), 1 thread | vs (d), 1 thread |"]
    lines.append("| --- " * (8 + len(threads)) + "|")
    by = _by(result)
    for artifact in result["artifacts"]:
        if artifact.error:
            lines.append(f"| {_label(artifact.variant)} | {artifact.target} | {artifact.error[:90]} |" + " |" * (6 + len(threads)))
            continue
        facts = artifact.facts
        xnn = facts.get("xnnpack")
        delegate = f"{xnn['partitions']} / {', '.join(f'{k}x{v}' for k, v in xnn['fallback_ops'].items()) or 'none'}" if xnn else ""
        transposes = str(facts.get("transposes", "")) + (f" ({facts['inputs']} inputs)" if facts.get("inputs", 1) > 1 else "")
        times = " | ".join(f"{artifact.latency[t] * 1e3:.3f}" if t in artifact.latency else "" for t in threads)
        versus = [_ratio(_lat(artifact, 1), _lat(by.get((other, artifact.target)), 1)) for other in ("keras", "bare")]
        lines.append(f"| {_label(artifact.variant)} | {artifact.target} | {facts['bytes'] / 1024:.0f} | {facts['ops']} | {delegate} | {transposes} | {times} | {versus[0]} | {versus[1]} |")
    if result["keras_predict"]:
        lines.append(f"\nKeras `predict_on_batch`, batch 1: {result['keras_predict']['predict_on_batch'] * 1e3:.3f} ms.")
    if result["simplifiers"]:
        lines += ["", "### ONNX simplifiers on edgeprep's repaired tf2onnx graph", "", "| tool | nodes | seconds | 1 thread ms |", "| --- | --- | --- | --- |"]
        for tool, entry in result["simplifiers"].items():
            if "error" in entry:
                lines.append(f"| {tool} | {entry['error']} | | |")
                continue
            latency = entry.get("latency_1t")
            seconds = entry.get("seconds")
            lines.append(f"| {tool} | {entry['nodes']} | {'' if seconds is None else f'{seconds:.2f}'} | {'' if latency is None else f'{latency * 1e3:.3f}'} |")
    return lines


def _label(variant: str) -> str:
    return LABELS.get(variant, variant)


if __name__ == "__main__":
    refresh_fragments(Path(__file__).resolve().parents[1] / "BENCHMARKS.md")
