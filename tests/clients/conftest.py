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
    """``onnx_export(name, **options) -> (keras model, export directory)``: each model exported to ONNX
    once per session; ``options`` are `ExportConfig` fields (defaults dropped, so they share the export)."""
    import edgeprep
    from edgeprep.config import ExportConfig, Target

    done: dict[tuple, tuple[object, Path]] = {}

    def get(name: str, **options):
        options = {field: value for field, value in options.items() if getattr(ExportConfig(), field) != value}
        key = (name, *sorted(options.items()))
        if key not in done:
            model = MODELS[name]()
            directory = tmp_path_factory.mktemp(f"onnx-{name}") / "dist"
            result = edgeprep.export(model, directory, targets=(Target.ONNX,), **options)
            assert result.passed, result
            done[key] = (model, directory)
        return done[key]

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
