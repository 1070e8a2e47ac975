"""The preprocessing spec: raw inputs, each with Keras layers in Keras' own serialization.

A spec adds no semantics of its own: every layer is ``{class_name, config}`` exactly as
``keras.layers.serialize`` writes it, instantiated with the class's ``from_config``.

    [inputs.age]                      # one table per raw input, in the order of concatenation
    dtype = "float32"                 # float32 (default), float64, int32, int64 or string
    shape = [1]                       # per-example shape (default [1], as FeatureSpace's inputs)
    layers = [{ class_name = "Normalization", config = {} }]
    [crosses.city_X_code]             # optional: a feature cross, after the inputs
    inputs = ["city", "code"]         # the raw inputs it crosses (two or more, of one shape)
    layers = [{ class_name = "HashedCrossing", config = { num_bins = 64, output_mode = "one_hot" } }]
    [output]
    combine = "concatenate"           # or "dict": outputs keyed by input (and cross) name

Crosses are concatenated after the inputs, in the order written; their layers are called on the
list of raw input tensors (``HashedCrossing(num_bins)((city, code))``, as in Keras' guide).
"""

from __future__ import annotations

import difflib
import enum
import inspect
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprep.errors import UsageError, collect

DTYPES = ("float32", "float64", "int32", "int64", "string")


class Combine(enum.Enum):
    """How a spec's per-input outputs become the model's output."""

    CONCATENATE = "concatenate"
    DICT = "dict"


@dataclass(frozen=True)
class LayerSpec:
    """One layer, as Keras serializes it."""

    class_name: str
    config: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class InputSpec:
    """One raw input and the layers applied to it, in order."""

    name: str
    dtype: str = "float32"
    shape: tuple[int, ...] = (1,)
    layers: tuple[LayerSpec, ...] = ()


@dataclass(frozen=True)
class CrossSpec:
    """One feature cross: the raw inputs it reads and the layers called on their list, in order."""

    name: str
    inputs: tuple[str, ...]
    layers: tuple[LayerSpec, ...] = ()


@dataclass(frozen=True)
class Spec:
    """A parsed spec: inputs in the order of concatenation, crosses after them, and how outputs combine."""

    inputs: tuple[InputSpec, ...]
    combine: Combine = Combine.CONCATENATE
    source: str = "spec"
    crosses: tuple[CrossSpec, ...] = ()


def read_spec(path: str | os.PathLike) -> Spec:
    """Read a TOML spec file.

    Raises:
        UsageError: unreadable TOML or a spec that does not have the documented form.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the spec ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise UsageError(f"{path}: TOML nested deeper than Python can parse (limit {sys.getrecursionlimit()}); a spec is nested {SPEC_DEPTH_LIMIT} levels at most") from None
    if _depth(data) > SPEC_DEPTH_LIMIT:
        raise UsageError(f"{path}: TOML nested over the limit of {SPEC_DEPTH_LIMIT} levels; a spec holds tables of inputs with layer configs")
    return parse_spec(data, str(path))


SPEC_DEPTH_LIMIT = 100


def _depth(value) -> int:
    """Nesting depth of tables and arrays, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_spec(data: dict, source: str = "spec") -> Spec:
    """Check and parse a spec given as a dict (the TOML document's structure)."""
    problems: list[str] = []
    unknown = sorted(set(data) - {"inputs", "crosses", "output"})
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(unknown)} (a spec has [inputs.NAME] tables, optional [crosses.NAME] tables and an [output] table)")
    tables = data.get("inputs")
    if not isinstance(tables, dict) or not tables:
        collect(problems + ["no [inputs.NAME] table; declare one per raw input"], UsageError, source)
    inputs = []
    for name, table in tables.items():
        where = f"inputs.{name}"
        if not _is_table(table, where, ("dtype", "shape", "layers"), problems):
            continue
        dtype = table.get("dtype", "float32")
        if dtype not in DTYPES:
            problems.append(f"{where}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        shape = table.get("shape", [1])
        if not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape):
            problems.append(f"{where}: shape must be a list of positive integers, e.g. [1]")
            shape = [1]
        inputs.append(InputSpec(name, dtype, tuple(shape), _layers(table, where, problems)))
    crosses = _crosses(data.get("crosses", {}), inputs, problems)
    output = data.get("output", {})
    combine = output.get("combine", "concatenate") if isinstance(output, dict) else None
    if combine not in {c.value for c in Combine}:
        problems.append(f"output.combine {combine!r} must be \"concatenate\" or \"dict\"")
        combine = "concatenate"
    collect(problems, UsageError, source)
    return Spec(tuple(inputs), Combine(combine), source, crosses)


def _is_table(table, where: str, allowed: tuple[str, ...], problems: list[str]) -> bool:
    """Whether ``table`` is a table; notes it when not, and any key outside ``allowed``."""
    if not isinstance(table, dict):
        problems.append(f"{where} must be a table")
        return False
    extra = sorted(set(table) - set(allowed))
    if extra:
        problems.append(f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(allowed)})")
    return True


def _layers(table: dict, where: str, problems: list[str]) -> tuple[LayerSpec, ...]:
    layers = []
    for index, entry in enumerate(table.get("layers", [])):
        if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config", {}), dict):
            problems.append(f"{where}.layers[{index}]: write each layer as {{ class_name = \"...\", config = {{ ... }} }}")
            continue
        layers.append(LayerSpec(entry["class_name"], dict(entry.get("config", {}))))
    return tuple(layers)


def _crosses(tables, inputs: list[InputSpec], problems: list[str]) -> tuple[CrossSpec, ...]:
    """The [crosses.NAME] tables: two or more declared inputs, and at least one layer."""
    if not isinstance(tables, dict):
        problems.append("crosses must be tables [crosses.NAME] with inputs and layers")
        return ()
    shapes = {item.name: item.shape for item in inputs}
    crosses = []
    for name, table in tables.items():
        where = f"crosses.{name}"
        if not _is_table(table, where, ("inputs", "layers"), problems):
            continue
        names = table.get("inputs")
        if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
            problems.append(f"{where}: inputs must list two or more input names, e.g. inputs = [\"city\", \"code\"]")
            continue
        unknown = [n for n in names if n not in shapes]
        if unknown:
            problems.append(f"{where}: no [inputs.{unknown[0]}] table; a cross reads declared inputs ({', '.join(shapes)})")
        if name in shapes:
            problems.append(f"{where}: the name is taken by [inputs.{name}]; give the cross its own name, e.g. {'_X_'.join(names)}")
        if "layers" not in table or not table["layers"]:
            problems.append(f"{where}: no layers; write e.g. layers = [{{ class_name = \"HashedCrossing\", config = {{ num_bins = 64, output_mode = \"one_hot\" }} }}]")
        crosses.append(CrossSpec(name, tuple(names), _layers(table, where, problems)))
    return tuple(crosses)


def instantiate(spec: Spec) -> dict[str, list]:
    """Create every layer of ``spec`` (un-adapted); input (or cross) name -> layers in order.

    Raises:
        UsageError: an unknown layer class or a config Keras rejects, naming the input and layer.
    """
    problems: list[str] = []
    chains: dict[str, list] = {}
    for item in (*spec.inputs, *spec.crosses):
        chains[item.name] = []
        counts: dict[str, int] = {}
        for layer_spec in item.layers:
            counts[layer_spec.class_name] = counts.get(layer_spec.class_name, 0) + 1
        seen: dict[str, int] = {}
        for index, layer_spec in enumerate(item.layers):
            where = f"{'crosses' if isinstance(item, CrossSpec) else 'inputs'}.{item.name} layer {index} ({layer_spec.class_name})"
            seen[layer_spec.class_name] = seen.get(layer_spec.class_name, 0) + 1
            suffix = f"_{seen[layer_spec.class_name]}" if counts[layer_spec.class_name] > 1 else ""
            default_name = f"{item.name}_{snake(layer_spec.class_name)}{suffix}"
            try:
                chains[item.name].append(_make_layer(layer_spec, default_name))
            except UsageError as exc:
                problems.append(f"{where}: {exc}")
    collect(problems, UsageError, spec.source)
    return chains


def layer_class(class_name: str):
    """The Keras layer class called ``class_name`` (built in or registered), or None."""
    import keras

    cls = getattr(keras.layers, class_name, None)
    if cls is None:
        cls = keras.saving.get_registered_object(class_name)
    return cls if isinstance(cls, type) and issubclass(cls, keras.layers.Layer) else None


def _make_layer(layer_spec: LayerSpec, default_name: str) -> Any:
    import keras

    cls = layer_class(layer_spec.class_name)
    if cls is None:
        known = [name for name in dir(keras.layers) if isinstance(getattr(keras.layers, name), type)]
        close = difflib.get_close_matches(layer_spec.class_name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "use a class from keras.layers (or a registered custom layer)"
        raise UsageError(f"unknown Keras layer class {layer_spec.class_name!r}; {hint}")
    config = {"name": default_name, **layer_spec.config}
    _check_numbers(cls, config)
    try:
        try:
            return cls.from_config(config)
        except KeyError:  # some from_config read keys a partial config leaves out (TextVectorization)
            return cls(**config)
    except (TypeError, ValueError, KeyError) as exc:
        text = str(exc)
        bad = _bad_keys(text)
        if bad:
            allowed = _arguments(cls)
            raise UsageError(
                f"config key(s) {', '.join(map(repr, bad))} are not arguments of {cls.__name__}"
                + (f" (its arguments: {', '.join(allowed)})" if allowed else "")
            ) from None
        first = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        raise UsageError(f"Keras rejects this config: {first}") from None


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")
_UNRECOGNIZED = re.compile(r"Unrecognized keyword argument[^{]*(\{.*\})", re.S)


def _bad_keys(text: str) -> list[str]:
    found = _UNEXPECTED.findall(text)
    match = _UNRECOGNIZED.search(text)
    if match:
        found += re.findall(r"'(\w+)'\s*:", match.group(1))
    return list(dict.fromkeys(found))


# Arguments without a numeric default that Keras still reads as numbers (checked with those that have one).
NUMERIC_ARGUMENTS = frozenset({"scale", "offset", "mean", "variance", "height", "width", "num_tokens", "num_bins", "factor"})


def _check_numbers(cls, config: dict) -> None:
    """Refuse a string (or any non-number) where the layer takes a number or a list of numbers, which
    Keras accepts at construction and fails on only later."""
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return
    numeric = {name for name, p in parameters.items() if type(p.default) in (int, float)} | (NUMERIC_ARGUMENTS & set(parameters))
    bad = [key for key in sorted(numeric & set(config)) if not _is_numbers(config[key])]
    if bad:
        raise UsageError(f"config key(s) {', '.join(f'{k} = {config[k]!r}' for k in bad)} of {cls.__name__} must be numbers (or lists of numbers)")


def _is_numbers(value) -> bool:
    if isinstance(value, list | tuple):
        return all(_is_numbers(v) for v in value)
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _arguments(cls) -> list[str]:
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return []
    return [p for p, v in parameters.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)] + ["name", "dtype"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
