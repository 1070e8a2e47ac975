"""Build a model that carries its preprocessing: resolve → adapt → compose → check → write.

    resolve PRE (spec / FeatureSpace / layer / model) and load MODEL
    → adapt PRE's stateful layers in one pass (local or Beam)
    → compose ``full = MODEL(PRE(raw))`` (or keep PRE alone when there is no MODEL)
    → check ``full(raw) == MODEL(PRE(raw))`` on sample raw inputs (rel <= 1e-6)
    → save to a temporary ``.keras``, reload it, check again, rename it onto ``--out``.
"""

from __future__ import annotations

import contextlib
import enum
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeprep.errors import DataError, LoadError, OutputError, ParityError, UsageError, collect
from edgeprep.interrupts import check as check_interrupt
from edgeprep.package import writable_parent
from edgeprep.parity.compare import ParityReport
from edgeprep.progress import Progress


class AdaptEngine(enum.Enum):
    """What runs the adapt pass: this process, or an Apache Beam pipeline (``--runner local|beam``)."""

    LOCAL = "local"
    BEAM = "beam"


@dataclass(frozen=True)
class BuildResult:
    """What `run_build` built and checked.

    Attributes:
        model: the built model (PRE alone, or MODEL composed with PRE).
        adapted: ``where`` of every layer adapted from data.
        report: the composition check (``full`` vs ``model(pre(raw))``, or the saved file vs the
            built model when there is no MODEL).
        out: the written file, or None.
        samples: "data" or "generated": where the checked raw inputs came from.
    """

    model: Any
    adapted: tuple[str, ...]
    report: ParityReport | None
    out: Path | None
    samples: str


def run_build(
    model: Any = None,
    preprocessing: Any = None,
    adapt: Any = None,
    engine: AdaptEngine = AdaptEngine.LOCAL,
    out: str | os.PathLike | None = None,
    beam_options: tuple[str, ...] = (),
    progress: Progress | None = None,
    bar: bool = False,
    unsafe_load: bool = False,
    custom_objects: tuple[str, ...] = (),
    rows: int = 16,
    seed: int = 0,
) -> BuildResult:
    """Build, check and (with ``out``) write a model carrying its preprocessing.

    Args:
        model: the trained model (path or ``keras.Model``), or None to build PRE alone.
        preprocessing: a ``.toml`` spec or ``.keras`` path, a spec dict, a FeatureSpace, a
            preprocessing layer or model.
        adapt: data for the layers that need state: a path, a glob, a list of paths, or a dict
            of arrays keyed by input name.
        engine: run the adapt pass here, or as an Apache Beam pipeline.
        out: the ``.keras`` file to write (atomically), or None.
        beam_options: Beam pipeline flags (only with the Beam engine).
        progress: step lines (silent by default).
        bar: show a progress bar over the data while adapting.
        unsafe_load / custom_objects: as for `edgeprep.load.load`.
        rows: raw examples the composition is checked on.
        seed: seed of generated raw examples (when there is no data).

    Raises:
        UsageError / LoadError / DataError: bad input (nothing written).
        ParityError: the composed model does not reproduce ``model(pre(raw))`` (nothing written).
    """
    from edgeprep.compose.adapt import AdaptPlan, describe, run_local
    from edgeprep.compose.preprocessing import resolve
    from edgeprep.compose.sources import check_columns, open_source

    progress = progress or Progress()
    if preprocessing is None:
        raise UsageError("nothing to build: pass --preprocess PRE (a .toml spec or a .keras file)")
    out_path = _check_out(out) if out is not None else None
    source = open_source(adapt) if adapt is not None else None
    with progress.step("load"):
        pre_source = resolve(preprocessing, unsafe_load, custom_objects)
        trained = _load_model(model, unsafe_load, custom_objects) if model is not None else None
    to_adapt = pre_source.targets()
    if to_adapt and source is None:
        names = ", ".join(f"{t.where} ({type(t.layer).__name__})" for t in to_adapt)
        raise UsageError(f"{names} need{'s' if len(to_adapt) == 1 else ''} adapting: pass --adapt DATA, or give the state in the spec (mean/variance, vocabulary, bin_boundaries)")
    columns = _raw_columns(pre_source)
    if source is not None:
        check_columns(source, columns)
    if to_adapt:
        plan = AdaptPlan(to_adapt)
        with progress.step(f"adapt {describe(to_adapt)} ({engine.value} runner)"), _bar(source, bar and engine is AdaptEngine.LOCAL) as on_progress:
            if engine is AdaptEngine.BEAM:
                from edgeprep.compose.beam import run_beam

                acc = run_beam(plan, source, tuple(beam_options))
            else:
                acc = run_local(plan, source, on_progress)
        plan.apply(acc, source.label)
    pre = pre_source.to_model(refresh=bool(to_adapt) and pre_source.model is not None)
    feed = _samples(pre, source, columns, rows, seed)
    from edgeprep.compose.wire import check_composition, check_same, compose, wiring

    if trained is not None:
        with progress.step("compose"):
            mapping = wiring(pre, trained)
            built = compose(pre, trained, mapping)
            report = check_composition(built, pre, trained, mapping, feed)
        _raise_unless(report, "the composed model")
    else:
        built, report = pre, None
    if out_path is not None:
        _check_saveable(built)
        with progress.step(f"write {out_path}"):
            report = _write_checked(built, out_path, feed, unsafe_load, custom_objects, lambda loaded: check_same(loaded, built, feed, str(out_path)))
    return BuildResult(built, tuple(t.where for t in to_adapt), report, out_path, "data" if source is not None else "generated")


def _load_model(model, unsafe: bool, custom_objects):
    from edgeprep.load import load

    return load(model, unsafe, custom_objects).model


def _raw_columns(pre_source) -> list:
    from edgeprep.compose.sources import Column
    from edgeprep.runners import KerasRunner

    if pre_source.chains is not None:
        return [chain.column for chain in pre_source.chains.values()]
    return [Column(s.name, "string" if s.is_string else s.dtype, tuple(s.shape[1:])) for s in KerasRunner(pre_source.model).inputs()]


def _samples(pre, source, columns, rows: int, seed: int):
    from edgeprep.parity.samples import raw_samples
    from edgeprep.compose.sources import head

    if source is None:
        return raw_samples(pre, rows, seed)
    data = head(source, columns, rows)
    return {name: (values.astype(str) if values.dtype == object else values) for name, values in data.items()}


def _raise_unless(report: ParityReport, what: str) -> None:
    if not report:
        raise ParityError(f"{what} does not reproduce model(pre(raw)) ({report.summary()}); nothing was written")


def _check_saveable(model) -> None:
    """Refuse vocabularies that Keras' ``.keras`` format cannot round-trip (one token per line of
    ``vocabulary.txt``, trailing empty lines dropped on load)."""
    from edgeprep.families import for_layer

    problems = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        family = for_layer(layer)
        problem = family.save_problem(layer) if family is not None and family.save_problem is not None else None
        if problem is not None:
            problems.append(problem)
    collect(problems, DataError, "cannot save")


def _check_out(out: str | os.PathLike) -> Path:
    path = Path(out)
    if path.suffix != ".keras":
        raise UsageError(f"--out {path}: Keras saves models as .keras files; use a path ending in .keras")
    if path.is_dir():
        raise OutputError(f"--out {path}: is a directory; pass a file path ending in .keras")
    writable_parent(path, f"--out {path}")
    return path


def _write_checked(model, out: Path, feed, unsafe: bool, custom_objects, check: Callable[[Any], ParityReport]) -> ParityReport:
    """Save to a temporary sibling, reload it, check it, then rename it onto ``out``."""
    from edgeprep.load import load_object

    temporary = out.absolute().parent / f".{out.stem}.{uuid.uuid4().hex[:8]}.tmp.keras"
    try:
        try:
            model.save(temporary)
        except OSError as exc:
            raise OutputError(f"--out {out}: cannot write it ({exc.strerror}); nothing was changed") from None
        try:
            reloaded = load_object(temporary, unsafe, custom_objects)
        except LoadError as exc:
            raise ParityError(f"Keras cannot reload the model it saved ({str(exc).split(': ', 1)[-1]}); nothing was written") from None
        report = check(reloaded)
        _raise_unless(report, f"the saved {out.name}")
        check_interrupt()  # a Ctrl-C that a library swallowed still means: write nothing
        os.replace(temporary, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    return report


@contextlib.contextmanager
def _bar(source, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over the bytes (or rows) of ``source``, on standard error."""
    if not enabled or source is None:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn
    from edgeprep.data import DataKind

    unit = MofNCompleteColumn() if source.kind is DataKind.MEMORY else DownloadColumn()
    with RichProgress(TextColumn("adapt"), BarColumn(), unit, TimeRemainingColumn(), console=Console(stderr=True), transient=False) as rich_bar:
        task = rich_bar.add_task("adapt", total=source.total())
        yield lambda amount: rich_bar.advance(task, amount)
