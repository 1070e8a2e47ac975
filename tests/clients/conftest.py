"""Fixtures of the JavaScript client tests: ONNX exports of the seed models (once per session) and the clients."""

from __future__ import annotations

from pathlib import Path

import pytest

import zoo
from js_clients import chromium_binary, node_binary

# The acceptance models: the seed CNN, the seed text model (TextVectorization on the host: the
# device takes token ids) and FeatureSpace twice, with its lookups and cross on the host, and
# without the cross, where StringLookup is a CategoryMapper in the graph fed string tensors.
MODELS = {
    "seed_cnn": zoo.seed_cnn,
    "seed_text": zoo.seed_text,
    "feature_space": zoo.feature_space_tabular,
    "feature_space_strings": lambda: zoo.feature_space_tabular(cross=False),
}


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory):
    """``onnx_export(name) -> (keras model, export directory)``: each model exported to ONNX once per session."""
    import edgeprep
    from edgeprep.config import Target

    done: dict[str, tuple[object, Path]] = {}

    def get(name: str):
        if name not in done:
            model = MODELS[name]()
            directory = tmp_path_factory.mktemp(f"onnx-{name}") / "dist"
            result = edgeprep.export(model, directory, targets=(Target.ONNX,))
            assert result.passed, result
            done[name] = (model, directory)
        return done[name]

    return get


@pytest.fixture(params=list(MODELS))
def seed_export(request, onnx_export) -> Path:
    """The export directory of each acceptance model."""
    return onnx_export(request.param)[1]


@pytest.fixture(scope="session")
def node() -> str:
    return node_binary()


@pytest.fixture(scope="session")
def chromium() -> str:
    return chromium_binary()
