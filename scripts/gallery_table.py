"""README's gallery table: Keras' public examples through edgeprep and through Keras' own export.

    python scripts/gallery_table.py                      # every example; rewrites README's gallery section
    python scripts/gallery_table.py --only mlp_mixer     # some examples: print their rows, README untouched

For each model of tests/public_examples/ (the catalog in gallery.py), every step in its own
subprocess, one at a time: build it and save it with 16 raw rows and Keras' answer on them;
``edgeprep export`` with default flags (plus ``--custom-objects`` where the file needs it; both targets; when that fails, each target alone, so the
table says which one works) and ``edgeprep run`` per target on the raw rows, compared with Keras
under the manifest's tolerance, as tests/public_examples/test_public_examples.py does; then Keras'
own ``model.export(format="litert")`` and ``model.export(format="onnx")``, the file loaded in
ai-edge-litert / onnxruntime and run on the same rows. The rows are written between
``<!-- BEGIN gallery -->`` and ``<!-- END gallery -->`` with the date and the versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXAMPLES_DIR = REPO / "tests" / "public_examples"
ROWS = 16
KERAS_FORMATS = (("tflite", "litert", "model.tflite"), ("onnx", "onnx", "model.onnx"))
KERAS_IO = "https://github.com/keras-team/keras-io/blob/master/"
# The examples' folder is on the path so that `--custom-objects` finds their modules.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(EXAMPLES_DIR), os.environ.get("PYTHONPATH")]))}


def _catalog():
    sys.path.insert(0, str(EXAMPLES_DIR))
    import gallery

    return gallery


def _short(text: str, limit: int = 110) -> str:
    """The last line of an error, cut to ``limit``, without what would break a table cell or name a temporary path."""
    line = next((line for line in reversed(text.strip().splitlines()) if line.strip()), "no output")
    line = line.replace("edgeprep: error: ", "").replace("|", "/").strip()
    line = re.sub(r"Load model from \S+ failed:", "", line)  # onnxruntime: keep the reason, not the path
    line = re.sub(r"/tmp/\S+/", "", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _reason(exc: Exception) -> str:
    """What stopped Keras' file, in a few words: the op a runtime lacks, or the error's last line."""
    text = str(exc) or repr(exc)
    patterns = (
        (r'In Node, \("[^"]*", (\w+),', "onnxruntime has no {} op"),
        (r"Node number \d+ \((\w+)\) failed to prepare", "needs the Flex delegate ({})"),
        (r"'tf\.(\w+)' op is neither a custom op nor a flex op", "the converter cannot lower tf.{}"),
        (r"failed to legalize operation 'tf\.(\w+)'", "the converter cannot lower tf.{}"),
    )
    for pattern, template in patterns:
        found = re.search(pattern, text)
        if found:
            return template.format(found.group(1))
    return f"{type(exc).__name__}: {_short(text, 90)}"


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, env=ENV, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", f"timed out after {timeout} s")


def _edgeprep(*args, timeout: int) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "edgeprep.cli", *map(str, args)], timeout)


def _worker(command: str, name: str, work: Path) -> int:
    """In a subprocess: ``prepare`` (model, raw rows, Keras' answer) or ``keras`` (Keras' own exports, run)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    gallery = _catalog()
    example = gallery.BY_NAME[name]
    model = example.build()
    raw = gallery.as_input_dtypes(model, example.raw_inputs(ROWS, seed=1))
    if command == "prepare":
        model.save(work / "model.keras")
        np.savez(work / "raw.npz", **raw)
        np.savez(work / "reference.npz", **gallery.keras_outputs(model, raw, list(model.output_names)))
        (work / "layers.json").write_text(json.dumps(gallery.preprocessing_layers(model)))
        return 0
    reference = list(np.load(work / "reference.npz").values())
    result = {}
    for target, fmt, filename in KERAS_FORMATS:
        path = work / "keras" / filename
        path.parent.mkdir(exist_ok=True)
        try:
            model.export(str(path), format=fmt, verbose=False)
        except Exception as exc:  # Keras' own export failing is a result
            result[target] = f"export fails: {_reason(exc)}"
            continue
        try:
            outputs = _run_keras_artifact(target, path, [raw[t.name] for t in model.inputs])
        except Exception as exc:
            result[target] = f"written, does not run: {_reason(exc)}"
            continue
        result[target] = _verdict(reference, outputs)
    print(json.dumps(result))
    return 0


def _run_keras_artifact(target: str, path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Keras' file in its runtime, inputs in the model's order (Keras' export keeps that order)."""
    if target == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        specs = session.get_inputs()
        feed = {spec.name: (value.astype(object) if value.dtype.kind == "U" else value) for spec, value in zip(specs, feeds)}
        if len(specs) != len(feeds):
            raise RuntimeError(f"the file takes {len(specs)} inputs, the model {len(feeds)}")
        return session.run(None, feed)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    if len(details) != len(feeds):
        raise RuntimeError(f"the file takes {len(details)} inputs, the model {len(feeds)}")
    for detail, value in zip(details, feeds):
        interpreter.resize_tensor_input(detail["index"], value.shape)
    interpreter.allocate_tensors()
    for detail, value in zip(details, feeds):
        interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]) if value.dtype.kind != "U" else value.astype(object))
    interpreter.invoke()
    return [interpreter.get_tensor(detail["index"]) for detail in interpreter.get_output_details()]


def _verdict(reference: list[np.ndarray], outputs: list[np.ndarray]) -> str:
    """Keras' file against Keras, under edgeprep's float32 pass rule."""
    from edgeprep.runtime.compare import Tolerance, compare

    if len(outputs) != len(reference):
        return f"runs; {len(outputs)} outputs for {len(reference)}"
    names = [f"output_{i}" for i in range(len(reference))]
    shaped = [np.reshape(out, ref.shape) if np.size(out) == np.size(ref) else out for ref, out in zip(reference, outputs)]
    report = compare("keras", "keras", dict(zip(names, reference)), dict(zip(names, shaped)), Tolerance())
    return f"runs, equal (max rel {report.max_rel:.0e})" if report.passed else f"runs, differs: {_short(report.summary(), 80)}"


def _edgeprep_cells(work: Path, flags: tuple[str, ...], timeout: int) -> dict[str, str]:
    """edgeprep export (default flags) and run per target, compared with Keras under the manifest's tolerance."""
    from edgeprep.manifest import Manifest
    from edgeprep.runtime.compare import Tolerance, compare

    def run_target(dist: Path, target: str) -> str:
        manifest = Manifest.read(dist)
        out = work / f"{dist.name}.{target}.npz"
        ran = _edgeprep("run", dist, "--target", target, "--input", work / "raw.npz", "--output", out, timeout=timeout)
        if ran.returncode != 0:
            return f"exported; run fails: {_short(ran.stderr)}"
        reference = dict(zip([t.name for t in manifest.outputs], np.load(work / "reference.npz").values()))
        report = compare(target, "keras", reference, dict(np.load(out)), Tolerance.from_json(manifest["tolerance"]))
        return f"passes (max rel {report.max_rel:.0e})" if report.passed else f"differs: {_short(report.summary(), 80)}"

    exported = _edgeprep("export", work / "model.keras", "--out", work / "dist", *flags, timeout=timeout)
    if exported.returncode == 0:
        return {target: run_target(work / "dist", target) for target in ("tflite", "onnx")}
    cells = {}
    for target in ("tflite", "onnx"):
        alone = _edgeprep("export", work / "model.keras", "--out", work / f"dist_{target}", "--target", target, *flags, timeout=timeout)
        if alone.returncode == 0:
            cells[target] = f"only with `--target {target}`: " + run_target(work / f"dist_{target}", target)
        else:
            cells[target] = f"fails: {_short(alone.stderr)}"
    return cells


def measure(name: str, root: Path, timeout: int) -> dict:
    """One example's row: its layers and the four cells."""
    work = root / name
    work.mkdir(parents=True, exist_ok=True)
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    prepared = _run([*me, "prepare", name, str(work)], timeout)
    if prepared.returncode != 0:
        return {"name": name, "error": f"the model does not build: {_short(prepared.stderr)}"}
    row = {"name": name, "layers": json.loads((work / "layers.json").read_text())}
    row["edgeprep"] = _edgeprep_cells(work, _catalog().BY_NAME[name].export_flags, timeout)
    keras_run = _run([*me, "keras", name, str(work)], timeout)
    lines = [line for line in keras_run.stdout.splitlines() if line.startswith("{")]
    row["keras"] = json.loads(lines[-1]) if lines else {t: f"crashes: {_short(keras_run.stderr)}" for t, _, _ in KERAS_FORMATS}
    return row


def _cell(text: str) -> str:
    return text.replace("|", "/")


def table(rows: list[dict], seconds: float) -> str:
    """The Markdown section: how it was measured, then one row per example."""
    import keras
    import onnxruntime
    import tensorflow as tf

    from edgeprep import __version__ as edgeprep_version

    gallery = _catalog()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"Measured {stamp} by `scripts/gallery_table.py` in {seconds / 60:.0f} min (edgeprep {edgeprep_version}, Keras {keras.__version__}, "
        f"TensorFlow {tf.__version__}, onnxruntime {onnxruntime.__version__}; {platform.machine()}). {ROWS} raw rows per model; "
        "edgeprep: `edgeprep export MODEL --out DIR`, then `edgeprep run` per target, against Keras' `predict` under the "
        "manifest's tolerance; Keras: `model.export(format=...)`, the file run in ai-edge-litert / onnxruntime, against "
        "`predict` under the float32 rule (rtol 1e-5).",
        "",
        "| example | preprocessing layers | edgeprep tflite | edgeprep onnx | Keras `litert` | Keras `onnx` |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        example = gallery.BY_NAME[row["name"]]
        link = f"[{row['name']}]({KERAS_IO}{example.source})"
        if "error" in row:
            lines.append(f"| {link} | | {_cell(row['error'])} | | | |")
            continue
        cells = [row["edgeprep"]["tflite"], row["edgeprep"]["onnx"], row["keras"].get("tflite", ""), row["keras"].get("onnx", "")]
        lines.append(f"| {link} | {', '.join(row['layers'])} | " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- BEGIN gallery -->\n).*?(<!-- END gallery -->)", re.S)
    if not pattern.search(text):
        raise SystemExit("README.md has no <!-- BEGIN gallery --> ... <!-- END gallery --> section")
    README.write_text(pattern.sub(lambda m: m.group(1) + section + "\n" + m.group(2), text), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="measure these examples only")
    parser.add_argument("--timeout", type=int, default=1500, help="seconds per subprocess (default: 1500)")
    parser.add_argument("--work", metavar="DIR", help="keep the models and artifacts here (default: a temporary directory)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker[0], args.worker[1], Path(args.worker[2]))
    gallery = _catalog()
    names = args.only or [example.name for example in gallery.EXAMPLES]
    unknown = sorted(set(names) - set(gallery.BY_NAME))
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(gallery.BY_NAME)}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gallery-") as temporary:
        root = Path(args.work or temporary)
        rows = []
        for name in names:
            print(f"{name} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, root, args.timeout))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    section = table(rows, time.perf_counter() - start)
    if args.only:
        print(section)
    else:
        write_readme(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
