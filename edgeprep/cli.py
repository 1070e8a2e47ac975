"""The ``edgeprep`` command line: the only place where strings become Enums and configs.

Exit codes: 0 success, 1 parity or quality failure (evidence written), 2 bad input or usage
(nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edgeprep import interrupts
from edgeprep.config import ALL_TARGETS, ExportConfig, Int8IO, OnnxLayout, OnnxOptimize, Quantization, Target
from edgeprep.errors import EdgeprepError, OutputError, ParityError, UsageError
from edgeprep.package import check_output_dir, check_output_file
from edgeprep.parity.compare import Tolerance, default_tolerance

EXIT_OK, EXIT_PARITY, EXIT_USAGE = 0, 1, 2


def _quiet_frameworks() -> None:
    """Silence TensorFlow / absl / tf2onnx chatter before any of them is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "tf2onnx", "h5py", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeprep",
        description="Export Keras models with their preprocessing layers to TFLite and ONNX, verified against Keras.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"edgeprep {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="show every layer and what export will do with it, per target")
    p.add_argument("model", metavar="MODEL", help=".keras / .h5 file or SavedModel directory")
    _loading_flags(p)
    _opt_in_flags(p)
    p.add_argument("--micro", action="store_true", help="plan the TFLite target for tflite-micro, as export --micro does")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(handler=_cmd_inspect)

    p = sub.add_parser("export", help="strip, fold, lower, convert, verify and package a model")
    p.add_argument("model", metavar="MODEL", help=".keras / .h5 file or SavedModel directory")
    p.add_argument("--out", required=True, metavar="DIR", help="export directory (replaced atomically)")
    p.add_argument("--force", action="store_true", help="replace --out even if it is a non-empty directory that is not an earlier export")
    p.add_argument("--target", action="append", choices=[t.value for t in ALL_TARGETS], help="target format; repeat for several (default: all)")
    p.add_argument("--batch", type=int, metavar="N", help="static batch size (default: dynamic)")
    p.add_argument("--quantize", default="none", choices=[q.value for q in Quantization], help="weight/activation storage (default: none)")
    p.add_argument("--calibration", metavar="F", help="int8 calibration data, same formats as --data (default: generated samples, with a warning)")
    p.add_argument("--int8-io", choices=[v.value for v in Int8IO], help="integer inputs/outputs for an int8 TFLite artifact (default: float IO)")
    p.add_argument("--micro", action="store_true", help="TFLite for tflite-micro (microcontrollers): implies --batch 1 --quantize int8 --int8-io int8, TFLM kernels only, tensor arena measured")
    p.add_argument("--max-bytes", type=int, metavar="N", help="text read in the artifact as UTF-8 bytes: a static N bytes per text, a longer text is refused (default: dynamic; 256 with --micro)")
    p.add_argument("--int8-per-tensor", action="store_true", help="one int8 weight scale per tensor: smaller files, usually a little less accurate (default: per-channel)")
    p.add_argument("--no-fold", action="store_true", help="do not fold Rescaling/Normalization into weights (debugging)")
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset (default: 17, or 18 when the artifact computes hashes in graph)")
    p.add_argument("--onnx-layout", default="nhwc", choices=[v.value for v in OnnxLayout], help="layout of rank-4 ONNX inputs/outputs: nhwc as in Keras (one Transpose at the input) or nchw (none) (default: nhwc)")
    p.add_argument("--onnx-optimize", default="portable", choices=[v.value for v in OnnxOptimize], help="portable: standard ops, any runtime; ort: add onnxruntime's fused ops, onnxruntime only (default: portable)")
    p.add_argument("--metadata", action="store_true", help="TFLite: attach the model metadata MediaPipe Tasks need (normalization, image properties, labels); refused for inputs MediaPipe cannot take")
    p.add_argument("--labels", metavar="FILE", help="with --metadata: class labels, one per line, as many as the output has classes")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated parity samples (default: 0)")
    _data_flags(p)
    p.add_argument("--golden-kb", type=int, default=512, metavar="KB", help="size budget of the golden vectors in DIR (default: 512)")
    p.add_argument("--no-timing", action="store_true", help="leave the per-step wall time and peak RSS out of manifest.json: a byte-identical DIR for the same model")
    _tolerance_flags(p)
    _loading_flags(p)
    _opt_in_flags(p)
    p.set_defaults(handler=_cmd_export)

    p = sub.add_parser("build", help="adapt preprocessing from data and compose it with a trained model, verified")
    p.add_argument("model", metavar="MODEL", nargs="?", help="trained .keras model to put the preprocessing in front of (omit to build PRE alone)")
    p.add_argument("--preprocess", required=True, metavar="PRE", help=".toml spec, or .keras FeatureSpace / preprocessing layer / model")
    p.add_argument("--out", required=True, metavar="FULL.keras", help="the model to write (replaced atomically)")
    p.add_argument("--adapt", metavar="DATA", help="data for layers that need state: .csv, .npz, .txt, or a quoted glob of shards")
    p.add_argument("--runner", default="local", choices=["local", "beam"], help="run the adapt pass here or as an Apache Beam pipeline (default: local)")
    p.add_argument("--beam-option", action="append", default=[], metavar="FLAG", help="Beam pipeline flag, e.g. --beam-option=--runner=FlinkRunner; repeatable")
    p.add_argument("--seed", type=int, default=0, help="seed of generated check inputs when there is no --adapt (default: 0)")
    _loading_flags(p)
    p.set_defaults(handler=_cmd_build)

    p = sub.add_parser("verify", help="re-run parity of an export directory (golden vectors, or --data against Keras)")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--threads", type=_positive_int, default=1, metavar="N", help="interpreter threads (default: 1)")
    _data_flags(p)
    p.add_argument("--model", metavar="MODEL", help="source model for --data (default: the path in the manifest)")
    p.add_argument("--report", metavar="OUTDIR", help="write report.json and report.html to OUTDIR")
    _tolerance_flags(p, defaults_from="the manifest")
    _loading_flags(p)
    p.set_defaults(handler=_cmd_verify)

    p = sub.add_parser("run", help="run an exported artifact on inputs from an .npz file")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--target", required=True, choices=[t.value for t in ALL_TARGETS])
    p.add_argument("--input", required=True, metavar="IN.npz", help="raw inputs keyed by input name (.npz); for a single-input model also one array (.npy, or an .npz with one array under any key)")
    p.add_argument("--output", required=True, metavar="OUT", help=".npy for one output, .npz for several")
    p.add_argument("--threads", type=_positive_int, default=1, metavar="N")
    p.set_defaults(handler=_cmd_run)
    return parser


def _loading_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unsafe-load", action="store_true", help="allow code in the model file to run (Lambda layers); trusted files only")
    p.add_argument("--custom-objects", action="append", default=[], metavar="module:Name", help="import a custom class the model uses; repeatable")


def _opt_in_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-flex", action="store_true", help="TFLite: Select-TF (Flex) ops instead of host steps; the artifact needs the Flex delegate")
    p.add_argument("--onnx-extensions", action="store_true", help="ONNX: onnxruntime-extensions string ops instead of host steps where they are exact")
    p.add_argument("--host-steps", action="store_true", help="keep TextVectorization / Hashing / HashedCrossing as NumPy host steps in front of the artifact (default: in the artifact, text fed as UTF-8 bytes)")


def _data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="F", help="verify on this data: .npz/.npy/.csv/.txt or a folder of images (default: generated samples)")
    p.add_argument("--resize", action="store_true", help="resize images from --data to the input size")


def _tolerance_flags(p: argparse.ArgumentParser, defaults_from: str = "the quantization mode") -> None:
    p.add_argument("--rtol", type=float, help=f"max error relative to each output's scale (default: from {defaults_from}; 1e-5 for float32)")
    p.add_argument("--atol", type=float, help=f"absolute error floor (default: from {defaults_from}; 1e-7 for float32)")
    p.add_argument("--min-top1", type=float, metavar="FRACTION", help="minimum argmax agreement of classifier outputs")
    p.add_argument("--min-sqnr", type=float, metavar="DB", help="minimum signal-to-noise ratio in dB")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report for CI dashboards")


def _tolerance(args, base: Tolerance) -> Tolerance:
    return base.with_changes(rtol=args.rtol, atol=args.atol, min_top1=args.min_top1, min_sqnr_db=args.min_sqnr)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _version() -> str:
    from edgeprep import __version__

    return __version__


def _cmd_inspect(args) -> int:
    from edgeprep.inspection import inspect_model, render

    config = ExportConfig(unsafe_load=args.unsafe_load, custom_objects=tuple(args.custom_objects), allow_flex=args.allow_flex, onnx_extensions=args.onnx_extensions,
                          host_steps=args.host_steps, micro=args.micro)
    inspection = inspect_model(args.model, config)
    print(json.dumps(inspection.to_json(), indent=2) if args.json else render(inspection))
    return EXIT_OK


def _cmd_export(args) -> int:
    from edgeprep.pipeline import export
    from edgeprep.progress import stderr_progress

    config = ExportConfig(
        targets=tuple(Target(t) for t in dict.fromkeys(args.target)) if args.target else ALL_TARGETS,
        batch=args.batch,
        quantize=Quantization(args.quantize),
        fold=not args.no_fold,
        unsafe_load=args.unsafe_load,
        custom_objects=tuple(args.custom_objects),
        onnx_opset=args.opset,
        seed=args.seed,
        data=args.data,
        resize_images=args.resize,
        golden_kb=args.golden_kb,
        calibration=args.calibration,
        int8_io=Int8IO(args.int8_io) if args.int8_io else None,
        int8_per_channel=not args.int8_per_tensor,
        allow_flex=args.allow_flex,
        onnx_extensions=args.onnx_extensions,
        host_steps=args.host_steps,
        onnx_layout=OnnxLayout(args.onnx_layout),
        onnx_optimize=OnnxOptimize(args.onnx_optimize),
        metadata=args.metadata,
        labels=args.labels,
        micro=args.micro,
        max_bytes=args.max_bytes,
        timing=not args.no_timing,
    )
    tolerance = _tolerance(args, default_tolerance(config.quantize))
    check_output_dir(args.out, args.model, args.force)
    _check_junit(args.junit)
    try:
        result = export(args.model, args.out, config, tolerance, stderr_progress(), force=args.force)
    except ParityError as exc:
        if exc.result is not None:
            _print_reports(exc.result.reports, exc.result.manifest)
            _write_junit(args.junit, exc.result.reports)
        raise
    _print_reports(result.reports, result.manifest)
    _write_junit(args.junit, result.reports)
    print(f"wrote {result.out_dir}: " + ", ".join(p.name for p in result.artifacts.values()) + ", manifest.json, report.html")
    return EXIT_OK


def _cmd_build(args) -> int:
    from edgeprep.compose.builder import AdaptEngine, run_build
    from edgeprep.progress import stderr_progress

    if args.beam_option and args.runner != "beam":
        raise UsageError("--beam-option needs --runner beam")
    check_output_file(args.out, f"--out {args.out}")
    for flag, given in (("MODEL", args.model), ("--preprocess", args.preprocess), ("--adapt", args.adapt)):
        if given and Path(given).exists() and Path(given).resolve() == Path(args.out).resolve():
            raise UsageError(f"--out {args.out}: is the {flag} file, which the build would overwrite; write the full model to another path")
    result = run_build(
        args.model, args.preprocess, args.adapt, AdaptEngine(args.runner), args.out, tuple(args.beam_option),
        stderr_progress(), bar=True, unsafe_load=args.unsafe_load, custom_objects=tuple(args.custom_objects), seed=args.seed,
    )
    if result.adapted:
        print(f"adapted {len(result.adapted)} layer(s): {', '.join(result.adapted)}")
    if result.report is not None:
        print(f"checked on {result.report.samples} {result.samples} raw example(s): {result.report.summary()}")
    print(f"wrote {result.out}")
    return EXIT_OK


def _cmd_verify(args) -> int:
    from edgeprep.manifest import Manifest
    from edgeprep.progress import stderr_progress
    from edgeprep.verification import manifest_tolerance, verify

    manifest = Manifest.read(args.directory)
    tolerance = _tolerance(args, manifest_tolerance(manifest))
    _check_junit(args.junit)
    if args.report:
        _check_report_dir(args.report)
    result = verify(
        args.directory, threads=args.threads, data=args.data, model=args.model, tolerance=tolerance,
        resize_images=args.resize, progress=stderr_progress(), unsafe_load=args.unsafe_load,
    )
    _print_reports(result.reports, manifest)
    if result.micro:
        _print_reports(result.micro, manifest, title="parity in tflite-micro (the --micro artifact, its manifest arena)")
    if result.micro_note:
        print(f"note: {result.micro_note}", file=sys.stderr)
    _write_junit(args.junit, result.reports)
    if args.report:
        _write_verify_report(Path(args.report), result, manifest)
    if not result.passed:
        print(f"verify {args.directory}: FAILED on {result.samples} samples", file=sys.stderr)
        return EXIT_PARITY
    print(f"verify {args.directory}: passed on {result.samples} samples")
    return EXIT_OK


def _check_junit(path: str | None) -> None:
    if path is not None:
        check_output_file(path, f"--junit {path}")


def _check_report_dir(path: str) -> None:
    out = Path(path)
    if str(path) == "" or (out.exists() and not out.is_dir()):
        raise UsageError(f"--report {path}: {'empty path' if str(path) == '' else 'is a file'}; give a directory for report.json and report.html")
    check_output_file(out / "report.json", f"--report {path}")


def _write_junit(path: str | None, reports) -> None:
    if path:
        from edgeprep.parity.report import junit_xml

        _write_file(Path(path), junit_xml(reports), f"--junit {path}")


def _write_file(path: Path, data: bytes, label: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write it ({exc.strerror}); choose a writable path") from None


def _write_verify_report(out: Path, result, manifest) -> None:
    from edgeprep.parity.report import render_html, report_json, summary

    data = summary(result.evidence, manifest)
    _write_file(out / "report.json", report_json(data), f"--report {out}")
    _write_file(out / "report.html", render_html(f"edgeprep verify: {result.directory}", data, result.comparisons, manifest), f"--report {out}")


def _cmd_run(args) -> int:
    import numpy as np

    from edgeprep.data import read_arrays
    from edgeprep.deploy import run_directory
    from edgeprep.manifest import Manifest

    out = Path(args.output)
    if out.suffix not in (".npy", ".npz"):
        raise UsageError(f"--output {out}: use a .npy path (one output) or a .npz path")
    check_output_file(out, f"--output {out}")
    manifest = Manifest.read(args.directory)
    if out.suffix == ".npy" and len(manifest.outputs) > 1:
        raise UsageError(f"--output {out}: use .npz for a model with {len(manifest.outputs)} outputs")
    feed = read_arrays(args.input, manifest.inputs, "--input")
    outputs = run_directory(args.directory, Target(args.target), feed, threads=args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, next(iter(outputs.values())))
    else:
        np.savez(out, **outputs)
    print(f"wrote {out}")
    return EXIT_OK


def _print_reports(reports, manifest=None, title: str = "parity") -> None:
    sizes = {a.target: a for a in manifest.artifacts} if manifest is not None else {}
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a dependency, but stay usable without it
        for report in reports.values():
            print(report.summary())
        return
    table = Table(title=title, show_edge=False)
    for column in ("target", "passed", "max rel err", "max abs err", "top-1", "size", "ops"):
        table.add_column(column)
    for target, report in reports.items():
        artifact = sizes.get(target.value)
        table.add_row(
            target.value,
            "[green]yes[/]" if report.passed else "[red]NO[/]",
            f"{report.max_rel:.2e}",
            f"{report.max_abs:.2e}",
            f"{report.top1:.2%}" if report.top1 is not None else "",
            f"{artifact.bytes / 1024:.0f} KiB" if artifact else "",
            str(sum(artifact.ops.values())) if artifact else "",
        )
    Console(stderr=False).print(table)
    for report in reports.values():
        if not report.passed:
            print(report.summary(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_frameworks()
    interrupts.install()
    try:
        return args.handler(args)
    except EdgeprepError as exc:
        if args.debug:
            raise
        print(f"edgeprep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(interrupts.message(), file=sys.stderr)
        return interrupts.exit_code()
    except Exception as exc:  # an internal error: one line, traceback with --debug
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"edgeprep: internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_USAGE


def run_module() -> None:
    """``python -m edgeprep.cli``: `main`, and its exit code even after an interrupt.

    Under ``-m`` CPython exits by re-sending itself SIGINT (status -2, whatever ``sys.exit`` says) when a
    ``KeyboardInterrupt`` once escaped code that a C extension evaluated (pybind11's ``py::exec``), even
    if we caught it later; an interrupted command therefore leaves with ``os._exit`` once its message is
    out (it cleaned up what it staged before `main` returned). The console script runs as a file and is
    not affected.
    """
    code = main()
    if interrupts.received():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run_module()
