"""Write an export directory atomically: everything lands in a temporary sibling directory first,
which then replaces the destination in one rename, under a lock, so a reader never sees a mixed or
half-written directory and a failed export leaves the previous one intact."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from edgeprep.errors import OutputError
from edgeprep.interrupts import check as check_interrupt


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Serialize arrays to .npz bytes; strings are stored as fixed-width unicode (no pickles)."""
    buffer = io.BytesIO()
    clean = {key: (np.asarray(value).astype(str) if np.asarray(value).dtype == object else np.asarray(value)) for key, value in arrays.items()}
    np.savez_compressed(buffer, **clean)
    return buffer.getvalue()


def writable_parent(path: Path, label: str) -> Path:
    """Create ``path``'s directory if needed and check that it can be written.

    Raises:
        OutputError: naming ``label`` (the path as the user gave it, with its flag).
    """
    parent = Path(path).absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create its directory ({exc.strerror}); choose a writable path") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: its directory is not writable; choose a writable path")
    return parent


def check_output_dir(out: str | os.PathLike) -> Path:
    """Fail fast (before any work) if ``out`` cannot become an export directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is a file; pass a directory path to --out")
    parent = writable_parent(out, str(out))
    if out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: not writable; choose a writable --out or fix its permissions")
    try:
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write next to it ({exc.strerror}); choose a writable --out") from None
    return out


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    lock_path = out.absolute().parent / f".{out.name}.lock"
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(out: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (relative path -> bytes) as directory ``out``, replacing it atomically.

    Raises:
        OutputError: if anything cannot be written; ``out`` is then unchanged.
    """
    out = Path(out)
    parent = out.absolute().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        for relative, data in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        check_interrupt()  # the last moment to honour a Ctrl-C that a library swallowed
        with _locked(out):
            retired = None
            if out.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
                os.rename(out, retired / "previous")
            try:
                os.rename(staging, out)
            except OSError:
                if retired is not None:
                    os.rename(retired / "previous", out)
                raise
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        _fsync_dir(parent)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"{out}: could not write the export ({reason}); nothing was changed") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
