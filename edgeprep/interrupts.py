"""Ctrl-C (and SIGTERM) that no library can swallow, and a truthful word about what was written.

Python turns SIGINT into ``KeyboardInterrupt`` at the next bytecode, and code between the signal and
us may catch it (a broad ``except`` in a converter, a C++ extension holding the signal while it
runs): the export then carried on and wrote its artifacts, after the user asked it to stop. The CLI
installs `install`'s handler for SIGINT and SIGTERM alike, which also *records* the signal; `check`
re-raises it at every progress step boundary and right before anything is published, so an
interrupted command writes nothing whatever a library did with the first exception.

Publishing itself (the renames) runs `deferred`: a signal arriving then is recorded and raised right
after, so the export directory is either the old one or the new one, and `note_published` tells the
CLI's message (`message`) which of the two the user now has.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

_received = threading.Event()
_deferring = threading.Event()
_signal: list[int] = []
_published: list[Path] = []

HANDLED = (signal.SIGINT, signal.SIGTERM)


def install() -> None:
    """Record SIGINT / SIGTERM and raise ``KeyboardInterrupt`` (the CLI calls this; the Python API does not)."""

    def handler(signum, frame):
        _received.set()
        _signal[:] = [signum]
        if not _deferring.is_set():
            raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, handler)


def received() -> bool:
    """A handled signal arrived since `install`."""
    return _received.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a handled signal arrived since `install`, even if it was caught since."""
    if _received.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Run the block whole: a signal arriving inside it is raised when it ends."""
    _deferring.set()
    try:
        yield
    finally:
        _deferring.clear()
    check()


def note_published(path: Path) -> None:
    """Record that ``path`` was replaced by a new export (for `message`)."""
    _published.append(Path(path))


def exit_code() -> int:
    """128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (_signal[0] if _signal else signal.SIGINT)


def message() -> str:
    """The one line an interrupted command prints: whether anything was published."""
    if _published:
        return f"edgeprep: interrupted after {', '.join(map(str, _published))} was written (the export is complete there); nothing else was written"
    return "edgeprep: interrupted; nothing was written"
