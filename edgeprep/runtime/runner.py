"""One interface over every runtime: the `Runner` base class and the feed check every runner shares.

A runner is a context manager with ``inputs()`` / ``outputs()`` (framework-free `TensorSpec`s) and
``infer(feed) -> dict``; the base class checks the feed once for all runtimes (names, ranks,
fixed dimensions, dtypes; raw strings for a UTF-8 bytes input are encoded, `text`) and names the outputs. Subclasses implement ``_infer`` only. Part of the
deploy runtime: numpy only (the Keras runner, `edgeprep.runners.KerasRunner`, builds on it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

import numpy as np

from .errors import DataError
from .specs import TensorSpec
from .text import encode_utf8, is_text


class Runner(ABC):
    """Base runner: ``infer`` validates the feed, ``_infer`` runs it."""

    name: str = "runner"

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release runtime resources (optional)."""

    @abstractmethod
    def inputs(self) -> list[TensorSpec]:
        """The runner's inputs, in order."""

    @abstractmethod
    def outputs(self) -> list[TensorSpec]:
        """The runner's outputs, in order."""

    @abstractmethod
    def _infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one batch; return outputs in ``outputs()`` order."""

    def infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch of named inputs; return named outputs.

        A runner with a static batch size N accepts any number of rows: they run in chunks of N,
        the last one padded by repeating its rows, and the outputs are trimmed back.

        Raises:
            DataError: when a name is missing or unknown, or a shape or dtype does not fit.
        """
        static = self.static_batch()
        rows = _rows(feed)
        if static is None or rows is None or rows == static:
            checked = check_feed(self.inputs(), feed, self.name)
            results = self._infer(checked)
            return {spec.name: np.asarray(value) for spec, value in zip(self.outputs(), results)}
        chunks = []
        for start in range(0, rows, static):
            part = {key: np.asarray(value)[start:start + static] for key, value in feed.items()}
            got = _rows(part)
            if got < static:
                part = {key: np.resize(value, (static, *value.shape[1:])) for key, value in part.items()}
            out = self.infer(part)
            chunks.append({key: value[:got] for key, value in out.items()})
        return {key: np.concatenate([chunk[key] for chunk in chunks]) for key in chunks[0]}

    def static_batch(self) -> int | None:
        """The fixed batch size of every input, or None when the batch is dynamic."""
        sizes = {spec.shape[0] for spec in self.inputs() if spec.shape}
        return sizes.pop() if len(sizes) == 1 and None not in sizes else None

    def infer_all(self, feeds: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Run several batches and concatenate each output along the batch axis."""
        collected: dict[str, list[np.ndarray]] = {}
        for feed in feeds:
            for key, value in self.infer(feed).items():
                collected.setdefault(key, []).append(value)
        return {key: np.concatenate(values, axis=0) if values[0].ndim else np.stack(values) for key, values in collected.items()}


def _rows(feed: Mapping[str, np.ndarray]) -> int | None:
    shapes = [np.shape(value) for value in feed.values()]
    return shapes[0][0] if shapes and shapes[0] else None


def check_feed(specs: list[TensorSpec], feed: Mapping[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """Check ``feed`` against ``specs``; collect every problem and raise once."""
    problems = []
    names = [spec.name for spec in specs]
    missing = [name for name in names if name not in feed]
    unknown = [name for name in feed if name not in names]
    if missing:
        problems.append(f"missing input(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown input(s) {', '.join(unknown)} (the model's inputs are {', '.join(names)})")
    checked = {}
    for spec in specs:
        if spec.name not in feed:
            continue
        value = np.asarray(feed[spec.name])
        if spec.dtype == "uint8" and is_text(value) and len(value.shape) == len(spec.shape) - 1:
            try:  # raw strings for a UTF-8 bytes input (edgeprep.runtime.text): encoded here
                value = encode_utf8(value, spec.name, spec.shape[-1])
            except DataError as exc:
                problems.append(str(exc))
                continue
        if len(value.shape) != len(spec.shape):
            problems.append(f"input {spec.name!r} has shape {value.shape}, expected rank {len(spec.shape)} {_shape_text(spec.shape)}")
            continue
        fixed = [(i, want, got) for i, (want, got) in enumerate(zip(spec.shape, value.shape)) if want is not None and want != got]
        if fixed:
            problems.append(f"input {spec.name!r} has shape {value.shape}, expected {_shape_text(spec.shape)}")
            continue
        value = _coerce_dtype(spec, value, problems)
        checked[spec.name] = value
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems))
    return checked


def _coerce_dtype(spec: TensorSpec, value: np.ndarray, problems: list[str]) -> np.ndarray:
    if spec.is_string:
        if value.dtype.kind not in "USO":
            problems.append(f"input {spec.name!r} is {value.dtype}, expected strings")
        return value
    want = np.dtype(spec.dtype)
    if value.dtype == want:
        return value
    if value.dtype.kind in "USO":
        problems.append(f"input {spec.name!r} holds strings, expected {want}")
        return value
    if want.kind == "f" and value.dtype.kind in "fiub":
        return value.astype(want)
    if want.kind in "iu" and value.dtype.kind in "iub":
        info = np.iinfo(want)
        if value.size and (value.min() < info.min or value.max() > info.max):
            problems.append(f"input {spec.name!r} has values outside {want}")
        return value.astype(want)
    if want.kind == "b" and value.dtype.kind in "iub":
        return value.astype(bool)
    problems.append(f"input {spec.name!r} is {value.dtype}, expected {want} (convert it or pass the right column)")
    return value


def _shape_text(shape) -> str:
    return "(" + ", ".join("N" if dim is None else str(dim) for dim in shape) + ")"
