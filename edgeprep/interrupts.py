"""Ctrl-C that no library can swallow.

Python turns SIGINT into ``KeyboardInterrupt`` at the next bytecode, and code between the signal and
us may catch it (a broad ``except`` in a converter, a C++ extension holding the signal while it
runs): the export then carried on and wrote its artifacts, after the user asked it to stop. The CLI
installs `install`'s handler, which also *records* the signal; `check` re-raises it at every
progress step boundary and right before anything is published, so an interrupted command writes
nothing whatever a library did with the first exception.
"""

from __future__ import annotations

import signal
import threading

_received = threading.Event()


def install() -> None:
    """Record SIGINT and raise ``KeyboardInterrupt`` (the CLI calls this; the Python API does not)."""

    def handler(signum, frame):
        _received.set()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived since `install`, even if it was caught since."""
    if _received.is_set():
        raise KeyboardInterrupt
