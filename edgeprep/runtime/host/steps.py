"""Host steps: the preprocessing that runs before a device artifact, and ``preprocess.json``.

A host step reproduces one Keras layer exactly (one module of this package per layer family); it reads raw
model inputs or earlier steps' outputs by name and writes one named output, which is either an
input of the device artifact or of a later step. ``preprocess.json`` (format
``edgeprep-preprocess/1``) lists every step with its portable configuration: vocabularies, bin
boundaries, hash salt, sequence length. This module never imports TensorFlow or Keras.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, LoadError
from . import category_encoding, discretization, glue, hashed_crossing, hashing, index_lookup, text_vectorization

FORMAT = "edgeprep-preprocess/1"
PREPROCESS = "preprocess.json"


class HostKind(enum.Enum):
    """Which host implementation reproduces a layer that runs before the device artifact.

    The value is the ``kind`` written to ``preprocess.json``.
    """

    INDEX_LOOKUP = "index_lookup"
    DISCRETIZATION = "discretization"
    CATEGORY_ENCODING = "category_encoding"
    HASHING = "hashing"
    HASHED_CROSSING = "hashed_crossing"
    TEXT_VECTORIZATION = "text_vectorization"
    GLUE = "glue"


@dataclass(frozen=True)
class HostStep:
    """One layer that runs on the host.

    Attributes:
        id: unique step id (the layer's path in the flattened graph).
        kind: which implementation runs it (a key of `KINDS`; its value is ``kind`` in JSON).
        layer / class_name: the Keras layer it reproduces.
        inputs: names of the values it reads (raw inputs or earlier steps' outputs).
        output: the name of the value it writes.
        dtype: the dtype of its output.
        config: the portable configuration its implementation reads.
    """

    id: str
    kind: HostKind
    layer: str
    class_name: str
    inputs: tuple[str, ...]
    output: str
    dtype: str
    config: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind.value, "layer": self.layer, "class": self.class_name, "inputs": list(self.inputs),
                "output": self.output, "dtype": self.dtype, "config": self.config}

    @classmethod
    def from_json(cls, data: dict) -> "HostStep":
        return cls(data["id"], HostKind(data["kind"]), data["layer"], data["class"], tuple(data["inputs"]), data["output"], data["dtype"], data["config"])

    def run(self, values: list[np.ndarray]) -> np.ndarray:
        out = KINDS[self.kind](values, self.config)
        return out.astype(str) if self.dtype == "string" else out.astype(self.dtype)


# host kind -> its NumPy implementation, ``fn(inputs, config) -> output`` (each family's ``host`` is the same function)
KINDS: dict[HostKind, Callable[[list[np.ndarray], dict], np.ndarray]] = {
    HostKind.INDEX_LOOKUP: index_lookup.run,
    HostKind.DISCRETIZATION: discretization.run,
    HostKind.CATEGORY_ENCODING: category_encoding.run,
    HostKind.HASHING: hashing.run,
    HostKind.HASHED_CROSSING: hashed_crossing.run,
    HostKind.TEXT_VECTORIZATION: text_vectorization.run,
    HostKind.GLUE: glue.run,
}


def run_steps(steps: list[HostStep], feed: Mapping[str, np.ndarray], wanted: list[str]) -> dict[str, np.ndarray]:
    """Run ``steps`` in order on the raw ``feed``; return the values named in ``wanted``.

    Raises:
        DataError: when a step's input is missing from the feed.
    """
    values: dict[str, np.ndarray] = {key: np.asarray(value) for key, value in feed.items()}
    for step in steps:
        missing = [name for name in step.inputs if name not in values]
        if missing:
            raise DataError(f"host step {step.id} ({step.class_name}) needs input(s) {', '.join(missing)}; pass them in the input file")
        values[step.output] = step.run([values[name] for name in step.inputs])
    return {name: values[name] for name in wanted if name in values}


def preprocess_json(steps: list[HostStep]) -> bytes:
    """The ``preprocess.json`` document for ``steps``."""
    return (json.dumps({"format": FORMAT, "steps": [step.to_json() for step in steps]}, indent=1, ensure_ascii=False) + "\n").encode()


def read_preprocess(directory: str | Path) -> dict[str, HostStep]:
    """Steps of ``directory/preprocess.json`` by id (empty if the export has no host steps)."""
    path = Path(directory) / PREPROCESS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: unreadable ({exc}); re-run edgeprep export") from None
    if data.get("format") != FORMAT:
        raise LoadError(f"{path}: not an {FORMAT} document; re-run edgeprep export")
    return {step["id"]: HostStep.from_json(step) for step in data["steps"]}
