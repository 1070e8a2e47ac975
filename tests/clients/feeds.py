"""Golden vectors for the JavaScript clients: an export's golden device inputs as a JSON feed for
run_onnx.mjs, and the outputs it returns compared with the golden outputs by edgeprep's comparator.

The encoding (see run_onnx.mjs): numeric tensors as base64 of their little-endian bytes (exact,
NaN and Inf included), strings as JSON lists; a string input the artifact takes as UTF-8 bytes
(manifest ``"encoding": "utf8-bytes"``) is sent as the raw strings with that encoding, and the
JavaScript side encodes them with TextEncoder.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np

from edgeprep.config import Target
from edgeprep.runtime.compare import ParityReport, Tolerance, compare
from edgeprep.runtime.directory import load_golden
from edgeprep.runtime.manifest import Manifest


def device_feeds(directory: Path) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The ONNX artifact's golden inputs (after host steps, if any) in the recorded batches, and the golden outputs."""
    golden = Manifest.read(directory).golden
    device = (golden.device_inputs or {}).get(Target.ONNX.value)
    return load_golden(directory, dataclasses.replace(golden, inputs=device) if device else golden)


def tolerance_of(directory: Path) -> Tolerance:
    """The parity criteria the export recorded."""
    return Tolerance.from_json(Manifest.read(directory).to_json()["tolerance"])


def encode_tensor(value: np.ndarray) -> dict:
    """One array in run_onnx.mjs' feed encoding."""
    value = np.asarray(value)
    dims = list(value.shape)
    if value.dtype.kind in "USO":
        return {"dtype": "string", "dims": dims, "data": [str(item) for item in value.reshape(-1)]}
    dtype = "bool" if value.dtype == np.bool_ else value.dtype.name
    data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
    return {"dtype": dtype, "dims": dims, "data": base64.b64encode(data).decode("ascii")}


def decode_tensor(tensor: dict) -> np.ndarray:
    """The array of one tensor in run_onnx.mjs' encoding."""
    if tensor["dtype"] == "string":
        return np.array(tensor["data"], dtype=str).reshape(tensor["dims"])
    dtype = np.dtype(tensor["dtype"]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(tensor["data"]), dtype=dtype).reshape(tensor["dims"])


def write_feed(directory: Path, path: Path) -> Path:
    """Write the golden device feed of the export in ``directory`` to ``path`` (JSON)."""
    feeds, _ = device_feeds(directory)
    entry = Manifest.read(directory).artifact(Target.ONNX.value)
    encodings = (entry.input_encodings if entry is not None else None) or {}
    batches = [{name: {**encode_tensor(value), **({"encoding": encodings[name]} if name in encodings else {})} for name, value in feed.items()} for feed in feeds]
    path.write_text(json.dumps({"batches": batches}))
    return path


def check_outputs(directory: Path, result: dict, client: str) -> ParityReport:
    """Compare run_onnx.mjs' outputs with the golden outputs under the manifest's tolerance."""
    _, golden = device_feeds(directory)
    batches = [{name: decode_tensor(tensor) for name, tensor in batch.items()} for batch in result["batches"]]
    actual = {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]} if batches else {}
    tolerance = tolerance_of(directory)
    return compare(client, "golden", golden, actual, tolerance, batch_sizes=tuple(len(next(iter(b.values()))) for b in batches))
