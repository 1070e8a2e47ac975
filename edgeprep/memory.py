"""Peak resident memory of this process tree per step (Linux ``/proc``), and releasing it between steps.

``resource.getrusage``'s ``ru_maxrss`` only grows, so it cannot say which step set the peak, and
resetting the kernel's high-water mark (``/proc/self/clear_refs``) would also reset the peak that
``/usr/bin/time`` and ``wait4`` report to whoever measures the process. So `Sampler` reads
``VmRSS`` every few milliseconds in a daemon thread while steps are open, and a step during which
the process's own high-water mark ``VmHWM`` rose takes that exact value instead.

What is measured is the *tree*: this process plus its descendants (a converter run in a child
process, `converters.isolate`), summed at each sample; a child's exact peak comes back through
`note_peak` (its ``wait4`` ``ru_maxrss`` plus what this process held meanwhile), since a sample
every few milliseconds can miss a short spike. ``wait4`` alone would give the largest single
process, not what the machine had to hold.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import re
import threading
import weakref
from dataclasses import dataclass

_STATUS = "/proc/self/status"
INTERVAL = 0.02  # seconds between samples


@dataclass(frozen=True)
class StepMeasure:
    """What one step cost.

    Attributes:
        step: the step's name, as progress reports it.
        seconds: wall time.
        peak_rss_mb: the highest resident set size during the step (MiB), None without ``/proc``.
        rss_after_mb: the resident set size when the step ended (MiB): what it left held.
    """

    step: str
    seconds: float
    peak_rss_mb: float | None
    rss_after_mb: float | None

    def to_json(self) -> dict:
        return {"step": self.step, "seconds": round(self.seconds, 3), "peak_rss_mb": self.peak_rss_mb, "rss_after_mb": self.rss_after_mb}


def _status_mb(key: str, status: str = _STATUS) -> float | None:
    try:
        with open(status) as handle:
            match = re.search(rf"^{key}:\s+(\d+) kB", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return round(int(match.group(1)) / 1024, 1) if match else None


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (every thread's), from ``/proc/<pid>/task/*/children``."""
    found = []
    for children in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError, ValueError), open(children) as handle:
            found += [int(child) for child in handle.read().split()]
    return found


def rss_mb() -> float | None:
    """The resident set size now (MiB) of this process and its descendants, None without ``/proc``."""
    return tree_rss_mb(os.getpid())


def tree_rss_mb(pid: int) -> float | None:
    """The resident set size now (MiB) of process ``pid`` and its descendants, None without ``/proc``."""
    own = _status_mb("VmRSS", f"/proc/{pid}/status")
    if own is None:
        return None
    pending, total = _children(pid), own
    while pending:
        pid = pending.pop()
        total += _status_mb("VmRSS", f"/proc/{pid}/status") or 0.0  # a child that just exited counts 0
        pending += _children(pid)
    return round(total, 1)


def hwm_mb() -> float | None:
    """The process's resident high-water mark (MiB), None without ``/proc``."""
    return _status_mb("VmHWM")


_OPEN: weakref.WeakSet = weakref.WeakSet()  # samplers with open steps, for `note_peak`


def note_peak(mb: float) -> None:
    """Count ``mb`` (MiB) as a resident size the tree reached, in every open step (a child's exact peak)."""
    for sampler in list(_OPEN):
        with sampler._lock:  # noqa: SLF001 - the module's own class
            sampler._fold(mb)  # noqa: SLF001


class Sampler:
    """Peak RSS (this process tree) of nested open steps: `open` one, `close` it (innermost first) for its peak."""

    def __init__(self):
        self._peaks: list[float] = []  # per open step, outer first
        self._hwm: list[float | None] = []  # the high-water mark when each step opened
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None

    def open(self) -> None:
        now, hwm = rss_mb(), hwm_mb()
        with self._lock:
            self._peaks.append(now or 0.0)
            self._hwm.append(hwm)
            _OPEN.add(self)
            if self._stop is None and now is not None:
                self._stop = threading.Event()
                threading.Thread(target=self._run, args=(self._stop,), name="edgeprep-rss", daemon=True).start()

    def close(self) -> float | None:
        """Close the innermost open step; its peak RSS (MiB), None without ``/proc``."""
        now, hwm = rss_mb(), hwm_mb()
        with self._lock:
            self._fold(now)
            peak, before = self._peaks.pop(), self._hwm.pop()
            if hwm is not None and before is not None and hwm > before:
                peak = max(peak, hwm)  # the process peak rose inside this step: the kernel's value is exact
            if self._peaks:
                self._peaks[-1] = max(self._peaks[-1], peak)
            else:
                _OPEN.discard(self)
                if self._stop is not None:
                    self._stop.set()
                    self._stop = None
        return peak if now is not None else None

    def _fold(self, value: float | None) -> None:
        if value is not None:
            self._peaks[:] = [max(seen, value) for seen in self._peaks]

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(INTERVAL):
            value = rss_mb()
            with self._lock:
                if stop.is_set():
                    return
                self._fold(value)


def collect() -> None:
    """A full cyclic garbage collection with Ctrl-C deferred until it ends.

    Collecting runs destructors (TensorFlow's functions have them); a signal handler raising
    ``KeyboardInterrupt`` inside one only prints "Exception ignored in ..." with a traceback, so the
    signal is recorded during the collection and raised right after it (`edgeprep.interrupts`).
    """
    from edgeprep.interrupts import deferred

    with deferred():
        gc.collect()


def release() -> None:
    """Free unreachable objects and hand freed heap pages back to the system (glibc's ``malloc_trim``).

    Between export steps: a converter's graphs are reference cycles, and glibc keeps freed pages
    mapped, so without this the next step starts on top of the last one's garbage.
    """
    collect()
    trim()


RELEASE_MB = 16.0  # below this many MB of weights a step leaves little garbage: a full collection (~0.4 s with TensorFlow loaded) does not pay


def weights_mb(model) -> float:
    """The model's weights in MB (from their shapes and dtypes: nothing is read)."""
    import numpy as np

    return sum(int(np.prod(w.shape)) * np.dtype(str(w.dtype)).itemsize for w in model.weights) / 2**20


def release_for(model_mb: float) -> None:
    """`release` between the steps of exporting a model with ``model_mb`` MB of weights, if it pays
    (`RELEASE_MB`): with TensorFlow loaded a full collection walks every live object (~0.4 s), which a
    small model's export (seconds) feels and its few MB of garbage do not repay."""
    if model_mb >= RELEASE_MB:
        release()


def trim() -> None:
    """Hand freed heap pages back to the system (glibc's ``malloc_trim``; nothing elsewhere): after
    dropping objects that hold no reference cycles (a closed runtime session), no collection needed."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
