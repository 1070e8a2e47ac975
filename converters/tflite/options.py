"""What the TFLite converter takes beyond the model (`edgeprep.backend.TargetOptions` plus its own flags)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeprep.backend import TargetOptions
from edgeprep.config import ExportConfig


@dataclass(frozen=True)
class TFLiteOptions(TargetOptions):
    """TFLite conversion options.

    Attributes:
        int8_io: "int8" or "uint8" to make an int8 model's inputs/outputs integer; None keeps float.
        allow_flex: accept Select-TF (Flex) ops (recorded as the runtime requirement ``tflite-flex``).
        batch: the static batch size the model was rebuilt with, or None for a dynamic batch.
        metadata: write MediaPipe's TFLite model metadata (`converters.tflite.metadata`).
        labels: a labels file (one per line) attached to that metadata, or None.
        micro: check the artifact against tflite-micro (`converters.tflite.micro`).
        max_bytes: the static bytes axis of UTF-8 bytes inputs (`edgeprep.runtime.text`), or None.
    """

    int8_io: str | None = None
    allow_flex: bool = False
    batch: int | None = None
    metadata: bool = False
    labels: str | None = None
    micro: bool = False
    max_bytes: int | None = None

    @classmethod
    def own_fields(cls, config: ExportConfig) -> dict:
        return dict(int8_io=config.int8_io, allow_flex=config.allow_flex, batch=config.batch, metadata=config.metadata, labels=config.labels, micro=config.micro,
                    max_bytes=config.max_bytes)
