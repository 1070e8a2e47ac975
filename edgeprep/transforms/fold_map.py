"""The affine map of a preprocessing chain, in float64: ``z = scale * (x + anchor) + offset``.

``anchor`` is the chain head's own exact shift (``-mean`` of a Normalization, a float32 value the
original subtracts first; 0 for a Rescaling). Keeping it apart from the rest lets a fold keep that
subtraction bit for bit when folding it would cost precision (see `fold_affine`). All three
arrays have the input's rank (batch axis 1); an axis along which none of them varies is size 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AffineMap:
    """``z = scale * (x + anchor) + offset``, float64 arrays of one shape."""

    scale: np.ndarray
    offset: np.ndarray
    anchor: np.ndarray

    @classmethod
    def of(cls, scale, offset, rank: int, anchor=0.0) -> "AffineMap | None":
        """Right-align the parts to ``rank`` as numpy broadcasting does; None if they do not fit."""
        arrays = [np.asarray(value, dtype=np.float64) for value in (scale, offset, anchor)]
        if any(array.ndim > rank for array in arrays):
            return None
        arrays = [array.reshape((1,) * (rank - array.ndim) + array.shape) for array in arrays]
        try:
            shape = np.broadcast_shapes(*(array.shape for array in arrays))
        except ValueError:
            return None
        return cls._collapsed(*(np.broadcast_to(array, shape) for array in arrays))

    @classmethod
    def _collapsed(cls, *parts: np.ndarray) -> "AffineMap":
        keep = tuple(
            slice(0, 1) if all(np.all(part == part.take([0], axis)) for part in parts) else slice(None)
            for axis in range(parts[0].ndim)
        )
        return cls(*(np.ascontiguousarray(part[keep]) for part in parts))

    def then(self, after: "AffineMap") -> "AffineMap":
        """The map ``after(self(x))`` (the anchor stays the head's)."""
        shape = np.broadcast_shapes(self.scale.shape, after.scale.shape)
        scale = self.scale * after.scale
        offset = self.offset * after.scale + after.total_offset
        return AffineMap._collapsed(*(np.broadcast_to(part, shape) for part in (scale, offset, self.anchor)))

    @property
    def total_offset(self) -> np.ndarray:
        """``o`` in ``z = s * x + o``."""
        return self.scale * self.anchor + self.offset

    @property
    def anchor_weight(self) -> float:
        """``max |s * anchor|``: how much of the output the exact head subtraction carries."""
        return float(np.max(np.abs(self.scale * self.anchor)))

    def raw_shift(self) -> np.ndarray | None:
        """``c`` with ``z = s * (x + c)``, or None where a scale is zero."""
        return None if np.any(self.scale == 0) else self.anchor + self.offset / self.scale

    def along(self, axis: int, size: int) -> "AffineMap | None":
        """The map as vectors of ``size`` along ``axis``, or None if it varies along another axis."""
        varying = [i for i, n in enumerate(self.scale.shape) if n != 1]
        if any(i != axis for i in varying) or self.scale.shape[axis] not in (1, size):
            return None
        index = tuple(slice(None) if i == axis else 0 for i in range(self.scale.ndim))
        return AffineMap(*(np.broadcast_to(part[index].reshape(-1), (size,)).copy() for part in (self.scale, self.offset, self.anchor)))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.scale * (x + self.anchor) + self.offset
