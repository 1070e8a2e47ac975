"""Adapt data: CSV, .npz, text (one example per line) or a glob of such shards, read in batches.

`open_source` resolves ``--adapt`` to an `edgeprep.data.DataSource` (the one data-source type);
`read_source` reads it for the adapt pass.

Every reader yields ``{input name: array (rows, *shape)}`` batches cast to the input's dtype, so
analyzers see what the model's Input layers would. CSV is read with pyarrow's streaming reader
(vectorised parsing, one block at a time: memory stays flat however long the file); ``.gz`` /
``.bz2`` / ``.zst`` shards are decompressed on the fly. Readers take an opened binary file, so the
`run_beam` reads the same way through Beam's own filesystems.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from edgeprep.data import DataKind, DataSource, is_remote
from edgeprep.errors import DataError, collect

BLOCK_BYTES = 1 << 22  # CSV / text bytes parsed per batch (about 80k rows of a 50-byte row)
NPZ_ROWS = 65536
COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")


@dataclass(frozen=True)
class Column:
    """What one raw input looks like: name, dtype ("string" for text) and per-example shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def is_string(self) -> bool:
        return self.dtype in ("string", "str", "object")


def open_source(adapt: Any) -> DataSource:
    """Resolve ``adapt`` (a path, a glob, a list of paths, or a dict of arrays) to a `DataSource`.

    Raises:
        DataError: no file matches, files of mixed or unknown formats.
    """
    if isinstance(adapt, Mapping):
        return DataSource(DataKind.MEMORY, label="adapt data", flag="--adapt", arrays={k: np.asarray(v) for k, v in adapt.items()})
    patterns = [adapt] if isinstance(adapt, (str, os.PathLike)) else list(adapt)
    shards: list[str] = []
    for pattern in map(str, patterns):
        if is_remote(pattern):
            shards.extend(_match_remote(pattern))
            continue
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched or not all(os.path.isfile(p) for p in matched):
            missing = pattern if not matched else next(p for p in matched if not os.path.isfile(p))
            raise DataError(f"--adapt {missing}: no such file; pass a .csv, .npz or .txt file or a quoted glob such as 'train-*.csv'")
        shards.extend(matched)
    label = f"--adapt {patterns[0]}" if len(patterns) == 1 else f"--adapt ({len(shards)} files)"
    kinds = {kind_of(p) for p in shards}
    if len(kinds) != 1:
        raise DataError(f"{label}: the shards mix formats ({', '.join(sorted(k.value for k in kinds))}); use one format")
    return DataSource(kinds.pop(), tuple(shards), label=label, flag="--adapt")


def _match_remote(pattern: str) -> list[str]:
    """Expand a ``gs://`` / ``s3://`` / ``hdfs://`` pattern with Beam's filesystems."""
    try:
        from apache_beam.io.filesystems import FileSystems
    except ImportError:
        raise DataError(f"--adapt {pattern}: remote paths are read through Apache Beam's filesystems; pip install 'edgeprep[beam]'") from None
    try:
        matched = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception as exc:  # Beam raises BeamIOError and friends, with long messages
        raise DataError(f"--adapt {pattern}: cannot list it ({_first_line(exc)})") from None
    if not matched:
        raise DataError(f"--adapt {pattern}: no file matches")
    return matched


def kind_of(path: str) -> DataKind:
    name = path.lower()
    for suffix in COMPRESSED:
        name = name.removesuffix(suffix)
    if name.endswith((".csv", ".tsv")):
        return DataKind.CSV
    if name.endswith(".npz"):
        return DataKind.NPZ
    if name.endswith((".txt", ".text")):
        return DataKind.TEXT
    raise DataError(f"--adapt {path}: unknown data format; use .csv (columns = input names), .npz (arrays keyed by input name) or .txt (one example per line)")


def check_columns(source: DataSource, columns: list[Column], opener: Callable[[str], BinaryIO] | None = None) -> None:
    """Fail before the pass when a shard lacks an input or cannot hold it.

    Raises:
        DataError: naming the input, the file and the fix.
    """
    problems: list[str] = []
    names = [c.name for c in columns]
    if source.kind is DataKind.TEXT:
        if len(columns) != 1 or not columns[0].is_string:
            problems.append(f"a text file holds one string input per line, but the inputs are {', '.join(names)}; use CSV or .npz")
    elif source.kind is DataKind.CSV:
        for column in columns:
            if column.shape not in ((), (1,)):
                problems.append(f"input {column.name!r} has shape {column.shape}, but CSV holds one value per row; use .npz for it")
    for shard in source.paths if source.kind is not DataKind.TEXT else ():
        available = _names_in(shard, source.kind, opener)
        missing = [name for name in names if name not in available]
        if missing:
            problems.append(f"{shard} has no {'column' if source.kind is DataKind.CSV else 'array'}(s) {', '.join(map(repr, missing))} for the input(s) of that name (it has {', '.join(available) or 'none'})")
    if source.kind is DataKind.MEMORY:
        missing = [name for name in names if name not in source.arrays]
        if missing:
            problems.append(f"no array(s) for the input(s) {', '.join(map(repr, missing))} (given: {', '.join(source.arrays)})")
    collect(problems, DataError, source.label)


def _names_in(shard: str, kind: DataKind, opener) -> list[str]:
    with (opener or shard_stream)(shard) as handle:
        if kind is DataKind.NPZ:
            try:
                with np.load(handle, allow_pickle=False) as archive:
                    return list(archive.files)
            except (OSError, ValueError, EOFError) as exc:
                raise DataError(f"{shard}: not a readable .npz ({exc}); save it with numpy.savez") from None
        import pyarrow as pa
        import pyarrow.csv as pcsv

        try:
            reader = pcsv.open_csv(pa.PythonFile(handle, mode="r"), read_options=pcsv.ReadOptions(block_size=1 << 16), parse_options=_parse_options(shard))
        except pa.ArrowInvalid as exc:
            raise DataError(f"{shard}: cannot read it as CSV ({_first_line(exc)}); the first line must name the columns") from None
        return list(reader.schema.names)


@contextlib.contextmanager
def shard_stream(path: str) -> Iterator[BinaryIO]:
    """A shard opened for reading, decompressed by its suffix (remote ones through Beam)."""
    if is_remote(path):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        compression = CompressionTypes.UNCOMPRESSED if kind_of(path) is DataKind.NPZ else CompressionTypes.AUTO
        with FileSystems.open(path, compression_type=compression) as handle:
            yield handle
        return
    with open(path, "rb") as raw:
        yield _decompressing(raw, path)


def _parse_options(path: str):
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter="\t" if kind_of(path) is DataKind.CSV and ".tsv" in path.lower() else ",")


def read_source(source: DataSource, columns: list[Column], on_progress: Callable[[int], None] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Every batch of ``source``; ``on_progress`` receives bytes (or rows, in memory) consumed."""
    if source.kind is DataKind.MEMORY:
        yield from _read_arrays(source.arrays, columns, source.label, on_progress)
        return
    for shard in source.paths:
        if is_remote(shard):
            with shard_stream(shard) as stream:
                yield from read_shard(stream, shard, source.kind, columns)
            continue
        raw = open(shard, "rb")
        with raw:
            stream = _decompressing(raw, shard)
            position = [0]

            def progress(_):
                if on_progress is not None:
                    now = raw.tell()
                    on_progress(now - position[0])
                    position[0] = now

            yield from read_shard(stream, shard, source.kind, columns, progress)
            if on_progress is not None:
                on_progress(os.path.getsize(shard) - position[0])


def _decompressing(raw: BinaryIO, path: str):
    import pyarrow as pa

    name = path.lower()
    for suffix, codec in ((".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd"), (".lz4", "lz4")):
        if name.endswith(suffix):
            return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), codec)
    return raw


def read_shard(handle, path: str, kind: DataKind, columns: list[Column], progress: Callable[[int], None] | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Batches of one opened shard (``path`` names it in errors)."""
    if kind is DataKind.CSV:
        yield from _read_csv(handle, path, columns, progress)
    elif kind is DataKind.TEXT:
        yield from _read_text(handle, path, columns[0], progress)
    else:
        try:
            archive = np.load(handle, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npz ({exc}); save it with numpy.savez") from None
        with archive:
            arrays = {}
            for column in columns:
                try:
                    arrays[column.name] = archive[column.name]
                except ValueError as exc:  # object arrays need pickles, which are refused
                    raise DataError(f"{path}: array {column.name!r} cannot be read without pickles ({exc}); save strings as a unicode array (np.array(..., dtype=str))") from None
            yield from _read_arrays(arrays, columns, path, progress)


def _read_csv(handle, path: str, columns: list[Column], progress) -> Iterator[dict[str, np.ndarray]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {c.name: _arrow_type(c) for c in columns}
    try:
        reader = pcsv.open_csv(
            pa.PythonFile(handle, mode="r") if not isinstance(handle, pa.NativeFile) else handle,
            read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=_parse_options(path),
            convert_options=pcsv.ConvertOptions(
                include_columns=[c.name for c in columns], column_types=types,
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            yield {c.name: _column_array(batch.column(c.name), c, path) for c in columns}
            if progress is not None:
                progress(batch.num_rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{path}: malformed CSV ({_first_line(exc)}); fix the file or drop the bad rows") from None


def _arrow_type(column: Column):
    import pyarrow as pa

    if column.is_string:
        return pa.string()
    kind = np.dtype(column.dtype).kind
    return pa.int64() if kind in "iu" else pa.bool_() if kind == "b" else pa.float64()


def _column_array(array, column: Column, path: str) -> np.ndarray:
    if array.null_count:
        raise DataError(f"{path}: column {column.name!r} has {array.null_count} empty value(s); fill them or drop those rows")
    values = array.to_numpy(zero_copy_only=False)
    values = values.astype(object) if column.is_string else values.astype(column.dtype)
    return values.reshape((-1, *column.shape))


def _read_text(handle, path: str, column: Column, progress) -> Iterator[dict[str, np.ndarray]]:
    rest = b""
    while True:
        block = handle.read(BLOCK_BYTES)
        if not block:
            break
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield {column.name: _text_lines(lines, path, column)}
        if progress is not None:
            progress(len(lines))
    if rest:
        yield {column.name: _text_lines([rest], path, column)}


def _text_lines(lines: list[bytes], path: str, column: Column) -> np.ndarray:
    try:
        text = [line.removesuffix(b"\r").decode("utf-8") for line in lines]
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a line); re-encode it as UTF-8") from None
    return np.array(text, dtype=object).reshape((-1, *column.shape))


def _read_arrays(arrays: Mapping[str, Any], columns: list[Column], where: str, progress) -> Iterator[dict[str, np.ndarray]]:
    checked = {c.name: _check_array(np.asarray(arrays[c.name]), c, where) for c in columns}
    lengths = {name: len(a) for name, a in checked.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{where}: the arrays have different numbers of rows ({', '.join(f'{k}: {v}' for k, v in lengths.items())})")
    rows = next(iter(lengths.values()), 0)
    for start in range(0, rows, NPZ_ROWS):
        yield {name: array[start:start + NPZ_ROWS] for name, array in checked.items()}
        if progress is not None:
            progress(min(NPZ_ROWS, rows - start))


def _check_array(array: np.ndarray, column: Column, where: str) -> np.ndarray:
    if array.ndim == len(column.shape) and column.shape == (1,):
        array = array.reshape(-1, 1)
    if tuple(array.shape[1:]) != tuple(column.shape):
        raise DataError(f"{where}: array {column.name!r} has shape {array.shape}, the input takes (rows, {', '.join(map(str, column.shape))})")
    if column.is_string:
        if array.dtype.kind not in "USO":
            raise DataError(f"{where}: array {column.name!r} holds {array.dtype}, the input takes strings")
        return array.astype(object) if array.dtype.kind == "U" else array
    if array.dtype.kind not in "iufb":
        raise DataError(f"{where}: array {column.name!r} holds {array.dtype}, the input takes {column.dtype}")
    return array.astype(column.dtype)


def head(source: DataSource, columns: list[Column], rows: int) -> dict[str, np.ndarray]:
    """The first ``rows`` rows of ``source`` (fewer if it is shorter)."""
    for batch in read_source(source, columns):
        return {name: array[:rows] for name, array in batch.items()}
    raise DataError(f"{source.label}: no rows; pass data with at least one example")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


