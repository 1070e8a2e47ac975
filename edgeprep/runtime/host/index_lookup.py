"""StringLookup / IntegerLookup (Keras ``IndexLookup``) on the host: NumPy, O(1) dictionary lookups.

Forward (``invert=False``), for the full vocabulary ``vocab`` (``get_vocabulary()``: mask, OOV
tokens, then learned tokens from ``token_start``):

    index(x) = position of x in vocab[token_start:] + token_start     if x is a learned token
             = oov_start                                                if num_oov_indices == 1
             = oov_start + bucket(x)                                    if num_oov_indices > 1
             = -1                                                       if num_oov_indices == 0
    index(mask_token) = 0 in "int" mode, int64 max otherwise (dropped by the encodings)

where ``bucket(x)`` is ``floormod(x, n)`` for integers with ``oov_method="floormod"``, else the
FarmHash (or, with ``salt``, SipHash) bucket of ``x``'s text. The indices are then encoded by
`encode.encode` with ``depth`` and ``dtype``. Inverse (``invert=True``):
``token(i) = vocab[i]`` for ``0 <= i < len(vocab)``, else ``oov_token``.
"""

from __future__ import annotations

import numpy as np

from .encode import encode, encode_ragged
from .hashes import hash_buckets

INT64_MAX = np.iinfo(np.int64).max


def _keys(values: np.ndarray, key_dtype: str) -> np.ndarray:
    return np.asarray(values).astype(str) if key_dtype == "string" else np.asarray(values).astype(np.int64)


_CACHE: dict[tuple[str, int], tuple[list, object]] = {}


def _cached(kind: str, config: dict, build):
    """``build(config)`` once per vocabulary list object, so a call costs O(1) per token, not O(V)."""
    vocab = config["vocabulary"]
    hit = _CACHE.get((kind, id(vocab)))
    if hit is not None and hit[0] is vocab:
        return hit[1]
    if len(_CACHE) > 256:
        _CACHE.clear()
    value = build(config)
    _CACHE[(kind, id(vocab))] = (vocab, value)
    return value


def _table(config: dict) -> dict:
    start, key_dtype = config["token_start"], config["key_dtype"]
    return {_key(token, key_dtype): index for index, token in enumerate(config["vocabulary"]) if index >= start}


def _inverse_table(config: dict) -> np.ndarray:
    return np.asarray(config["vocabulary"], dtype=str if config["key_dtype"] == "string" else np.int64)


def indices(values: np.ndarray, config: dict) -> np.ndarray:
    """The int64 indices of ``values`` (before any encoding)."""
    keys = _keys(values, config["key_dtype"])
    table = _cached("table", config, _table)
    n_oov = config["num_oov_indices"]
    default = config["oov_start"] if n_oov == 1 else -1
    unique, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    found = np.array([table.get(key, default) for key in unique.tolist()], dtype=np.int64)
    result = found[inverse].reshape(keys.shape) if unique.size else np.zeros(keys.shape, np.int64)
    mask = config.get("mask_token")
    if mask is not None:
        mask_value = 0 if config["output_mode"] == "int" else INT64_MAX
        result = np.where(keys == _key(mask, config["key_dtype"]), mask_value, result)
    if n_oov > 1:
        if config["key_dtype"] != "string" and config.get("oov_method", "floormod") != "farmhash":
            buckets = np.mod(keys, n_oov)
        else:
            salt = config.get("salt")
            buckets = hash_buckets(keys, n_oov, tuple(salt) if salt is not None else None)
        result = np.where(result == -1, buckets + config["oov_start"], result)
    return result.astype(np.int64)


def _key(token, key_dtype: str):
    return str(token) if key_dtype == "string" else int(token)


def invert(values: np.ndarray, config: dict) -> np.ndarray:
    """Indices back to tokens: ``vocab[i]`` inside the vocabulary, ``oov_token`` outside."""
    index = np.asarray(values).astype(np.int64)
    vocab = _cached("inverse", config, _inverse_table)
    inside = (index >= 0) & (index < len(vocab))
    tokens = vocab[np.where(inside, index, 0)]
    oov = config["oov_token"]
    return np.where(inside, tokens, str(oov) if config["key_dtype"] == "string" else np.int64(oov))


def index_lookup(values: np.ndarray, config: dict) -> np.ndarray:
    """The whole layer: lookup (or inverse lookup), then the output mode's encoding."""
    if config.get("invert"):
        return invert(values, config)
    found = indices(values, config)
    mode = config["output_mode"]
    if mode == "int":
        return found
    if mode == "tf_idf":
        return encode(found, "tf_idf", config["depth"], "float32", idf_weights=config["idf_weights"])
    return encode(found, mode, config["depth"], config["dtype"])


def index_lookup_rows(rows: list[np.ndarray], config: dict) -> list[np.ndarray] | np.ndarray:
    """Lookup of variable-length token rows: int rows, or one encoded row per input row."""
    flat = np.concatenate([np.asarray(row, dtype=str) for row in rows]) if rows else np.zeros((0,), str)
    found = indices(flat, config) if flat.size else np.zeros((0,), np.int64)
    splits = np.cumsum([0] + [len(row) for row in rows])
    pieces = [found[splits[i]:splits[i + 1]] for i in range(len(rows))]
    mode = config["output_mode"]
    if mode == "int":
        return pieces
    return encode_ragged(pieces, mode, config["depth"], config["dtype"], config.get("idf_weights"))


def run(values: list[np.ndarray], config: dict) -> np.ndarray:
    """The host step: ``index_lookup`` of its one input."""
    return index_lookup(values[0], config)
