"""The Keras side of the parity chain, batch by batch, kept for the runtimes that come after it.

Verification is staged so that its peak memory is the largest stage's, not the sum of every model's
(`edgeprep.parity.chain.run_chain`): first the Keras original and the transformed model(s) run over
every batch (`chain.keras_references`), then each artifact's runtime is opened, run over the same
batches and closed before the next opens (`chain.compare_artifacts`). `BatchStore` keeps the
batches and their Keras outputs for that: in memory up to a budget (`SPILL_BYTES`), and past it in
``.npz`` files in a temporary directory, so a ``--data`` source larger than memory still streams.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

SPILL_BYTES = 256 * 2**20  # batches and Keras outputs held in memory; the rest goes to disk


class BatchStore:
    """Batches of named arrays in named parts (``{"feed": {...}, "original": {...}}``), in order.

    A batch stays in memory while the store holds at most ``budget`` bytes; later ones are written
    to ``.npz`` files and read back one at a time when iterated. `close` removes the files.
    """

    def __init__(self, budget: int | None = None):
        self.budget = SPILL_BYTES if budget is None else budget
        self.held = 0  # bytes in memory
        self.spilled = 0  # batches on disk
        self._entries: list[dict | Path] = []
        self._directory: Path | None = None
        self._layouts: dict[Path, list[tuple[str, str]]] = {}

    def append(self, parts: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        size = sum(np.asarray(value).nbytes for part in parts.values() for value in part.values())
        if self.held + size <= self.budget:
            self._entries.append({key: dict(part) for key, part in parts.items()})
            self.held += size
            return
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="edgeprep-references-"))
        path = self._directory / f"{len(self._entries)}.npz"
        layout = [(key, name) for key, part in parts.items() for name in part]
        encoded = [_encode(np.asarray(parts[key][name])) for key, name in layout]
        if any(entry is None for entry in encoded):  # objects that are not all str or all bytes: kept, never pickled
            self._entries.append({key: dict(part) for key, part in parts.items()})
            self.held += size
            return
        arrays, kinds = zip(*encoded)
        np.savez(path, *[piece for pieces in arrays for piece in pieces])  # keys by position: any name is safe
        self._layouts[path] = list(zip(layout, kinds))
        self._entries.append(path)
        self.spilled += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[dict[str, dict[str, np.ndarray]]]:
        for entry in self._entries:
            if isinstance(entry, Path):
                parts: dict[str, dict[str, np.ndarray]] = {}
                with np.load(entry, allow_pickle=False) as arrays:  # object arrays are stored as bytes: no pickle
                    stored = iter(arrays[f"arr_{index}"] for index in range(len(arrays.files)))
                    for (key, name), kind in self._layouts[entry]:
                        parts.setdefault(key, {})[name] = _decode(stored, kind)
                yield parts
            else:
                yield entry

    def close(self) -> None:
        self._entries.clear()
        self.held = 0
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> "BatchStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _encode(value: np.ndarray) -> tuple[tuple[np.ndarray, ...], str] | None:
    """``value`` as arrays ``np.savez`` writes without pickle, and its kind for `_decode`: an object array
    of raw strings (all ``str`` or all ``bytes``; exactly, trailing NULs too) as its UTF-8 bytes, the end
    offset of each element and its shape; any other array as itself. None for other object arrays."""
    if value.dtype != object:
        return (value,), "array"
    items = value.ravel().tolist()
    kind = "bytes" if all(isinstance(item, bytes) for item in items) else "str" if all(isinstance(item, str) for item in items) else None
    if kind is None:
        return None
    data = [item if kind == "bytes" else item.encode("utf-8") for item in items]
    ends = np.cumsum([len(item) for item in data], dtype=np.int64)
    return (np.frombuffer(b"".join(data), np.uint8), ends, np.asarray(value.shape, np.int64)), kind


def _decode(stored: Iterator[np.ndarray], kind: str) -> np.ndarray:
    """The array `_encode` wrote as ``kind``, read from the next arrays of ``stored``."""
    first = next(stored)
    if kind == "array":
        return first
    ends, shape = next(stored), tuple(int(n) for n in next(stored))
    raw, starts = first.tobytes(), [0, *ends[:-1].tolist()]
    items = [raw[start:end] for start, end in zip(starts, ends.tolist())]
    out = np.empty(len(items), dtype=object)
    out[:] = items if kind == "bytes" else [item.decode("utf-8") for item in items]
    return out.reshape(shape)
