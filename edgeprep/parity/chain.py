"""Run the parity chain over a stream of batches: Keras original -> transformed model -> artifacts.

Each link is compared separately, so a report says whether a mismatch came from a transform
(original vs transformed Keras model) or from a converter (transformed model vs artifact); the
verdict compares each artifact with the reference (the original, or the transformed model where
a documented replacement changes what the original computes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from edgeprep.config import Quantization, Target
from edgeprep.errors import ConversionError
from edgeprep.graph import Graph
from edgeprep.parity.compare import Comparison, ParityReport, Tolerance, default_tolerance
from edgeprep.parity.references import BatchStore
from edgeprep.progress import Progress
from edgeprep.runners import Runner


@dataclass
class Link:
    """One target's runners: its transformed Keras model and its artifact runner (or a callable that
    opens it: `run_chain` then opens it for its stage and closes it after)."""

    transformed: Runner | None
    artifact: Runner | Callable[[], Runner]
    reference_is_transformed: bool = False


@dataclass(frozen=True)
class TargetEvidence:
    """One target's parity evidence: the verdict and both links of the chain.

    Attributes:
        verdict: the artifact against the reference (the original, or the transformed model).
        transformed_vs_keras: the transformed Keras model against the original (None where the
            reference is the transformed model by design, or nothing was transformed to compare).
        artifact_vs_transformed: the artifact against the transformed Keras model (None without one).
    """

    verdict: ParityReport
    transformed_vs_keras: ParityReport | None = None
    artifact_vs_transformed: ParityReport | None = None

    @property
    def origin(self) -> str:
        """Where a failure came from, reading the chain link by link."""
        if self.verdict.passed:
            return "passed"
        if self.transformed_vs_keras is not None and not self.transformed_vs_keras.passed:
            return "transform: the transformed Keras model already differs from the original"
        if self.artifact_vs_transformed is not None and not self.artifact_vs_transformed.passed:
            return "converter: the artifact differs from the transformed Keras model"
        return "reference"


class EvidenceViews:
    """Per-target views of an ``evidence`` mapping, for results that carry one."""

    evidence: dict[Target, TargetEvidence]

    @property
    def reports(self) -> dict[Target, ParityReport]:
        """Target -> the verdict: the artifact against the reference."""
        return {target: entry.verdict for target, entry in self.evidence.items()}

    @property
    def transform_reports(self) -> dict[Target, ParityReport | None]:
        """Target -> the transformed Keras model against the original (None where not comparable)."""
        return {target: entry.transformed_vs_keras for target, entry in self.evidence.items()}

    @property
    def converter_reports(self) -> dict[Target, ParityReport | None]:
        """Target -> the artifact against the transformed Keras model (None without one)."""
        return {target: entry.artifact_vs_transformed for target, entry in self.evidence.items()}

    @property
    def passed(self) -> bool:
        """Every verdict passed (and there is at least one)."""
        return bool(self.evidence) and all(entry.verdict for entry in self.evidence.values())


@dataclass
class ChainResult:
    """Streaming comparisons of every link, and the golden vectors kept on the way."""

    verdicts: dict[Target, Comparison]  # artifact vs reference
    transforms: dict[Target, Comparison | None]  # transformed vs original (None: not comparable)
    converters: dict[Target, Comparison]  # artifact vs transformed
    golden_inputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    golden_outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    golden_batches: list[int] = field(default_factory=list)
    samples: int = 0

    def evidence(self, tolerance: Tolerance) -> dict[Target, TargetEvidence]:
        """Per target: the verdict and the converter link under ``tolerance``; the transform link
        under the float32 default (a transform must be exact whatever the artifact's storage)."""
        exact = default_tolerance(Quantization.NONE)
        return {
            target: TargetEvidence(
                comparison.report(tolerance),
                self.transforms[target].report(exact) if self.transforms.get(target) is not None else None,
                self.converters[target].report(tolerance) if target in self.converters else None,
            )
            for target, comparison in self.verdicts.items()
        }

    def golden(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        def merge(parts):
            return {key: np.concatenate(values) for key, values in parts.items()}

        return merge(self.golden_inputs), merge(self.golden_outputs)


@dataclass
class References:
    """The Keras stage's results, for `compare_artifacts`: every batch with its Keras outputs (``store``:
    parts "feed", "original" and one per transformed runner), per target the parts its verdict and its
    converter link compare with (``keys``: reference, transformed or None), and the chain so far
    (``result``: the transform links, golden vectors and sample count). A context manager: closing it
    removes the batches spilled to disk."""

    store: BatchStore
    keys: dict[Target, tuple[str, str | None]]
    result: ChainResult

    def __enter__(self) -> "References":
        return self

    def __exit__(self, *exc) -> None:
        self.store.close()


def run_chain(
    batches: Iterable[Mapping[str, np.ndarray]],
    original: Runner,
    links: dict[Target, Link],
    golden_budget: int = 512 * 1024,
    progress: Progress | None = None,
    generated: bool = False,
) -> ChainResult:
    """Run every batch through the original, each transformed model and each artifact, in stages:
    the Keras models over every batch first (`keras_references`), then one artifact at a time
    (`compare_artifacts`), so verification holds the largest stage's memory, not every model's.

    Args:
        batches: named raw inputs, batch by batch.
        original: the Keras original.
        links: target -> its runners (an artifact's runner may be given as a callable that opens it).
        golden_budget: bytes of inputs + outputs kept as golden vectors (at least one batch is kept).
        progress: receives a line every few hundred batches.
        generated: the batches are edgeprep's own samples (`edgeprep.parity.samples`), not the user's data.
    """
    with keras_references(batches, original, links, golden_budget, progress, generated) as references:
        return compare_artifacts(references, {target: link.artifact for target, link in links.items()})


def keras_references(
    batches: Iterable[Mapping[str, np.ndarray]],
    original: Runner,
    links: Mapping[Target, Link],
    golden_budget: int = 512 * 1024,
    progress: Progress | None = None,
    generated: bool = False,
) -> References:
    """The Keras stage of `run_chain` (same arguments; the links' artifacts are not run): the original and
    each transformed runner (once per batch, however many links share it) over every batch, the transform
    links compared and the golden vectors kept on the way; the batches and outputs go to a `BatchStore`."""
    progress = progress or Progress()
    store = BatchStore()
    names = [spec.name for spec in original.outputs()]
    result = ChainResult(
        verdicts={t: Comparison(t.value, "transformed" if link.reference_is_transformed else original.name, names) for t, link in links.items()},
        transforms={t: (Comparison(f"transformed[{t.value}]", original.name, names) if link.transformed is not None and not link.reference_is_transformed else None) for t, link in links.items()},
        converters={t: Comparison(t.value, "transformed", names) for t, link in links.items() if link.transformed is not None},
    )
    transformed: dict[str, Runner] = {}  # part name -> runner; a runner several links share runs once per batch
    keys: dict[Target, tuple[str, str | None]] = {}
    for target, link in links.items():
        part = None
        if link.transformed is not None:
            part = next((key for key, runner in transformed.items() if runner is link.transformed), f"transformed{len(transformed)}")
            transformed[part] = link.transformed
        keys[target] = (part if link.reference_is_transformed else "original", part)
    needs_original = any(not link.reference_is_transformed for link in links.values())
    golden_key = next(iter(keys.values()))[0]
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(store.close)  # spilled batches removed if the stage fails
        kept = 0
        for index, feed in enumerate(batches):
            rows = len(next(iter(feed.values())))
            outputs = {"original": _run_original(original, feed, needs_original, generated)} if needs_original else {}
            outputs.update((part, runner.infer(feed)) for part, runner in transformed.items())
            for target, (_, part) in keys.items():
                if result.transforms[target] is not None:
                    result.transforms[target].update(outputs["original"], outputs[part])
            kept += _keep_golden(result, feed, outputs[golden_key], golden_budget - kept)
            store.append({"feed": feed, **outputs})
            result.samples += rows
            if index and index % 200 == 0:
                progress.note(f"compared {result.samples} samples")
        if not result.samples:
            raise ConversionError("no samples to compare: the data source is empty")
        cleanup.pop_all()  # kept for the runtimes: `References` closes it
    return References(store, keys, result)


def compare_artifacts(references: References, artifacts: Mapping[Target, Runner | Callable[[], Runner]]) -> ChainResult:
    """The runtime stage of `run_chain`: each target's artifact over the batches of ``references``, compared
    with its reference and its transformed model's outputs. An artifact given as a callable is opened here
    and closed (released) before the next one opens; a `Runner` given open stays its caller's to close."""
    from edgeprep.memory import trim

    result = references.result
    for target, artifact in artifacts.items():
        reference, transformed = references.keys[target]
        with _opened(artifact) as runner:
            for parts in references.store:
                actual = runner.infer(parts["feed"])
                result.verdicts[target].update(parts[reference], actual)
                if transformed is not None:
                    result.converters[target].update(parts[transformed], actual)
        del runner
        trim()  # the runtime's session and arena, handed back before the next one opens
    return result


@contextlib.contextmanager
def _opened(artifact: Runner | Callable[[], Runner]) -> Iterator[Runner]:
    if isinstance(artifact, Runner):
        yield artifact
        return
    runner = artifact()
    try:
        yield runner
    finally:
        runner.close()


def same_computation(a: Graph, b: Graph) -> bool:
    """Whether `edgeprep.graph.rebuild` makes one model of both planned graphs: the same inputs, outputs,
    aliases and, call for call, the same layer, op and arguments (compared by identity, as a Graph's calls
    are; plain numbers and strings by value). Then one transformed model serves both targets and runs once
    per batch (its outputs are the same bit for bit); a rule's new op object (a device layer) makes them differ."""
    if (a.input_names, a.output_names) != (b.input_names, b.output_names) or len(a.calls) != len(b.calls):
        return False
    if not (_same(a.inputs, b.inputs) and _same(a.outputs, b.outputs) and a.alias.keys() == b.alias.keys()):
        return False
    if not all(a.alias[key] is b.alias[key] for key in a.alias):
        return False
    return all(
        x.path == y.path and x.layer is y.layer and _same_op(x.op, y.op) and x.passthrough == y.passthrough
        and _same(x.args, y.args) and _same(dict(x.kwargs), dict(y.kwargs)) and _same(x.outputs, y.outputs)
        for x, y in zip(a.calls, b.calls)
    )


def _same_op(x, y) -> bool:
    """The same op object, two built-in Keras layers a rule made alike for two targets (a folded
    Conv2D per plan: same class, config and weights, bit for bit), or two edgeprep layers whose
    ``same_as`` says so. Other classes (edgeprep's device layers may hold constants outside their
    config) only by identity."""
    if x is y:
        return True
    if hasattr(x, "same_as") and type(x) is type(y):  # an edgeprep layer that knows its constants (Affine)
        return x.same_as(y)
    import keras

    if not (isinstance(x, keras.layers.Layer) and type(x) is type(y) and type(x).__module__.startswith("keras.")):
        return False
    try:
        if x.get_config() != y.get_config() or len(x.weights) != len(y.weights):
            return False
    except NotImplementedError:  # a layer without a config: only the same object is the same op
        return False
    return all(
        u.dtype == v.dtype and tuple(u.shape) == tuple(v.shape) and np.array_equal(np.asarray(u), np.asarray(v))
        for u, v in zip(x.weights, y.weights)
    )


def _same(a, b) -> bool:
    from keras import tree

    try:
        left, right = tree.flatten(a), tree.flatten(b)
    except (TypeError, ValueError):
        return a is b
    if len(left) != len(right):
        return False
    return all(x is y or (type(x) is type(y) and isinstance(x, (bool, int, float, str)) and x == y) for x, y in zip(left, right))


def shared_models(graphs: Mapping[Target, Graph], build) -> dict:
    """Target -> ``build(graph)``, built once for the targets whose graphs are the `same_computation`."""
    built: dict = {}
    for target, graph in graphs.items():
        twin = next((other for other in built if same_computation(graphs[other], graph)), None)
        built[target] = built[twin] if twin is not None else build(graph)
    return built


def transformed_runners(plans: Mapping, models: Mapping[Target, object]) -> dict[Target, Runner]:
    """Target -> a KerasRunner of its transformed model (``plans``' graphs name its inputs and outputs);
    targets sharing a model (`shared_models`) share its runner, so `run_chain` runs it once per batch."""
    from edgeprep.runners import KerasRunner

    runners: dict[int, Runner] = {}
    for target, model in models.items():
        graph = plans[target].graph
        if id(model) not in runners:
            runners[id(model)] = KerasRunner(model, f"transformed[{target.value}]", names=(graph.input_names, graph.output_names))
    return {target: runners[id(model)] for target, model in models.items()}


def _keep_golden(result: ChainResult, feed, reference, budget: int) -> int:
    """Keep ``feed`` and its ``reference`` outputs as golden vectors if they fit in ``budget`` bytes and
    stack onto those kept (the first batch always); the bytes kept."""
    size = sum(np.asarray(v).nbytes for v in feed.values()) + sum(np.asarray(v).nbytes for v in reference.values())
    if result.golden_batches and (size > budget or not _stacks(result, feed, reference)):
        return 0
    for key, value in feed.items():
        result.golden_inputs.setdefault(key, []).append(np.asarray(value))
    for key, value in reference.items():
        result.golden_outputs.setdefault(key, []).append(np.asarray(value))
    result.golden_batches.append(len(next(iter(feed.values()))))
    return size


def _stacks(result: ChainResult, feed, outputs) -> bool:
    """Whether a batch stacks onto the golden vectors kept so far: every array's shape past the batch
    axis equals theirs (TextVectorization without ``output_sequence_length`` pads each batch to its
    longest row, so its outputs differ in length from batch to batch; each batch is still compared)."""
    def fits(kept: dict, values) -> bool:
        return all(np.shape(value)[1:] == kept[key][0].shape[1:] for key, value in values.items() if key in kept)

    return fits(result.golden_inputs, feed) and fits(result.golden_outputs, outputs)


def _run_original(original: Runner, feed, needed: bool, generated: bool):
    if not needed:
        return None
    try:
        return original.infer(feed)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {text[0][:200] if text else ''}"
        if generated:
            shapes = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in feed.items())
            raise ConversionError(
                f"the Keras original fails on edgeprep's generated samples ({shapes}; {error}): edgeprep drew inputs "
                "this model cannot take; pass --data FILE with real inputs"
            ) from None
        raise ConversionError(f"the Keras original itself fails on these inputs ({error}); check the input data or the model") from None
