"""What a converter produces: one artifact, its ops, runtime requirements and measured facts.

The converters behind each `Target` and the op policy every artifact meets are in `edgeprep.backend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeprep.config import Quantization, Target


@dataclass(frozen=True)
class Artifact:
    """One converted model.

    Attributes:
        target: its format.
        data: the serialized model.
        ops: op name -> count (ONNX ops from non-default domains are written ``domain::Op``).
        runtime_requirements: what the stock runtime lacks for it (empty for builtin-only files).
        facts: what the converter measured about the graph (recorded in the manifest).
    """

    target: Target
    data: bytes = field(repr=False)
    ops: dict[str, int]
    runtime_requirements: tuple[str, ...] = ()
    quantization: Quantization = Quantization.NONE
    facts: dict = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.target.filename
