"""The mergeable statistics: any split of the data, merged in any order, gives the same result."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edgeprep.compose.analyzers import Moments, Quantiles, TokenCounts


def _splits(n: int, rng) -> list[slice]:
    cuts = np.sort(rng.choice(np.arange(1, n), size=5, replace=False))
    edges = [0, *cuts.tolist(), n]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


def test_moments_of_any_split_equal_numpy():
    rng = np.random.default_rng(0)
    values = rng.normal(1000, 3, (5000, 4))  # a large mean: the naive sum-of-squares formula loses digits here
    moments = Moments()
    parts = [moments.add(moments.create(), values[s]) for s in _splits(len(values), rng)]
    mean, variance = Moments.result(moments.merge(parts[::-1]))
    np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(variance, values.var(axis=0), rtol=1e-9)


def test_token_and_document_counts_of_any_split_equal_counter():
    rng = np.random.default_rng(1)
    tokens = rng.choice(["a", "b", "c", "d"], size=(1000, 3))
    counts = TokenCounts(documents=True)
    parts = []
    for s in _splits(len(tokens), rng):
        rows = tokens[s]
        row_ids = np.repeat(np.arange(len(rows)), 3)
        parts.append(counts.add(counts.create(), rows.reshape(-1), row_ids, len(rows)))
    merged = counts.merge(parts)
    got = dict(zip(*merged.counts.export()))
    assert got == Counter(tokens.reshape(-1).tolist())
    documents = dict(zip(*merged.document_counts.export()))
    assert documents == Counter(t for row in tokens for t in set(row.tolist()))
    assert merged.documents == 1000


def test_integer_tokens_stay_integers():
    counts = TokenCounts()
    acc = counts.add(counts.create(), np.array([3, -1, 3, 7]), None, 4)
    tokens, values = acc.counts.export()
    assert tokens.dtype.kind == "i" and dict(zip(tokens.tolist(), values.tolist())) == {3: 2, -1: 1, 7: 1}


def test_quantiles_merged_from_many_batches_stay_within_epsilon():
    rng = np.random.default_rng(2)
    values = rng.exponential(2.0, 200_000).astype("float32")
    quantiles = Quantiles(epsilon=0.01)
    parts = [quantiles.add(quantiles.create(), chunk) for chunk in np.array_split(values, 400)]
    merged = quantiles.merge([quantiles.merge(parts[:150]), quantiles.merge(parts[150:])])
    summary = quantiles.result(merged)
    np.testing.assert_allclose(summary[1].sum(), values.size, rtol=1e-3)
    ordered = np.sort(values)
    targets = np.linspace(0.05, 0.95, 19)
    estimates = np.interp(targets, np.cumsum(summary[1]) / summary[1].sum(), summary[0])
    ranks = np.searchsorted(ordered, estimates) / ordered.size
    assert np.abs(ranks - targets).max() <= 0.01


def test_import_edgeprep_stays_free_of_build_dependencies():
    import subprocess
    import sys

    code = "import sys, edgeprep, edgeprep.cli; print(sorted(m for m in ('tensorflow', 'keras', 'pyarrow', 'apache_beam') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
    assert callable(__import__("edgeprep").build)
