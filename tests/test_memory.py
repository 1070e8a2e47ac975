"""Per-step wall time and peak RSS (edgeprep/memory.py, edgeprep/progress.py) and what the export records."""

from __future__ import annotations

import gc
import json

import time

import numpy as np
import pytest

from edgeprep import memory
from edgeprep.progress import Progress

MB = 2**20


@pytest.mark.skipif(memory.rss_mb() is None, reason="needs Linux /proc")
def test_nested_steps_each_see_their_own_peak_and_the_outer_step_sees_all():
    progress = Progress()
    with progress.step("outer"):
        with progress.step("allocate"):
            block = np.ones(200 * MB, np.uint8)  # touched: resident
            held = memory.rss_mb()
            time.sleep(25 * memory.INTERVAL)  # a sampler, not a hook: give it a few turns on a loaded machine
            del block
        with progress.step("after"):
            small = np.ones(MB, np.uint8)
            del small
    measures = {m.step: m for m in progress.measures}
    assert [m.step for m in progress.measures] == ["allocate", "after", "outer"]
    assert measures["allocate"].peak_rss_mb >= held - 2  # the kernel syncs RSS counters in batches
    assert measures["after"].peak_rss_mb < measures["allocate"].peak_rss_mb - 150  # the 200 MB left with its step
    assert measures["outer"].peak_rss_mb >= measures["allocate"].peak_rss_mb
    assert measures["allocate"].rss_after_mb < measures["allocate"].peak_rss_mb - 150


@pytest.mark.skipif(memory.rss_mb() is None, reason="needs Linux /proc")
def test_a_peak_between_samples_is_still_seen_through_the_kernels_high_water_mark():
    progress = Progress()
    with progress.step("spike"):
        before = memory.hwm_mb()
        block = np.ones(max(0, int((before - memory.rss_mb() + 300) * MB)), np.uint8)  # a new process peak
        del block
    assert progress.measures[0].peak_rss_mb >= before + 250


@pytest.mark.skipif(memory.rss_mb() is None, reason="needs Linux /proc")
def test_export_records_time_and_peak_rss_per_step_in_the_manifest_timing(zoo_exports):
    result = zoo_exports("seed_cnn").result
    names = [m.step for m in result.steps]
    for step in ("load", "plan", "convert to tflite", "convert to onnx", "verify in the real runtimes"):
        assert step in names, names
    assert names[-1].startswith("write ")
    for measure in result.steps:
        assert measure.seconds >= 0
        assert 50 < measure.peak_rss_mb < 64 * 1024, measure
        assert measure.rss_after_mb <= measure.peak_rss_mb * 1.05 + 16, measure  # read just after the step closed
        assert json.loads(json.dumps(measure.to_json()))["peak_rss_mb"] == measure.peak_rss_mb
    timing = json.loads((result.out_dir / "manifest.json").read_text())["timing"]  # every step before the write
    assert timing == [measure.to_json() for measure in result.steps[:-1]]
    assert list(timing[0]) == ["step", "seconds", "peak_rss_mb", "rss_after_mb"]
    assert result.manifest.without_timing().timing is None  # what the byte-identity check compares (tests/test_reliability.py)


def test_tf2onnx_optimizer_table_is_restored_after_conversion():
    from tf2onnx import optimizer

    from converters.onnx.convert import collected_copies

    before, frozen = list(optimizer._optimizers.items()), gc.get_freeze_count()
    with collected_copies():
        assert list(optimizer._optimizers.items()) == before  # tables.optimize_graph collects; tf2onnx's table is not touched
        assert gc.get_freeze_count() > frozen  # the objects that existed before are skipped by the conversion's collections
    assert list(optimizer._optimizers.items()) == before and gc.get_freeze_count() == frozen
