"""Progress reporting for long steps: a callable sink, silent by default."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from edgeprep.interrupts import check as check_interrupt


class Progress:
    """Reports steps as they start and finish.

    Args:
        sink: receives one line per event; None is silent.
    """

    def __init__(self, sink: Callable[[str], None] | None = None):
        self._sink = sink

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        check_interrupt()
        start = time.perf_counter()
        self.note(f"{message} ...")
        yield
        check_interrupt()
        self.note(f"{message}: done in {time.perf_counter() - start:.1f}s")

    def note(self, message: str) -> None:
        if self._sink is not None:
            self._sink(message)


def stderr_progress() -> Progress:
    """Progress lines on standard error (the CLI's default)."""
    return Progress(lambda line: print(f"edgeprep: {line}", file=sys.stderr, flush=True))
