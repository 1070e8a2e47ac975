"""README's gallery table: Keras' public examples through edgeprep and through Keras' own export.

    python scripts/gallery_table.py                      # every example; rewrites README's gallery section
    python scripts/gallery_table.py --only mlp_mixer     # some examples: print their rows, README untouched

For each model of tests/public_examples/ (the catalog in gallery.py), every step in its own
subprocess, one at a time: build it and save it with 16 raw rows and Keras' answer on them;
``edgeprep export`` with default flags (plus ``--custom-objects`` where the file needs it) for both
targets, or each target alone when that fails (so the table says which one works); ``edgeprep run``
per target on the raw rows, compared with Keras under the manifest's tolerance (the test's own
`gallery.run_against_keras`); then Keras' own ``model.export(format="litert")`` and
``model.export(format="onnx")``, each file run in ai-edge-litert / onnxruntime on the same rows.
The rows go between ``<!-- BEGIN gallery -->`` and ``<!-- END gallery -->`` with the date and the
versions; the rows are also printed to stderr as JSON, and ``--rows LOG`` writes the table from them (the
last row per example, so a later ``--only`` run appended to the log replaces its rows).
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
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


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
        np.savez(work / "reference.npz", **gallery.keras_outputs(model, raw, [tensor.name for tensor in model.outputs]))
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
            outputs = _run_keras_artifact(target, path, {t.name: raw[t.name] for t in model.inputs})
        except Exception as exc:
            result[target] = f"written, does not run: {_reason(exc)}"
            continue
        result[target] = _verdict(reference, outputs)
    print(json.dumps(result))
    return 0


def _by_name(names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The feeds in the order of a file's input ``names`` (``serving_default_<name>:0`` and the like), else in model order."""
    if len(names) != len(feeds):
        raise RuntimeError(f"the file takes {len(names)} inputs, the model {len(feeds)}")
    stripped = [re.sub(r"^serving_default_|:\d+$", "", name) for name in names]
    if sorted(stripped) == sorted(feeds):
        return [feeds[name] for name in stripped]
    return list(feeds.values())


def _run_keras_artifact(target: str, path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Keras' file in its runtime, each input fed by its name."""
    if target == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [spec.name for spec in session.get_inputs()]
        values = _by_name(names, feeds)
        return session.run(None, {name: (value.astype(object) if value.dtype.kind == "U" else value) for name, value in zip(names, values)})
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    values = _by_name([detail["name"] for detail in details], feeds)
    for detail, value in zip(details, values):
        interpreter.resize_tensor_input(detail["index"], value.shape)
    interpreter.allocate_tensors()
    for detail, value in zip(details, values):
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
    """edgeprep export (default flags) and run per target, compared with Keras as the test does."""
    gallery = _catalog()
    reference = list(np.load(work / "reference.npz").values())

    def run_target(dist: Path, target: str) -> str:
        ran, report = gallery.run_against_keras(dist, target, work / "raw.npz", reference, work / f"{dist.name}.{target}.npz")
        if report is None:
            return f"exported; run fails: {_short(ran.stderr)}"
        return f"passes (max rel {report.max_rel:.0e})" if report.passed else f"differs: {_short(report.summary(), 80)}"

    def export(out: Path, *more: str) -> subprocess.CompletedProcess:
        try:
            return gallery.edgeprep_cli("export", work / "model.keras", "--out", out, *more, *flags, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess([], -1, "", f"timed out after {timeout} s")

    if export(work / "dist").returncode == 0:
        return {target: run_target(work / "dist", target) for target in ("tflite", "onnx")}
    cells = {}
    for target in ("tflite", "onnx"):
        alone = export(work / f"dist_{target}", "--target", target)
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


def table(rows: list[dict], measured: float) -> str:
    """The Markdown section: how it was measured, then one row per example."""
    import keras
    import onnxruntime
    import tensorflow as tf

    from edgeprep import __version__ as edgeprep_version

    gallery = _catalog()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(measured))
    custom = ", ".join(example.name for example in gallery.EXAMPLES if example.custom_objects)
    lines = [
        f"Measured {stamp} by `scripts/gallery_table.py` (edgeprep {edgeprep_version}, Keras {keras.__version__}, "
        f"TensorFlow {tf.__version__}, onnxruntime {onnxruntime.__version__}; {platform.machine()}). {ROWS} raw rows per model; "
        f"edgeprep: `edgeprep export MODEL --out DIR` (plus `--custom-objects` for {custom}), then `edgeprep run` per target, against Keras' `predict` under the "
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
        public = [name for name in row["layers"] if hasattr(keras.layers, name)]  # not FeatureSpace's internal TFDConcat
        lines.append(f"| {link} | {', '.join(public)} | " + " | ".join(_cell(c) for c in cells) + " |")
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
    parser.add_argument("--rows", metavar="LOG", help="write README's table from the rows an earlier run printed to stderr (no measuring)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker[0], args.worker[1], Path(args.worker[2]))
    gallery = _catalog()
    if args.rows:
        log = Path(args.rows)
        found = {}  # the last row printed per example (a log may hold a later --only run too)
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.startswith('{"name"'):
                row = json.loads(line)
                found[row["name"]] = row
        write_readme(table([found[example.name] for example in gallery.EXAMPLES if example.name in found], log.stat().st_mtime))
        return 0
    names = args.only or [example.name for example in gallery.EXAMPLES]
    unknown = sorted(set(names) - set(gallery.BY_NAME))
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(gallery.BY_NAME)}")
    with tempfile.TemporaryDirectory(prefix="gallery-") as temporary:
        root = Path(args.work or temporary)
        rows = []
        for name in names:
            print(f"{name} ...", file=sys.stderr, flush=True)
            rows.append(measure(name, root, args.timeout))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    section = table(rows, time.time())
    if args.only:
        print(section)
    else:
        write_readme(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
