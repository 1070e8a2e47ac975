"""User data: `DataSource` (where data is and of which `DataKind`), and its reader for parity and calibration.

A `DataSource` is opened here for ``--data`` / ``--calibration`` (`open_data`) and by
`edgeprep.compose.sources` for ``--adapt`` (`open_source`: shards, globs, remote paths, arrays),
which reads it with its own streaming readers. For parity and calibration, every source streams named batches (``dict[input name, ndarray]``) so that verifying 100k rows
keeps memory flat; the first batch is read and checked against the model's inputs before any heavy
work, and every problem is collected into one error that names the file and the fix.

- ``.npz``: arrays keyed by input name, rows along axis 0; for a single-input model, one array
  under any key (Keras 3 names an input ``keras_tensor`` in memory and ``input_layer`` on save).
- ``.npy``: one array, for a single-input model (memory-mapped).
- ``.csv``: a header row; a column per input (``name``) or per feature (``name_0``, ``name_1``...).
- ``.txt``: one example per line, for a single string input.
- a directory of images (png/jpg/bmp/gif/webp), decoded with Pillow; sizes must match the input
  unless ``resize=True``.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeprep.errors import DataError
from edgeprep.runners import check_feed
from edgeprep.specs import TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class DataKind(enum.Enum):
    """How a source's data is stored; the value is ``kind`` in the manifest."""

    NPZ = "npz"
    NPY = "npy"
    CSV = "csv"
    TEXT = "text"
    IMAGES = "images"
    MEMORY = "memory"


@dataclass(frozen=True)
class DataSource:
    """Where data comes from: files (or a folder of images) of one kind, or in-memory arrays.

    Attributes:
        kind: how the data is stored.
        paths: the file(s) or the image directory; shards in order for adapt data.
        label: how messages name the whole source, e.g. ``"--data x.csv"`` or ``"--adapt (3 files)"``.
        flag: the option that gave it (``--data``, ``--calibration``, ``--adapt``), for messages
            about one file of it.
        specs: the model inputs the data feeds (parity and calibration sources).
        resize: resize images to the input size instead of refusing other sizes.
        arrays: the arrays of a `DataKind.MEMORY` source, keyed by input name.
    """

    kind: DataKind
    paths: tuple[str, ...] = ()
    label: str = "--data"
    flag: str = "--data"
    specs: tuple[TensorSpec, ...] = ()
    resize: bool = False
    arrays: Mapping[str, Any] | None = field(default=None, hash=False)

    @property
    def path(self) -> Path:
        """The first (for parity data: the only) file or directory."""
        return Path(self.paths[0])

    def total(self) -> int:
        """Progress total: bytes of all local files, or rows of in-memory arrays."""
        if self.kind is DataKind.MEMORY:
            return len(next(iter(self.arrays.values()))) if self.arrays else 0
        return sum(os.path.getsize(p) for p in self.paths if not is_remote(p))

    def batches(self, size: int = 256) -> Iterator[dict[str, np.ndarray]]:
        """Yield batches of up to ``size`` rows, each checked against the model's inputs."""
        readers = {DataKind.NPZ: self._npz, DataKind.NPY: self._npy, DataKind.CSV: self._csv, DataKind.TEXT: self._text, DataKind.IMAGES: self._images}
        for index, batch in enumerate(readers[self.kind](size)):
            yield check_feed(list(self.specs), batch, f"{self.label} (batch {index})")

    def describe(self) -> dict:
        return {"path": str(self.path), "kind": self.kind.value, "resize": self.resize}

    # --- readers -----------------------------------------------------------------------------

    def _npz(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        with _reading(self.path, self.flag):
            with np.load(self.path, allow_pickle=False) as archive:
                keys = npz_keys(self.path, archive.files, self.specs, self.flag)
                arrays = {name: archive[key] for name, key in keys.items()}
        rows = {key: len(value) for key, value in arrays.items()}
        if len(set(rows.values())) > 1:
            raise DataError(f"{self.label}: arrays have different row counts {rows}; give every input the same number of rows")
        total = next(iter(rows.values()), 0)
        for start in range(0, total, size):
            yield {key: value[start:start + size] for key, value in arrays.items()}

    def _npy(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        with _reading(self.path, self.flag):
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        name = self.specs[0].name
        for start in range(0, len(array), size):
            yield {name: np.array(array[start:start + size])}

    def _csv(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        with _reading(self.path, self.flag), open(self.path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise DataError(f"{self.label}: the CSV is empty; give it a header row naming the inputs")
            columns = _csv_columns(header, self.specs, self.label)
            line = 1
            while True:
                chunk = list(itertools.islice(reader, size))
                if not chunk:
                    return
                yield {spec.name: _csv_array(chunk, columns[spec.name], spec, line, self.label) for spec in self.specs}
                line += len(chunk)

    def _text(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        spec = self.specs[0]
        with _reading(self.path, self.flag), open(self.path, encoding="utf-8-sig") as handle:
            while True:
                lines = [line.rstrip("\n").rstrip("\r") for line in itertools.islice(handle, size)]
                if not lines:
                    return
                array = np.array(lines, dtype=str)
                yield {spec.name: array.reshape(-1, 1) if len(spec.shape) == 2 else array}

    def _images(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        files = image_files(self.path)
        spec = self.specs[0]
        for start in range(0, len(files), size):
            yield {spec.name: np.stack([decode_image(path, spec, self.resize, self.flag) for path in files[start:start + size]])}


def open_data(path: str | os.PathLike, specs: list[TensorSpec], resize: bool = False, flag: str = "--data") -> DataSource:
    """Open ``path`` as a data source for a model with inputs ``specs``, checking its first batch.

    Raises:
        DataError: the file is missing, empty, of an unknown kind, or does not fit the inputs.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{flag} {path}: no such file or directory")
    if path.is_dir():
        kind = DataKind.IMAGES
        if not image_files(path):
            raise DataError(f"{flag} {path}: the directory holds no images ({', '.join(IMAGE_SUFFIXES)})")
    else:
        suffix = path.suffix.lower()
        kind = {".npz": DataKind.NPZ, ".npy": DataKind.NPY, ".csv": DataKind.CSV, ".txt": DataKind.TEXT}.get(suffix)
        if kind is None:
            raise DataError(f"{flag} {path}: unknown data format {suffix or '(no suffix)'}; use .npz, .npy, .csv, .txt or a folder of images")
        if path.stat().st_size == 0:
            raise DataError(f"{flag} {path}: the file is empty")
    single = {DataKind.NPY: "one array", DataKind.TEXT: "one string per line", DataKind.IMAGES: "images"}
    if kind in single and len(specs) != 1:
        raise DataError(f"{flag} {path}: {single[kind]} can feed only a single-input model, this one has {len(specs)} inputs; use .npz or .csv keyed by input name")
    if kind is DataKind.TEXT and not specs[0].is_string:
        raise DataError(f"{flag} {path}: a text file feeds a string input, but {specs[0].name!r} is {specs[0].dtype}; use .npz or .csv")
    source = DataSource(kind, (str(path),), f"{flag} {path}", flag, tuple(specs), resize)
    if kind is DataKind.NPZ:
        _check_npz_names(path, specs, flag)
    first = next(source.batches(2), None)
    if first is None:
        raise DataError(f"{flag} {path}: holds no rows")
    return source


def _check_npz_names(path: Path, specs, flag: str) -> None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            files = list(archive.files)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{flag} {path}: not a readable .npz ({exc}); save it with numpy.savez(path, name=array, ...)") from None
    npz_keys(path, files, specs, flag)


def npz_keys(path, keys, specs, flag: str) -> dict[str, str]:
    """Input name -> the .npz key feeding it: keyed by input name, or for a single-input model one array under any key.

    Raises:
        DataError: an input without an array, naming the expected keys and the keys found.
    """
    keys = list(keys)
    names = [spec.name for spec in specs]
    if len(names) == 1 and len(keys) == 1:
        return {names[0]: keys[0]}
    missing = [name for name in names if name not in keys]
    if missing:
        raise DataError(
            f"{flag} {path}: no array for input(s) {', '.join(missing)} (expected keys {', '.join(names)}; it has {', '.join(sorted(keys)) or 'none'}); "
            "key arrays by input name"
        )
    return {name: name for name in names}


def read_arrays(path: str | os.PathLike, specs, flag: str = "--input") -> dict[str, np.ndarray]:
    """Read a whole ``.npz`` (keyed by input name; one array under any key for a single-input model) or,
    for a single-input model, a ``.npy``, as a feed keyed by input name.

    Raises:
        DataError: unreadable, pickled, empty or not matching the inputs; the message names the fix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"{flag} {path}: no such file; save inputs with numpy.savez (or numpy.save for one input)")
    if suffix == ".npy":
        if len(specs) != 1:
            raise DataError(f"{flag} {path}: one array can feed only a single-input model, this one has {len(specs)} inputs; save an .npz keyed by {', '.join(s.name for s in specs)}")
        with _reading(path, flag):
            feed = {specs[0].name: np.load(path, allow_pickle=False)}
    else:
        with _reading(path, flag), np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise DataError(f"{flag} {path}: holds one array, not an .npz archive; name it .npy or save it with numpy.savez")
            feed = {name: archive[key] for name, key in npz_keys(path, archive.files, specs, flag).items()}
    empty = [name for name, value in feed.items() if value.ndim == 0 or len(value) == 0]
    if empty:
        raise DataError(f"{flag} {path}: no rows for input(s) {', '.join(empty)}; give at least one row along axis 0")
    return feed


@contextlib.contextmanager
def _reading(path: Path, flag: str) -> Iterator[None]:
    """Turn what numpy, csv and codecs raise on a bad file into one `DataError` naming it and the fix."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise DataError(f"{flag} {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{flag} {path}: not a readable CSV ({exc}); keep every cell under {csv.field_size_limit():,} characters and quote fields properly") from None
    except ValueError as exc:
        if any(word in str(exc).lower() for word in ("pickle", "object arrays", "python objects")):
            raise DataError(f"{flag} {path}: holds Python objects (pickled); save numeric or string arrays (e.g. array.astype(str))") from None
        raise DataError(f"{flag} {path}: not a readable array file ({exc}); save it with numpy.save / numpy.savez") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{flag} {path}: cannot read it ({exc}); save it with numpy.save / numpy.savez") from None


def _csv_columns(header: list[str], specs, label: str) -> dict[str, list[int]]:
    index = {name.strip(): i for i, name in enumerate(header)}
    columns, problems = {}, []
    for spec in specs:
        width = int(np.prod([d for d in spec.shape[1:] if d is not None])) if len(spec.shape) > 1 else 1
        if spec.name in index and width == 1:
            columns[spec.name] = [index[spec.name]]
        elif all(f"{spec.name}_{i}" in index for i in range(width)):
            columns[spec.name] = [index[f"{spec.name}_{i}"] for i in range(width)]
        else:
            want = spec.name if width == 1 else f"{spec.name}_0 .. {spec.name}_{width - 1}"
            problems.append(f"no column {want} for input {spec.name!r}")
    if problems:
        raise DataError(f"{label}: " + "; ".join(problems) + f" (header: {', '.join(header)})")
    return columns


def _csv_array(rows: list[list[str]], columns: list[int], spec: TensorSpec, first_line: int, label: str) -> np.ndarray:
    try:
        values = [[row[c] for c in columns] for row in rows]
    except IndexError:
        bad = next(i for i, row in enumerate(rows) if len(row) <= max(columns))
        raise DataError(f"{label}: line {first_line + bad + 1} has {len(rows[bad])} fields, fewer than the header") from None
    if spec.is_string:
        array = np.array(values, dtype=str)
    else:
        try:
            array = np.array(values, dtype=np.float64)
        except ValueError:
            raise DataError(f"{label}: a value of column(s) for {spec.name!r} is not a number near line {first_line + 1}; clean the CSV or key the input as a string") from None
        if np.dtype(spec.dtype).kind in "iub":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise DataError(f"{label}: input {spec.name!r} is {spec.dtype} but the CSV holds non-integers near line {first_line + 1}")
            array = array.astype(spec.numpy_dtype())
    shape = (len(rows), *[d for d in spec.shape[1:]]) if all(d is not None for d in spec.shape[1:]) else (len(rows), len(columns))
    return array.reshape(shape) if len(spec.shape) > 1 else array.reshape(len(rows))


def is_remote(path: str) -> bool:
    """A URL such as ``gs://bucket/x.csv`` (read through Apache Beam's filesystems)."""
    return "://" in path


def image_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def decode_image(path: Path, spec: TensorSpec, resize: bool, flag: str = "--data") -> np.ndarray:
    """Decode one image to the input's (H, W, C) layout and dtype."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise DataError("reading a folder of images needs Pillow: pip install pillow") from None
    if len(spec.shape) != 4:
        raise DataError(f"{flag} {path.parent}: images feed a (N, H, W, C) input, but {spec.name!r} has shape {spec.shape}")
    height, width, channels = spec.shape[1:]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise DataError(f"{flag} {path.parent}: cannot decode images into {channels} channels")
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if (height, width) != (image.height, image.width) and None not in (height, width):
                if not resize:
                    raise DataError(f"{flag} {path}: image is {image.width}x{image.height}, the input wants {width}x{height}; pass --resize to resize")
                image = image.resize((width, height), Image.BILINEAR)
            array = np.asarray(image)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{flag} {path}: cannot decode the image ({exc})") from None
    return array.reshape(array.shape[0], array.shape[1], channels).astype(spec.numpy_dtype())
