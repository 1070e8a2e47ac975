"""A held-out slice of the calibration data: what a quantized export is judged on when there is no ``--data``.

Every `HOLDOUT_EVERY`-th row of ``--calibration`` (row index ``i`` with ``i % 5 == 4``, counted over
the whole stream) is held out: calibration never sees it, parity runs on it. Real rows, never noise:
a well-calibrated model is judged by its accuracy on data like its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from edgeprep.errors import DataError

HOLDOUT_EVERY = 5
ROWS = f"every {HOLDOUT_EVERY}th row (row index % {HOLDOUT_EVERY} == {HOLDOUT_EVERY - 1})"


def split_rows(batches: Iterable[dict[str, np.ndarray]], held_out: bool, label: str = "--calibration") -> Iterator[dict[str, np.ndarray]]:
    """The held-out rows of ``batches`` (``held_out``), or the others (calibration), batch by batch.

    Raises:
        DataError: ``held_out`` and the data has fewer than `HOLDOUT_EVERY` rows (nothing to judge on).
    """
    start, yielded = 0, 0
    for feed in batches:
        rows = len(next(iter(feed.values())))
        mask = ((np.arange(start, start + rows) % HOLDOUT_EVERY) == HOLDOUT_EVERY - 1) == held_out
        start += rows
        if mask.any():
            yielded += int(mask.sum())
            yield {name: np.asarray(value)[mask] for name, value in feed.items()}
    if held_out and not yielded:
        raise DataError(
            f"{label}: {start} row(s), too few to hold out {ROWS} for verification; pass at least {HOLDOUT_EVERY} rows, or --data FILE"
        )


def rebatch(batches: Iterable[dict[str, np.ndarray]], size: int) -> Iterator[dict[str, np.ndarray]]:
    """Batches of exactly ``size`` rows (a last, shorter remainder is dropped)."""
    pending: list[dict[str, np.ndarray]] = []
    count = 0
    for feed in batches:
        pending.append(feed)
        count += len(next(iter(feed.values())))
        while count >= size:
            joined = {name: np.concatenate([part[name] for part in pending]) for name in pending[0]}
            yield {name: value[:size] for name, value in joined.items()}
            rest = {name: value[size:] for name, value in joined.items()}
            count -= size
            pending = [rest] if count else []


def describe(source_description: dict, count: int | None = None) -> dict:
    """The manifest's description of the held-out rows of a calibration source."""
    return {**source_description, "rows": ROWS, "held_out_from": "calibration", **({"count": count} if count is not None else {})}
