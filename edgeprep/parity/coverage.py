"""What generated parity samples must hit, and what they did hit, counted from the samples.

Per input, its families' sample hints (`edgeprep.parity.hints`) name the targets: every vocabulary
entry, OOV value and mask, every bin boundary with its float32 neighbours on both sides, the NaN / Inf
a layer has a policy for (docs/NUMERICS.md), every word of a text vocabulary; per ``HashedCrossing``,
every pair of its inputs' values (`crossed_inputs`). `sample_rows` says how many rows that takes,
`coverage` counts the hits in the drawn samples for the manifest.
"""

from __future__ import annotations

import itertools

import numpy as np

from edgeprep.parity.hints import OOV_INTS, OOV_STRINGS, InputHint, VocabularyHint
from edgeprep.specs import TensorSpec

MIN_SAMPLES = 64
MAX_SAMPLES = 2048  # rows; a larger vocabulary is covered in part, and the manifest says how much
MAX_PAIRS = 1024  # crossing pairs drawn per cross
WORDS_PER_ROW = 5  # text: vocabulary words a generated sentence carries, about


def crossed_inputs(graph) -> tuple[tuple[str, ...], ...]:
    """The model inputs each ``HashedCrossing`` reads (through single-input layers), one tuple per cross."""
    inputs = {id(t): name for name, t in zip(graph.input_names, graph.inputs)}
    groups = []
    for call in graph.live_calls():
        if call.class_name != "HashedCrossing":
            continue
        names = []
        for tensor in call.inputs:
            while (producer := graph.producer(tensor)) is not None and len(producer.inputs) == 1:
                tensor = producer.inputs[0]
            name = inputs.get(id(graph.resolve(tensor)))
            if name is not None and name not in names:
                names.append(name)
        if len(names) > 1:
            groups.append(tuple(names))
    return tuple(groups)


def targets(hint: InputHint, kind: str = "") -> tuple[list, list]:
    """What an input's samples must hit: (vocabulary values, edge values: OOV, mask extras, NaN/Inf).

    ``kind`` is the input's NumPy dtype kind: a hint merged from layers of several kinds (an integer
    input read by an IntegerLookup and a HashedCrossing) gives the values of that kind.
    """
    if hint.kind != "vocabulary":
        return [], []
    vocabulary: VocabularyHint = hint.low
    if vocabulary.text_words:
        return list(dict.fromkeys(vocabulary.text_words)), []
    if vocabulary.strings and (kind in "USO" if kind else True):
        return list(dict.fromkeys(vocabulary.strings)), string_extras(vocabulary)
    if vocabulary.ints and (kind in "iu" if kind else True):
        return list(dict.fromkeys(int(v) for v in vocabulary.ints)), list(OOV_INTS) if vocabulary.oov else []
    if kind and kind not in "f":
        return [], []
    return list(dict.fromkeys(float(v) for v in vocabulary.floats)), list(vocabulary.nonfinite)


def string_extras(vocabulary: VocabularyHint) -> list[str]:
    """The OOV strings drawn for a string vocabulary: generic edge cases and upper-cased entries."""
    if not vocabulary.oov:
        return []
    return list(dict.fromkeys([*OOV_STRINGS, *(s.upper() for s in vocabulary.strings[:5])]))


def elements(spec: TensorSpec, hint: InputHint) -> int:
    sized = hint.shape or (8,) * (len(spec.shape) - 1)
    return int(np.prod([dim if dim is not None else (want or 8) for dim, want in zip(spec.shape[1:], sized)]))


def pairs(crosses, hints: dict[str, InputHint], kinds: dict[str, str]) -> list[list[tuple]]:
    """Per cross of one-element vocabulary inputs: the value pairs (tuples) to draw, at most `MAX_PAIRS`
    (``kinds``: input name -> NumPy dtype kind)."""
    out = []
    for names in crosses:
        values = [targets(hints[n], kinds.get(n, ""))[0] if n in hints else [] for n in names]
        if not all(values):
            out.append([])
            continue
        out.append(list(itertools.islice(itertools.product(*values), MAX_PAIRS)))
    return out


def sample_rows(specs: list[TensorSpec], hints: dict[str, InputHint], crosses=()) -> int:
    """Rows that hit every target of every input once (text: about five vocabulary words a row), and
    every crossing pair: at least `MIN_SAMPLES`, at most `MAX_SAMPLES`."""
    need = MIN_SAMPLES
    for spec in specs:
        hint = hints.get(spec.name, InputHint("default"))
        common, extras = targets(hint, kind_of(spec))
        per_row = WORDS_PER_ROW if hint.kind == "vocabulary" and hint.low.text_words else elements(spec, hint)
        need = max(need, -(-(len(common) + len(extras)) // max(1, per_row)))
    return min(MAX_SAMPLES, need + sum(len(p) for p in pairs(crosses, hints, {spec.name: kind_of(spec) for spec in specs})))


def kind_of(spec: TensorSpec) -> str:
    """The NumPy dtype kind of an input ("U" for strings)."""
    return "U" if spec.is_string else np.dtype(spec.dtype).kind


def coverage(feeds: list[dict[str, np.ndarray]], hints: dict[str, InputHint], crosses=()) -> dict[str, str]:
    """What the drawn samples hit, counted from them: per vocabulary input and per cross."""
    out = {}
    joined = {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]} if feeds else {}
    for name, values in joined.items():
        hint = hints.get(name, InputHint("default"))
        common, extras = targets(hint, values.dtype.kind)
        if not common and not extras:
            continue
        if values.dtype.kind in "iu":  # what the input's dtype can hold (2**40 + 3 is clipped in an int32)
            info = np.iinfo(values.dtype)
            common, extras = ([v for v in dict.fromkeys(int(np.clip(x, info.min, info.max)) for x in part)] for part in (common, extras))
        if hint.low.text_words:
            text = " ".join(values.reshape(-1).tolist()).lower()
            found = sum(word.lower() in text for word in common)
            out[name] = f"{found}/{len(common)} vocabulary words"
            continue
        parts = [f"{_hits(values, common)}/{len(common)} vocabulary values"]
        if extras:
            parts.append(f"{_hits(values, extras)}/{len(extras)} edge values (OOV, NaN/Inf)")
        out[name] = ", ".join(parts)
    for names, wanted in zip(crosses, pairs(crosses, hints, {name: values.dtype.kind for name, values in joined.items()})):
        if wanted and all(n in joined for n in names):
            rows = set(zip(*(joined[n].reshape(len(joined[n]), -1)[:, 0].tolist() for n in names)))
            out[" x ".join(names)] = f"{sum(tuple(p) in rows for p in wanted)}/{len(wanted)} crossing pairs"
    return out


def _hits(values: np.ndarray, wanted: list) -> int:
    flat = values.reshape(-1)
    if flat.dtype.kind == "f":
        present = set(flat[np.isfinite(flat)].tolist()) | {repr(v) for v in flat[~np.isfinite(flat)].tolist()}
        return sum((repr(w) if not np.isfinite(w) else w) in present for w in wanted)
    present = set(flat.tolist())
    return sum(w in present for w in wanted)
