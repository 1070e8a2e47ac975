"""Verification in stages (`edgeprep.parity.chain.run_chain`): the Keras models over every batch first,
then one runtime at a time, each closed before the next opens; the batches kept for the runtimes spill
to disk past a budget (`edgeprep.parity.references.BatchStore`). Nothing compared or written changes."""

from __future__ import annotations

import numpy as np

from edgeprep.backend import backend
from edgeprep.config import Target
from edgeprep.parity import references
from edgeprep.parity.chain import Link, run_chain, transformed_runners
from edgeprep.parity.compare import Comparison
from edgeprep.parity.references import BatchStore
from edgeprep.runners import KerasRunner, Runner


class Recording(Runner):
    """A real runner that writes its calls, its opening and its closing into a shared log."""

    def __init__(self, runner: Runner, log: list):
        self.runner, self.log, self.name, self.closed = runner, log, runner.name, False
        log.append(f"open {self.name}")

    def inputs(self):
        return self.runner.inputs()

    def outputs(self):
        return self.runner.outputs()

    def _infer(self, feed):
        assert not self.closed
        self.log.append(f"run {self.name}")
        result = self.runner.infer(feed)
        return [result[spec.name] for spec in self.outputs()]

    def close(self):
        self.runner.close()
        self.closed = True
        self.log.append(f"close {self.name}")


def _batches(original: KerasRunner, sizes=(1, 3, 5)) -> list[dict]:
    spec = original.inputs()[0]
    rng = np.random.default_rng(0)
    return [{spec.name: rng.uniform(0, 255, (rows, *spec.shape[1:])).astype(np.float32)} for rows in sizes]


def _artifact_runner(exported, target: Target, log: list) -> Runner:
    runner = backend(target).runner(exported.result.artifacts[target].read_bytes())
    runner.name = target.value
    return Recording(runner, log)


def test_keras_stage_first_then_each_runtime_opened_run_and_closed_before_the_next(zoo_exports):
    from edgeprep.plan import make_plans
    from edgeprep.config import ExportConfig
    from edgeprep.graph import rebuild

    exported = zoo_exports("seed_cnn")
    log: list[str] = []
    original = Recording(KerasRunner(exported.model), log)
    plans = make_plans(exported.model, ExportConfig())
    shared = rebuild(plans[Target.TFLITE].graph)
    keras = transformed_runners(plans, {target: shared for target in plans})
    transformed = Recording(keras[Target.TFLITE], log)
    opened: list[Recording] = []

    def opener(target):
        return lambda: opened.append(_artifact_runner(exported, target, log)) or opened[-1]

    batches = _batches(KerasRunner(exported.model))
    log.clear()
    chain = run_chain(batches, original, {target: Link(transformed, opener(target)) for target in plans})
    keras_calls = ["run keras", f"run {transformed.name}"] * len(batches)
    assert log == [
        *keras_calls,
        "open tflite", *["run tflite"] * len(batches), "close tflite",
        "open onnx", *["run onnx"] * len(batches), "close onnx",
    ]
    assert all(runner.closed for runner in opened)
    tolerance = exported.result.evidence[Target.TFLITE].verdict.tolerance
    assert all(chain.verdicts[target].report(tolerance).passed for target in plans)
    assert chain.samples == 9


def test_reports_and_golden_equal_the_interleaved_order_in_memory_and_spilled(zoo_exports, monkeypatch):
    """Every batch through every model before the next batch (the order before the stages) and the staged
    order give the same comparisons, bit for bit, whether the stored batches stay in memory or go to disk."""
    exported = zoo_exports("seed_cnn")
    original = KerasRunner(exported.model)
    batches = _batches(original, (1, 3, 6, 6))
    log: list = []
    artifacts = {target: _artifact_runner(exported, target, log) for target in (Target.TFLITE, Target.ONNX)}
    names = [spec.name for spec in original.outputs()]
    interleaved = {target: Comparison(target.value, original.name, names) for target in artifacts}
    for feed in batches:
        reference = original.infer(feed)
        for target, runner in artifacts.items():
            interleaved[target].update(reference, runner.infer(feed))
    tolerance = exported.result.evidence[Target.TFLITE].verdict.tolerance
    expected = {target: comparison.report(tolerance).to_json() for target, comparison in interleaved.items()}
    for budget in (references.SPILL_BYTES, 0):
        monkeypatch.setattr(references, "SPILL_BYTES", budget)
        chain = run_chain(batches, original, {target: Link(None, runner) for target, runner in artifacts.items()})
        assert {target: comparison.report(tolerance).to_json() for target, comparison in chain.verdicts.items()} == expected
        inputs, outputs = chain.golden()
        np.testing.assert_array_equal(inputs[original.inputs()[0].name], np.concatenate([feed[original.inputs()[0].name] for feed in batches]))
        assert chain.golden_batches == [1, 3, 6, 6]
    assert not any(runner.closed for runner in artifacts.values())  # runners given open stay open: their caller closes them


def test_batch_store_spills_past_its_budget_and_reads_back_every_array(tmp_path):
    text = np.array([["naïve"], ["dog"]])
    floats = np.arange(12, dtype=np.float32).reshape(3, 4)
    with BatchStore(budget=floats.nbytes) as store:
        store.append({"feed": {"x": floats}, "original": {"y/0": floats * 2}})  # over the budget: to disk
        store.append({"feed": {"x": floats[:1]}})  # fits: in memory
        raw = np.array([[b"a\x00"], [b""]], dtype=object)  # bytes, a trailing NUL: exact, and no pickle on disk
        store.append({"feed": {"text": text, "obj": np.array([["naïve\x00"], ["dog"]], dtype=object), "raw": raw}})
        assert (store.spilled, len(store)) == (2, 3)
        directory = store._directory
        assert directory.is_dir()
        first, second, third = list(store)
    np.testing.assert_array_equal(first["original"]["y/0"], floats * 2)
    assert first["feed"]["x"].dtype == np.float32 and second["feed"]["x"].shape == (1, 4)
    assert third["feed"]["text"].dtype == text.dtype and list(third["feed"]["obj"].ravel()) == ["naïve\x00", "dog"]
    assert third["feed"]["obj"].shape == (2, 1) and list(third["feed"]["raw"].ravel()) == [b"a\x00", b""]
    assert not directory.exists()  # closing removed the spilled files


def test_a_data_source_larger_than_the_memory_budget_is_still_verified(zoo_exports, tmp_path, monkeypatch):
    import edgeprep

    exported = zoo_exports("seed_cnn")
    name = KerasRunner(exported.model).inputs()[0].name
    rows = np.random.default_rng(3).uniform(0, 255, (40, 28, 28, 1)).astype(np.float32)
    np.savez(tmp_path / "rows.npz", **{name: rows})
    monkeypatch.setattr(references, "SPILL_BYTES", 1024)  # 1 KiB: every batch of 16 rows goes to disk
    result = edgeprep.export(exported.model, tmp_path / "out", data=str(tmp_path / "rows.npz"), data_batch=16)
    assert result.passed and result.manifest.samples.count == 40
    assert all(report.samples == 40 and report.batch_sizes == (16, 8) for report in result.reports.values())
    with np.load(result.out_dir / "golden" / "inputs.npz") as golden:
        np.testing.assert_array_equal(golden[name], rows)  # 125 KB: every row kept, from the batches the Keras stage saw
