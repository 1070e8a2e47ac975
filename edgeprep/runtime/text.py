"""The text input contract of an artifact that computes string preprocessing in its graph.

A model input of dtype string and Keras shape ``(batch, *S)`` whose consumers run in the artifact
(TextVectorization, Hashing, HashedCrossing lowered to builtin ops) becomes a **uint8 input
``(batch, *S, N)``**: each string's UTF-8 bytes, zero padded to the batch's longest (N dynamic), or
to the artifact's static N (``--max-bytes``; ``--micro`` has only static shapes): a longer string is
then refused, naming the limit.
A string ends at its last non-zero byte, so a NUL inside a string is data, and a string ending in
NUL cannot be sent: `encode_utf8` refuses it (one line naming the input) rather than drop the byte.
Nothing is ever truncated. The manifest marks such an input ``"encoding": "utf8-bytes"``
(`edgeprep.runtime.manifest.InputEncoding`); every runner encodes raw strings for it
(`edgeprep.runtime.runner.check_feed`), and a client may also send the bytes itself (JavaScript:
``new TextEncoder().encode(text)``, zero padded). NumPy only: part of the deploy runtime.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError


def encode_utf8(values, name: str = "text", width: int | None = None) -> np.ndarray:
    """Strings (any shape ``S``; str, bytes or objects of either) -> uint8 ``(*S, N)``, zero padded;
    N is the longest string's byte count, or ``width`` when the artifact's bytes axis is static.

    Raises:
        DataError: a string that ends in NUL (the zero padding cannot carry it), a string longer
            than ``width`` bytes (never cut), or a value that is not a string.
    """
    array = np.asarray(values, dtype=object)
    flat = []
    for index, value in enumerate(array.reshape(-1).tolist()):
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            raise DataError(f"input {name!r}: value {index} is {type(value).__name__}, expected a string")
        if data.endswith(b"\x00"):
            raise DataError(f"input {name!r}: string {index} ends with a NUL byte, which the zero-padded UTF-8 input cannot carry; strip trailing NULs")
        if width is not None and len(data) > width:
            raise DataError(f"input {name!r}: string {index} is {len(data)} UTF-8 bytes, more than the artifact's static {width} "
                            f"(--max-bytes {width}); shorten the text or export again with --max-bytes {len(data)} or more")
        flat.append(data)
    if width is None:
        width = max((len(data) for data in flat), default=0)
    # one join of the NUL-padded rows, one copy into NumPy: 4x faster than a row-by-row copy at 256 rows
    out = np.frombuffer(bytearray(b"".join(data.ljust(width, b"\x00") for data in flat)), np.uint8)
    return out.reshape(*array.shape, width)


def is_text(value: np.ndarray) -> bool:
    """Whether ``value`` holds strings (to be encoded) rather than bytes already."""
    return value.dtype.kind in "USO"
