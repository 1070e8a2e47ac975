"""Framework-free descriptions of a model's or artifact's inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of one tensor; ``None`` marks a dynamic dimension."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict) -> "TensorSpec":
        return cls(data["name"], data["dtype"], tuple(data["shape"]))

    @property
    def is_string(self) -> bool:
        return self.dtype in ("string", "str", "object", "bytes")

    def with_batch(self, batch: int | None) -> "TensorSpec":
        if not self.shape:
            return self
        return TensorSpec(self.name, self.dtype, (batch, *self.shape[1:]))

    def numpy_dtype(self) -> np.dtype:
        return np.dtype(object) if self.is_string else np.dtype(self.dtype)
