"""Write an export directory atomically: everything lands in a temporary sibling directory first,
which then replaces the destination in one rename, under a lock, so a reader never sees a mixed or
half-written directory and a failed export leaves the previous one intact."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from edgeprep import interrupts
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


def check_output_file(path: str | os.PathLike, label: str) -> Path:
    """Fail fast (before any work, writing nothing) if the file ``path`` cannot be written.

    Its directory may be missing (it is created when the file is written); the nearest existing
    ancestor must then be a writable directory.

    Raises:
        OutputError: naming ``label`` (the flag and the path as the user gave it) and the fix.
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise OutputError(f"{label}: empty path; give a file path")
    if path.is_dir():
        raise OutputError(f"{label}: is a directory; give a file path")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{label}: not writable; choose a writable path or fix its permissions")
    _check_creatable(path.absolute().parent, label)
    return path


def _check_creatable(directory: Path, label: str) -> None:
    """``directory`` exists and is writable, or can be created under a writable directory."""
    ancestor = directory
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{label}: {ancestor} is a file, not a directory; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: its directory is not writable; choose a writable path")
    try:  # permissions are not the whole story (root, read-only or virtual file systems)
        handle, probe = tempfile.mkstemp(prefix=".edgeprep-probe-", dir=ancestor)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write in {ancestor} ({exc.strerror}); choose a writable path") from None


def is_export(directory: Path) -> bool:
    """Whether ``directory`` holds an earlier edgeprep export (it has a manifest.json)."""
    from edgeprep.manifest import MANIFEST

    return (Path(directory) / MANIFEST).is_file()


def check_output_dir(out: str | os.PathLike, model: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Fail fast (before any work) if ``out`` cannot, or must not, become an export directory.

    Refused: an empty path, the current directory or one of its parents (``.``, ``..``, ``/``),
    ``model``'s own directory or one of its parents (or a path inside a SavedModel directory), and
    a non-empty directory that is not an earlier export (unless ``force``): all of these would be
    deleted when the export replaces ``out``.

    Raises:
        OutputError: naming ``--out`` and the fix.
    """
    if str(out) == "":
        raise OutputError("--out '': empty path; pass a directory path, e.g. --out dist")
    out = Path(out)
    here = out.resolve()
    if here == Path.cwd().resolve() or here in Path.cwd().resolve().parents:
        raise OutputError(f"--out {out}: is the current directory or one of its parents, which the export would replace; pass a new directory, e.g. --out dist")
    if model is not None and not _is_model_object(model):
        source = Path(model).resolve()
        if here == source or here in source.parents or source in here.parents:
            raise OutputError(f"--out {out}: holds the model {model}, which the export would delete; pass a directory outside it, e.g. --out dist")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is a file; pass a directory path to --out")
    if out.is_dir() and not force and any(out.iterdir()) and not is_export(out):
        raise OutputError(f"--out {out}: a non-empty directory that is not an edgeprep export would be replaced; pass a new directory, or --force to replace it")
    parent = writable_parent(out, str(out))
    if out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: not writable; choose a writable --out or fix its permissions")
    try:
        probe = tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write next to it ({exc.strerror}); choose a writable --out") from None
    return out


def _is_model_object(model) -> bool:
    return not isinstance(model, (str, os.PathLike))


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` next to ``out``; the lock file is removed on release, so none is left.

    A waiter that got the lock on a file already removed (its inode no longer at the path) retries.
    """
    lock_path = out.absolute().parent / f".{out.name}.lock"
    while True:
        handle = open(lock_path, "a+")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(current, os.fstat(handle.fileno())):
            break
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


_TEMPORARY = re.compile(r"\.(?P<name>.*)\.(?:tmp|old)-(?P<pid>\d+)-[^/]*")


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` directories next to ``out`` whose process is gone
    (a run killed while writing), and the nameless ones older runs left; return what was removed."""
    parent, removed = out.absolute().parent, []
    for path in parent.glob(f".{glob.escape(out.name)}.*-*"):
        match = _TEMPORARY.fullmatch(path.name)
        legacy = re.fullmatch(rf"\.{re.escape(out.name)}\.(?:tmp|old)-[a-z0-9_]{{8}}", path.name)
        if path.is_dir() and (legacy or (match and match["name"] == out.name and not _alive(int(match["pid"])))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(out: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (relative path -> bytes) as directory ``out``, replacing it atomically.

    Raises:
        OutputError: if anything cannot be written; ``out`` is then unchanged.
    """
    out = Path(out)
    parent = out.absolute().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=parent))
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
        with interrupts.deferred(), _locked(out):
            remove_stale_temporaries(out)
            retired = None
            if out.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=parent))
                os.rename(out, retired / "previous")
            try:
                os.rename(staging, out)
            except OSError:
                if retired is not None:
                    os.rename(retired / "previous", out)
                raise
            interrupts.note_published(out)
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
