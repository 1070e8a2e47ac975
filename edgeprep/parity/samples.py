"""Generated parity inputs with realistic ranges, read from the model itself.

For each input, the first layer that gives values a meaning decides the range (its family's
``range_hint``, `edgeprep.families`; layers that only move pixels around, such as augmentation,
Resizing or CenterCrop, are looked through):
- ``Rescaling(scale, offset)``: raw values uniform in ``[0, 1/|scale|]`` (0..255 for 1/255),
- ``Normalization(mean, var)``: raw values normal around ``mean`` with std ``sqrt(var)``,
- ``Embedding(input_dim)``: integers in ``[0, input_dim)``,
- otherwise by dtype: standard normal floats, integers in [0, 10), random booleans.
A dynamic axis is 8 long unless a layer needs more: the first layer reading the input (through
look-through layers) whose family has a ``shape_hint`` sizes it (audio frames, `edgeprep.families.audio`),
for the fewest of `FRAME_CHOICES` frames on which the whole model runs in Keras (a Conv1D over the
frames needs at least its kernel size of them).
Inputs read (directly or through look-through layers) by lookup, hashing, bucketing and text
layers are drawn from what those layers find interesting instead: each layer family's
``sample_hint`` (`edgeprep.families`) says what (every vocabulary entry, OOV values, the mask,
``""``, unicode, bin boundaries and their neighbours), and `draw_vocabulary` draws mostly from it.
How many: at least `MIN_SAMPLES` rows, more when a vocabulary needs them (`sample_rows`: every
vocabulary entry, OOV value, mask, bin boundary from both sides, NaN/Inf the layer has a policy for,
and every pair of values a ``HashedCrossing`` reads, at least once), at most `MAX_SAMPLES`; drawn as
one pool and cut into the batches (`batch_plan`: a static ``--batch N`` gives as many batches of N as
that takes). `coverage` counts, from the drawn samples, what they hit (the manifest records it).
In every batch of three or more rows, rows 0 and 1 are made of edge values only: each element is
the low or the high edge of its range (0 or 255 for images, mean -/+ 3 std for normalised inputs,
0 or 4 for plain floats), row 1 the mirror of row 0, so every element meets both extremes. Samples are seeded; the seed is recorded in the
manifest so a failure reproduces.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgeprep.parity.coverage import MAX_SAMPLES, MIN_SAMPLES, coverage, crossed_inputs, elements, kind_of, pairs, sample_rows, string_extras  # noqa: F401 (re-exported)
from edgeprep.parity.hints import OOV_INTS, OOV_STRINGS, InputHint, VocabularyHint  # noqa: F401 (re-exported)
from edgeprep.specs import TensorSpec

TEXT_EXTRAS = ("Ünïcödé", "ÉCOLE", "日本語", "naïve", "it's", "e-mail", "x,y", "(a)", "end.", "DON'T", "🙂")
SEPARATORS = (" ", " ", " ", "  ", "\t", "\n", " \u00a0", ", ", ". ", "! ", " - ")


LOOK_THROUGH = {
    "Resizing", "CenterCrop", "RandomCrop", "InputLayer", "Cast", "Reshape", "Permute",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
}

# Looked through on the way to a shape hint: layers whose output has their input's shape.
SAME_SHAPE = {"Normalization", "Rescaling", "Activation", "LayerNormalization", "BatchNormalization"}
# Frame counts tried for a shape-hinted dynamic axis, fewest first (`_fit_frames`).
FRAME_CHOICES = (4, 16, 64, 256, 1024)
RESHAPING = {"Resizing", "CenterCrop", "RandomCrop", "Reshape", "Permute", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"}


def vocabulary_hint(graph, tensor, look_through: set[str]) -> VocabularyHint | None:
    """The merged hint of every vocabulary-like layer reading ``tensor`` (through look-through layers)."""
    from edgeprep.families import for_layer

    found: VocabularyHint | None = None
    frontier, seen = [tensor], 0
    while frontier and seen < 64:
        seen += 1
        for call in graph.consumers(frontier.pop()):
            family = for_layer(call.layer)
            hint = family.sample_hint(call.layer) if family is not None and family.sample_hint is not None else None
            if hint is not None:
                found = hint if found is None else found.merge(hint)
            elif call.class_name in look_through:
                frontier.append(call.outputs[0])
    return found


def input_hints(graph) -> dict[str, InputHint]:
    """Range hints for every input of a flattened (unedited) graph; shape-hinted rows sized so the
    whole model runs on them (`_fit_frames`)."""
    from edgeprep.families.augmentation import AUGMENTATION_CLASSES, REGULARIZATION_CLASSES

    through = LOOK_THROUGH | set(AUGMENTATION_CLASSES) | set(REGULARIZATION_CLASSES)
    hints = {name: _range_hint(graph, tensor, through) for name, tensor in zip(graph.input_names, graph.inputs)}
    if any(_shape_hint(graph, tensor, through, FRAME_CHOICES[0]) for tensor in graph.inputs):
        return _fit_frames(graph, hints, through)
    return hints


def _sized(graph, hints: dict[str, InputHint], through: set[str], frames: int) -> dict[str, InputHint]:
    """``hints`` with the row shape each shape-hinted input takes for ``frames`` frames."""
    sized = dict(hints)
    for name, tensor in zip(graph.input_names, graph.inputs):
        shape = _shape_hint(graph, tensor, through, frames)
        if shape is not None:
            row, layer = shape
            sized[name] = dataclasses.replace(hints[name], shape=row, reason=f"{hints[name].reason}; row shape {row} for {layer}")
    return sized


def _fit_frames(graph, hints: dict[str, InputHint], through: set[str]) -> dict[str, InputHint]:
    """The fewest frames (`FRAME_CHOICES`) on which the whole model runs: a layer after the front end
    may need more than its window (a Conv1D kernel over frames, MobileNet's strides). One generated row
    per try, run in Keras; if none runs, the first choice (the parity run then names the failure)."""
    from edgeprep.graph import rebuild
    from edgeprep.runners import KerasRunner

    runner = KerasRunner(rebuild(graph), names=(graph.input_names, graph.output_names))
    for frames in FRAME_CHOICES:
        sized = _sized(graph, hints, through, frames)
        try:
            runner.infer(generate(runner.inputs(), sized, (1,), 0)[0])
        except Exception:  # noqa: BLE001 - any failure of the model on this length: try a longer one
            continue
        return sized
    return _sized(graph, hints, through, FRAME_CHOICES[0])


def _shape_hint(graph, tensor, through: set[str], frames: int) -> tuple[tuple, str] | None:
    """The row shape the first shape-hinted layer reading ``tensor`` needs for ``frames`` frames, and that layer's name."""
    from edgeprep.families import for_layer

    row = tuple(tensor.shape[1:])
    if None not in row:
        return None
    frontier = [tensor]
    for _ in range(32):
        if not frontier:
            break
        consumers = graph.consumers(frontier.pop())
        for call in consumers:
            family = for_layer(call.layer)
            if family is not None and family.shape_hint is not None:
                sized = family.shape_hint(call.layer, row, frames)
                if sized is not None:
                    return sized, f"{call.path} ({call.class_name})"
        frontier.extend(call.outputs[0] for call in consumers if call.class_name in (through | SAME_SHAPE) - RESHAPING)
    return None


def _range_hint(graph, tensor, through: set[str]) -> InputHint:
    """The range hint of one input: its vocabulary, or the first range-giving layer reading it."""
    vocabulary = vocabulary_hint(graph, tensor, through)
    if vocabulary is not None:  # lookup / text / bucketing layers: their families' sample hints
        return InputHint("vocabulary", vocabulary, None, vocabulary.reason)
    frontier = [tensor]
    for _ in range(32):
        if not frontier:
            break
        consumers = graph.consumers(frontier.pop())
        if len(consumers) != 1:
            break
        call = consumers[0]
        hint = _hint_from_layer(call.layer, tuple(tensor.shape))
        if hint is not None:
            return hint
        if call.class_name in through:
            frontier.append(call.outputs[0])
    return InputHint("default")


def _hint_from_layer(layer, shape) -> InputHint | None:
    """The range a layer implies for its raw input: its family's ``range_hint``, or Embedding's indices."""
    from edgeprep.families import for_layer

    family = for_layer(layer)
    if family is not None and family.range_hint is not None:
        return family.range_hint(layer)
    if type(layer).__name__ == "Embedding":
        return InputHint("integer", 0, int(layer.input_dim), f"Embedding(input_dim={layer.input_dim})")
    return None


FILL_BATCH = 32  # rows per extra batch of a dynamic-batch artifact
# ... and at most this many bytes of input per extra batch: a Keras model's eager call holds its
# activations, ~140 MB per 224x224 row in ConvNeXtTiny (a 32-row batch peaked at +4.5 GB, issue 21)
FILL_BYTES = 4 * 2**20


def batch_plan(batch_sizes: tuple[int, ...], static: int | None, rows: int, fill: int = FILL_BATCH) -> tuple[int, ...]:
    """Batch sizes that sum to at least ``rows``: ``static`` repeated, or ``batch_sizes`` then batches of ``fill`` rows."""
    if static:
        return (static,) * max(1, -(-rows // static))
    sizes = list(batch_sizes)
    while sum(sizes) < rows:
        sizes.append(min(fill, rows - sum(sizes)))
    return tuple(sizes)


def fill_rows(specs: list[TensorSpec], hints: dict[str, InputHint]) -> int:
    """Rows per extra batch: `FILL_BATCH`, fewer where a row's inputs exceed `FILL_BYTES` / `FILL_BATCH` bytes."""
    row_bytes = sum(int(np.prod(_row_shape(spec, hints.get(spec.name, InputHint("default"))))) * (8 if spec.is_string else np.dtype(spec.dtype).itemsize)
                    for spec in specs)
    return int(np.clip(FILL_BYTES // max(row_bytes, 1), 1, FILL_BATCH))


def _row_shape(spec: TensorSpec, hint: InputHint) -> tuple[int, ...]:
    """One generated row's shape: the spec's, a dynamic axis sized by the hint (else 8)."""
    sized = hint.shape or (8,) * (len(spec.shape) - 1)
    return tuple(dim if dim is not None else (want or 8) for dim, want in zip(spec.shape[1:], sized))


def generate(specs: list[TensorSpec], hints: dict[str, InputHint], batch_sizes: tuple[int, ...], seed: int, crosses=()) -> list[dict[str, np.ndarray]]:
    """One feed per batch size, drawn with ``hints`` from a generator seeded with ``seed``.

    The rows of all batches are drawn as one pool, so that vocabulary entries, edge values and the
    value pairs of ``crosses`` (`crossed_inputs`) are each hit at least once when there is room.
    """
    rng = np.random.default_rng(seed)
    total = sum(batch_sizes)
    kinds = {spec.name: kind_of(spec) for spec in specs}
    base = max(min(total, MIN_SAMPLES), total - sum(map(len, pairs(crosses, hints, kinds))))  # rows before the crossing pairs
    pools, vocabulary_inputs = {}, set()
    for spec in specs:
        hint = hints.get(spec.name, InputHint("default"))
        row = _row_shape(spec, hint)
        parts = [draw(spec, hint, (size, *row), rng) for size in (base, total - base) if size]
        pools[spec.name] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if hint.kind == "vocabulary" or spec.is_string:
            vocabulary_inputs.add(spec.name)
    _draw_pairs(pools, specs, crosses, hints, base)
    order = rng.permutation(total)
    pools = {name: pool[order] for name, pool in pools.items()}
    feeds, start = [], 0
    for batch in batch_sizes:
        feed = {}
        for spec in specs:
            values = pools[spec.name][start:start + batch].copy()
            hint = hints.get(spec.name, InputHint("default"))
            if batch >= 3 and spec.name not in vocabulary_inputs:  # vocabularies carry their own edge cases
                low, high = edges(spec, hint, values.shape[1:])
                pick = rng.random(values.shape[1:]) < 0.5
                values[0], values[1] = np.where(pick, low, high), np.where(pick, high, low)
            if hint.kind == "vocabulary" and hint.low.text_words and not any(str(v).strip() for v in values.reshape(-1)):
                # a batch of blank texts only pads to length 0, which no recurrent layer takes: keep one word
                values.reshape(-1)[0] = hint.low.text_words[0]
            feed[spec.name] = values
        feeds.append(feed)
        start += batch
    return feeds


def _draw_pairs(pools, specs, crosses, hints, start: int) -> None:
    """Write every value pair of each cross into rows ``start`` onwards (rows of their own, so no
    vocabulary entry or edge value drawn before them is lost)."""
    by_name = {spec.name: spec for spec in specs}
    total = len(next(iter(pools.values()))) if pools else 0
    row = start
    for names, wanted in zip(crosses, pairs(crosses, hints, {spec.name: kind_of(spec) for spec in specs})):
        if not wanted or any(n not in by_name or elements(by_name[n], hints[n]) != 1 for n in names):
            continue
        wanted = wanted[: max(0, total - row)]
        for index, name in enumerate(names):
            values = [pair[index] for pair in wanted]
            if pools[name].dtype.kind == "U":  # widen so no value is cut
                pools[name] = pools[name].astype(f"<U{max([pools[name].dtype.itemsize // 4, *map(len, values)])}")
            pools[name].reshape(total, -1)[row:row + len(wanted), 0] = values
        row += len(wanted)


@dataclass(frozen=True)
class GeneratedSamples:
    """The generated parity batches, their sizes and what they cover (`edgeprep.parity.coverage`)."""

    feeds: list
    batch_sizes: tuple[int, ...]
    coverage: dict[str, str]


def generated_samples(specs, hints, graph, batch_sizes: tuple[int, ...], static: int | None, seed: int) -> GeneratedSamples:
    """The export's parity samples: at least `MIN_SAMPLES` rows (more for a large vocabulary or a
    cross), in ``batch_sizes`` and then batches of `FILL_BATCH`, or all of the static batch size."""
    crosses = crossed_inputs(graph)
    sizes = batch_plan(batch_sizes, static, sample_rows(specs, hints, crosses), fill_rows(specs, hints))
    feeds = generate(specs, hints, sizes, seed, crosses)
    return GeneratedSamples(feeds, sizes, coverage(feeds, hints, crosses))


def edges(spec: TensorSpec, hint: InputHint, row_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The low and high edge rows of an input's range."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        return np.zeros(row_shape, bool), np.ones(row_shape, bool)
    if hint.kind == "uniform":
        low, high = np.full(row_shape, float(hint.low)), np.full(row_shape, float(hint.high))
    elif hint.kind == "normal":
        std, mean = _broadcast(hint.high, row_shape), _broadcast(hint.low, row_shape)
        low, high = mean - 3 * std, mean + 3 * std
    elif hint.kind == "integer":
        low, high = np.full(row_shape, int(hint.low)), np.full(row_shape, int(hint.high) - 1)
    elif dtype.kind in "iu":
        low, high = np.zeros(row_shape), np.full(row_shape, 9)
    else:
        low, high = np.zeros(row_shape), np.full(row_shape, 4.0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = np.clip(np.round(low), info.min, info.max), np.clip(np.round(high), info.min, info.max)
    return low.astype(dtype), high.astype(dtype)


def draw(spec: TensorSpec, hint: InputHint, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw one array of ``shape`` for ``spec`` following ``hint``."""
    if hint.kind == "vocabulary" or spec.is_string:
        return draw_vocabulary(spec.dtype, hint.low if hint.kind == "vocabulary" else VocabularyHint(), shape, rng)
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low, high = (int(hint.low), int(hint.high)) if hint.kind == "integer" else (0, 10)
        if hint.kind == "uniform":
            low, high = 0, int(max(1, round(float(hint.high)))) + 1
        info = np.iinfo(dtype)
        return rng.integers(max(low, info.min), min(high, info.max + 1), size=shape).astype(dtype)
    if hint.kind == "uniform":
        values = rng.uniform(float(hint.low), float(hint.high), size=shape)
    elif hint.kind == "normal":
        values = rng.standard_normal(shape) * _broadcast(hint.high, shape) + _broadcast(hint.low, shape)
    elif hint.kind == "integer":
        values = rng.integers(int(hint.low), int(hint.high), size=shape)
    else:
        values = rng.standard_normal(shape)
    return values.astype(dtype)


def _broadcast(value, shape) -> np.ndarray:
    """``value`` (a layer statistic in Keras' broadcast shape, batch axis included) over ``shape``."""
    array = np.asarray(value, dtype=np.float64)
    while array.ndim > len(shape) and array.shape[0] == 1:  # a row has no batch axis
        array = array[0]
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        return np.broadcast_to(array.reshape(array.shape[-1:] if array.ndim else ()), shape)


def draw_vocabulary(dtype: np.dtype | str, hint: VocabularyHint, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw ``shape`` values of ``dtype`` from ``hint``: every vocabulary value and edge case once when
    there is room, the rest mostly in-vocabulary."""
    dtype_name = str(dtype)
    size = int(np.prod(shape)) if shape else 1
    if dtype_name in ("string", "str", "object") or np.dtype(dtype_name if dtype_name != "string" else object).kind in "USO":
        if hint.text_words:
            queue = list(rng.permutation(list(dict.fromkeys(hint.text_words))))
            values = [_sentence(hint.text_words, rng, queue) for _ in range(size)]
        else:
            values = _pick(list(hint.strings) or ["a", "b"], string_extras(hint), size, rng)
        return np.asarray(values, dtype=str).reshape(shape)
    kind = np.dtype(dtype_name).kind
    if kind in "iu":
        extras = list(OOV_INTS) if hint.oov else []
        values = _pick([int(v) for v in hint.ints] or [0, 1, 2], extras, size, rng)
        info = np.iinfo(np.dtype(dtype_name))
        return np.clip(np.asarray(values, dtype=np.int64), info.min, info.max).astype(dtype_name).reshape(shape)
    floats = list(hint.floats) or [0.0]
    spread = max(1.0, float(np.ptp(floats))) if floats else 1.0
    extras = [min(floats) - 10 * spread, max(floats) + 10 * spread, -abs(spread), 0.0]
    covered = min(size, len(set(floats)) + len(hint.nonfinite))
    values = _pick(floats, list(hint.nonfinite) + extras, size, rng, first=list(hint.nonfinite) + list(dict.fromkeys(floats)), shuffle=False)
    values = [float(v) if n < covered or rng.random() < 0.7 else float(rng.uniform(min(floats) - spread, max(floats) + spread)) for n, v in enumerate(values)]
    order = rng.permutation(size)
    return np.asarray([values[i] for i in order], dtype=dtype_name).reshape(shape)


def _pick(common: list, extras: list, size: int, rng: np.random.Generator, first: list | None = None, shuffle: bool = True) -> list:
    """``size`` values: ``first`` each once when there is room (default: every extra, then every
    common value in random order), the rest a third extras and two thirds ``common``."""
    if first is None:
        first = list(dict.fromkeys(extras)) + [common[int(i)] for i in rng.permutation(len(common))]
    out = list(first[:size])
    while len(out) < size:
        out.append(extras[int(rng.integers(0, len(extras)))] if extras and rng.random() < 1 / 3 else common[int(rng.integers(0, len(common)))])
    return [out[i] for i in rng.permutation(size)] if shuffle else out


def _sentence(words: tuple[str, ...], rng: np.random.Generator, queue: list | None = None) -> str:
    """A random sentence; vocabulary words come from ``queue`` first (each once), then at random."""
    n = int(rng.integers(0, 14))
    if n == 0:
        return "" if rng.random() < 0.5 else "   "
    parts = []
    for _ in range(n):
        if rng.random() < 0.8:
            word = queue.pop() if queue else words[int(rng.integers(0, len(words)))]
        else:
            word = TEXT_EXTRAS[int(rng.integers(0, len(TEXT_EXTRAS)))]
        if rng.random() < 0.2:
            word = word.upper()
        elif rng.random() < 0.2:
            word = word.capitalize()
        parts.append(word)
        parts.append(SEPARATORS[int(rng.integers(0, len(SEPARATORS)))])
    return "".join(parts[:-1]) + ("?" if rng.random() < 0.3 else "")


def raw_samples(model, rows: int = 16, seed: int = 0) -> dict[str, np.ndarray]:
    """``rows`` raw examples for every input of ``model`` (one `generate` batch), seeded.

    What ``edgeprep build`` checks a built model on when it is given no data.
    """
    from edgeprep.graph import flatten
    from edgeprep.runners import KerasRunner

    return generate(KerasRunner(model).inputs(), input_hints(flatten(model)), (rows,), seed)[0]
