"""Progress reporting for long steps: a callable sink, silent by default."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from edgeprep import memory
from edgeprep.interrupts import check as check_interrupt


class Progress:
    """Reports steps as they start and finish.

    Args:
        sink: receives one line per event; None is silent.
    """

    def __init__(self, sink: Callable[[str], None] | None = None):
        self._sink = sink
        self.measures: list[memory.StepMeasure] = []  # one per finished step, in order of finishing
        self._sampler = memory.Sampler()

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        check_interrupt()
        self._sampler.open()
        start = time.perf_counter()
        self.note(f"{message} ...")
        try:
            yield
        finally:
            peak = self._sampler.close()
        measure = memory.StepMeasure(message, time.perf_counter() - start, peak, memory.rss_mb())
        self.measures.append(measure)
        check_interrupt()
        rss = f", peak RSS {peak:.0f} MB" if peak is not None else ""
        self.note(f"{message}: done in {measure.seconds:.1f}s{rss}")

    def note(self, message: str) -> None:
        if self._sink is not None:
            self._sink(message)


def stderr_progress() -> Progress:
    """Progress lines on standard error (the CLI's default)."""
    return Progress(lambda line: print(f"edgeprep: {line}", file=sys.stderr, flush=True))
