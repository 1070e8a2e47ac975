"""Portable configurations of Keras preprocessing layers, read from the layer objects.

Each function returns the ``config`` of an `edgeprep.host.HostStep` (JSON-ready: lists, ints,
floats, strings) that the host implementation and the device lowering both read, so the two
cannot disagree about a vocabulary or a boundary. Keras-side only (reads layer attributes).
"""

from __future__ import annotations

import numpy as np


def _plain(values) -> list:
    return [v.item() if isinstance(v, np.generic) else (v.decode("utf-8") if isinstance(v, bytes) else v) for v in values]


def index_lookup(layer) -> dict:
    """StringLookup / IntegerLookup (and TextVectorization's inner lookup)."""
    mode = layer.output_mode
    vocabulary = _plain(layer.get_vocabulary(include_special_tokens=True))
    key_dtype = "string" if layer.vocabulary_dtype == "string" else "int64"
    depth = layer.max_tokens if layer.pad_to_max_tokens else len(vocabulary)
    idf = None
    if mode == "tf_idf":
        idf = [float(v) for v in np.asarray(layer.idf_weights_const).reshape(-1)]
    salt = getattr(layer, "salt", None)
    return {
        "key_dtype": key_dtype,
        "vocabulary": vocabulary,
        "token_start": int(layer._token_start_index()),
        "oov_start": int(layer._oov_start_index()),
        "num_oov_indices": int(layer.num_oov_indices),
        "mask_token": _plain([layer.mask_token])[0] if layer.mask_token is not None else None,
        "oov_token": _plain([layer.oov_token])[0] if layer.oov_token is not None else None,
        "oov_method": getattr(layer, "oov_method", "floormod"),
        "salt": [int(s) for s in salt] if salt is not None else None,
        "invert": bool(layer.invert),
        "output_mode": mode,
        "depth": int(depth),
        "idf_weights": idf,
        "dtype": ("string" if key_dtype == "string" else "int64") if layer.invert else ("float32" if mode == "tf_idf" else "int64"),
    }


def discretization(layer) -> dict:
    boundaries = [float(b) for b in layer.bin_boundaries]
    return {"bin_boundaries": boundaries, "output_mode": layer.output_mode, "depth": len(boundaries) + 1, "dtype": layer.output_dtype}


def category_encoding(layer) -> dict:
    return {"output_mode": layer.output_mode, "depth": int(layer.num_tokens), "dtype": layer.compute_dtype}


def hashing(layer) -> dict:
    mask = layer.mask_value
    if isinstance(mask, bytes):
        mask = mask.decode("utf-8")
    elif isinstance(mask, np.generic):
        mask = mask.item()
    return {"num_bins": int(layer.num_bins), "mask_value": mask, "salt": [int(s) for s in layer.salt] if layer.salt is not None else None,
            "output_mode": layer.output_mode, "dtype": layer.dtype}


def hashed_crossing(layer) -> dict:
    return {"num_bins": int(layer.num_bins), "output_mode": layer.output_mode, "dtype": layer.compute_dtype}


def text_vectorization(layer) -> dict:
    lookup = index_lookup(layer._lookup_layer)
    return {
        "standardize": layer._standardize,
        "split": layer._split,
        "ngrams": list(layer._ngrams) if layer._ngrams else None,
        "output_mode": layer._output_mode,
        "output_sequence_length": layer._output_sequence_length,
        "lookup": lookup,
        "dtype": lookup["dtype"],
    }
