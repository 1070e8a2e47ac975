"""``--runner beam``: the same analyzers as an Apache Beam pipeline (DirectRunner) give the local states."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.compose.adapt import AdaptPlan, run_local
from edgeprep.compose.builder import AdaptEngine, run_build
from edgeprep.compose.sources import open_source
from edgeprep.errors import UsageError
from tabular import data, write_csv  # noqa: F401 (fixtures)
from test_build_adapt import MIXED, TF_IDF, assert_same_state

pytest.importorskip("apache_beam")


@pytest.fixture(scope="module")
def shards(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    for index, rows in enumerate((slice(0, 900), slice(900, 2000), slice(2000, None))):
        write_csv(data, root / f"train-{index}.csv", rows)
    return str(root / "train-*.csv")


@pytest.mark.parametrize("spec", [MIXED, TF_IDF], ids=["mixed", "tf_idf"])
def test_beam_direct_runner_gives_the_local_states(spec, shards, data):
    local = run_build(preprocessing=spec, adapt=shards)
    beam = run_build(preprocessing=spec, adapt=shards, engine=AdaptEngine.BEAM, beam_options=("--runner=DirectRunner", "--direct_num_workers=1"))
    assert beam.adapted == local.adapted and len(beam.adapted) == len(spec["inputs"])
    for (name, ours), theirs in zip(_layers(beam.model).items(), _layers(local.model).values()):
        assert_same_state(ours, theirs, data[name])
        if type(ours).__name__ == "Discretization":
            np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)


def test_beam_merges_partial_results_like_the_local_pass(shards):
    """The combiner's merge (what Beam does across bundles) equals one sequential pass."""
    from edgeprep.compose.preprocessing import resolve

    pre = resolve(MIXED)
    plan = AdaptPlan(pre.targets())
    whole = run_local(plan, open_source(shards))
    parts = [run_local(plan, open_source(path)) for path in open_source(shards).paths]
    merged = plan.merge(parts[::-1])
    assert merged[0] == whole[0] == 3000
    for analyzer, a, b in zip(plan.analyzers, merged[1], whole[1]):
        if hasattr(a, "counts"):
            assert dict(zip(*a.counts.export())) == dict(zip(*b.counts.export()))


def test_beam_rejects_bad_pipeline_options(shards):
    with pytest.raises(UsageError, match="Beam rejects"):
        run_build(preprocessing=MIXED, adapt=shards, engine=AdaptEngine.BEAM, beam_options=("--direct_num_workers=many",))


def _layers(model) -> dict:
    layers = {}
    for layer in model.layers:
        if type(layer).__name__ in ("Normalization", "Discretization", "StringLookup", "IntegerLookup", "TextVectorization"):
            layers[layer.name.split("_")[0]] = layer
    return layers
