"""Preprocessing sources resolved to one form: per-input layer chains, or a Keras model.

Sources: a TOML spec (or its dict), a ``.keras`` file or object holding a
``keras.utils.FeatureSpace``, a preprocessing layer, or a preprocessing model. A FeatureSpace
becomes the Functional model Keras documents (``inputs = fs.get_inputs();
fs.get_encoded_features()``) built from standard layers: each feature's preprocessor, a
``CategoryEncoding(multi_hot)`` for one-hot features, its crosses (``HashedCrossing`` of the
features' preprocessed values, one-hot encoded the same way), and a ``Concatenate`` in sorted feature
order, then sorted cross order. A spec's crosses read raw inputs (`edgeprep.compose.spec`).

Keras gives a text input of per-example shape (1,) through a ``TextVectorization`` with a
multi_hot / count / tf_idf output the symbolic shape (None, 1, V), although the layer returns
(N, V); a ``Reshape((V,))`` after it makes the symbolic shape the real one (a no-op on values).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprep.compose.adapt import LayerToAdapt, find_layers_to_adapt
from edgeprep.compose.sources import Column
from edgeprep.compose.spec import Combine, Spec, instantiate, parse_spec, read_spec, snake
from edgeprep.errors import UsageError, collect


@dataclass
class Chain:
    """One raw input and its layers; ``one_hot`` appends FeatureSpace's one-hot encoder."""

    column: Column
    layers: list = field(default_factory=list)
    one_hot: bool = False


@dataclass
class Cross:
    """A feature cross: ``layers`` called on the list of its inputs' values.

    Attributes:
        inputs: the raw inputs it crosses.
        layers: the layers called in order, the first one on the list of tensors.
        encoded: read each input after its chain's layers (FeatureSpace: the lookup indices), not raw.
        one_hot: append FeatureSpace's one-hot encoder.
    """

    inputs: tuple[str, ...]
    layers: list = field(default_factory=list)
    encoded: bool = False
    one_hot: bool = False


@dataclass
class Preprocessing:
    """A resolved source: ``chains`` (spec, FeatureSpace, layer) or ``model`` (a Keras model)."""

    label: str
    chains: dict[str, Chain] | None = None
    combine: Combine = Combine.CONCATENATE
    model: Any = None
    crosses: dict[str, Cross] = field(default_factory=dict)

    def targets(self) -> list[LayerToAdapt]:
        """Layers that need adapting, each with the stateless layers before it."""
        if self.chains is not None:
            return find_layers_to_adapt([(chain.column, chain.layers) for chain in self.chains.values()])
        return find_layers_to_adapt(_model_chains(self.model, self.label))

    def to_model(self, refresh: bool = False):
        """The preprocessing as a Functional model with one named input per raw input.

        Args:
            refresh: rebuild a given model's graph (after adapting, so output shapes are known).
        """
        if self.chains is None:
            if not refresh:
                return self.model
            from edgeprep.graph import flatten, rebuild

            return rebuild(flatten(self.model), name=self.model.name)
        return _chains_model(self.chains, self.crosses, self.combine, self.label)


def resolve(source: Any, unsafe: bool = False, custom_objects: tuple[str, ...] = ()) -> Preprocessing:
    """Resolve ``source`` (path, spec dict, `Spec`, FeatureSpace, layer or model).

    Raises:
        UsageError / LoadError: an unreadable source or one that is not preprocessing.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".toml":
            return _from_spec(read_spec(path))
        if path.suffix.lower() != ".keras":
            raise UsageError(f"--preprocess {path}: pass a .toml spec or a .keras file (FeatureSpace, layer or model)")
        from edgeprep.load import load_object

        return _from_object(load_object(path, unsafe, custom_objects), str(path))
    if isinstance(source, Spec):
        return _from_spec(source)
    if isinstance(source, dict):
        return _from_spec(parse_spec(source, "preprocessing spec"))
    return _from_object(source, "preprocessing")


def _from_spec(spec: Spec) -> Preprocessing:
    from edgeprep.compose.adapt import needs_state

    layers = instantiate(spec)
    chains = {item.name: Chain(Column(item.name, item.dtype, item.shape), layers[item.name]) for item in spec.inputs}
    crosses = {item.name: Cross(item.inputs, layers[item.name]) for item in spec.crosses}
    stateful = [f"crosses.{name}/{layer.name}" for name, cross in crosses.items() for layer in cross.layers if needs_state(layer)]
    collect([f"{where} needs adapting, which edgeprep build does on input columns only; give its state in the spec" for where in stateful], UsageError, spec.source)
    return Preprocessing(spec.source, chains, spec.combine, crosses=crosses)


def _from_object(obj: Any, label: str) -> Preprocessing:
    import keras

    if isinstance(obj, keras.utils.FeatureSpace):
        return _from_feature_space(obj, label)
    if isinstance(obj, keras.Model):
        from edgeprep.graph import functional_of

        if functional_of(obj) is None:
            raise UsageError(f"{label}: a subclassed model cannot be composed; use a Functional or Sequential model")
        return Preprocessing(label, model=obj)
    if isinstance(obj, keras.layers.Layer):
        from edgeprep.families import for_layer

        kind, family = type(obj).__name__, for_layer(obj)
        dtype = family.input_dtype(obj) if family is not None and family.input_dtype is not None else "float32"
        shape = (1,)
        build = obj.get_build_config() if obj.built else None
        if build and build.get("input_shape"):
            shape = tuple(build["input_shape"][1:])
        name = obj.name  # the raw input takes the layer's name; the layer gets a derived one
        obj.name = f"{name}_{snake(kind)}"
        return Preprocessing(label, {name: Chain(Column(name, dtype, shape), [obj])})
    raise UsageError(f"{label}: expected a FeatureSpace, a preprocessing layer or model, or a .toml spec; received {type(obj).__name__}")


def _from_feature_space(fs, label: str) -> Preprocessing:
    chains = {}
    for name in sorted(fs.features):
        feature = fs.features[name]
        layers = [] if type(feature.preprocessor).__name__ == "TFDIdentity" else [feature.preprocessor]
        chains[name] = Chain(Column(name, feature.dtype, (1,)), layers, feature.output_mode == "one_hot")
    crosses = {
        cross.name: Cross(tuple(cross.feature_names), [fs.crossers[cross.name]], encoded=True, one_hot=cross.output_mode == "one_hot")
        for cross in sorted(fs.crosses, key=lambda c: c.name)
    }
    return Preprocessing(label, chains, Combine.DICT if fs.output_mode == "dict" else Combine.CONCATENATE, crosses=crosses)


def _model_chains(model, label: str) -> list[tuple[Column, list]]:
    """For every stateful layer of ``model``: its raw input and the single-input layers up to it."""
    from edgeprep.families import adapted_classes
    from edgeprep.graph import flatten

    stateful = adapted_classes()
    graph = flatten(model)
    inputs = {id(t): (name, t) for name, t in zip(graph.input_names, graph.inputs)}
    chains, problems = [], []
    for call in graph.live_calls():
        if call.class_name not in stateful:
            continue
        layers, tensor = [call.layer], call.inputs[0] if len(call.inputs) == 1 else None
        while tensor is not None and (producer := graph.producer(tensor)) is not None:
            if len(producer.inputs) != 1:
                tensor = None
                break
            layers.insert(0, producer.layer)
            tensor = producer.inputs[0]
        found = inputs.get(id(graph.resolve(tensor))) if tensor is not None else None
        if found is None:
            problems.append(f"{call.path} does not read one model input through single-input layers; adapt it in Keras")
            continue
        name, raw = found
        dtype = str(raw.dtype)
        chains.append((Column(name, "string" if dtype in ("string", "str") else dtype, tuple(raw.shape[1:])), layers))
    collect(problems, UsageError, label)
    return chains


def _chains_model(chains: dict[str, Chain], crosses: dict[str, Cross], combine: Combine, label: str):
    import keras

    inputs, encoded, outputs, problems = {}, {}, {}, []
    clash = sorted(set(chains) & set(crosses))
    if clash:
        raise UsageError(f"{label}: cross {clash[0]!r} has the name of an input; rename the cross")
    for name, chain in chains.items():
        x = inputs[name] = keras.Input(chain.column.shape, dtype="string" if chain.column.is_string else chain.column.dtype, name=name)
        for layer in chain.layers:
            x = _per_example(layer, x, layer(x))
        encoded[name] = x
        outputs[name] = _one_hot(x, chain.layers[-1], name) if chain.one_hot else x
    for name, cross in crosses.items():
        x = [encoded[n] if cross.encoded else inputs[n] for n in cross.inputs]
        for layer in cross.layers:
            x = layer(x)
        outputs[name] = _one_hot(x, cross.layers[-1], name) if cross.one_hot else x
    if combine is Combine.CONCATENATE:
        ends = {name: (chains[name].layers if name in chains else crosses[name].layers) for name in outputs}
        problems = [_concat_problem(f"{'inputs' if name in chains else 'crosses'}.{name}", x, ends[name][-1] if ends[name] else None) for name, x in outputs.items()]
    collect([p for p in problems if p], UsageError, label)
    if combine is Combine.DICT:
        return keras.Model(inputs, outputs, name="preprocessing")
    values = list(outputs.values())
    output = values[0] if len(values) == 1 else keras.layers.Concatenate(name="concatenate")(values)
    return keras.Model(inputs, output, name="preprocessing")


ENCODED_MODES = ("one_hot", "multi_hot", "count", "tf_idf")


def _per_example(layer, x, y):
    """``y = layer(x)``, with TextVectorization's symbolic (None, 1, V) made the (None, V) it returns."""
    import keras

    mode = layer.get_config().get("output_mode") if type(layer).__name__ == "TextVectorization" else None
    if mode in ENCODED_MODES and len(x.shape) == 2 and x.shape[1] == 1 and len(y.shape) == 3 and y.shape[1] == 1:
        return keras.layers.Reshape((y.shape[-1],), name=f"{layer.name}_rows")(y)
    return y


def _one_hot(x, layer, name: str):
    import keras

    return keras.layers.CategoryEncoding(num_tokens=_cardinality(layer), output_mode="multi_hot", name=f"{name}_one_hot")(x)


def _concat_problem(name: str, x, last) -> str | None:
    """Why ``x`` cannot be concatenated, with advice that changes something (None when it can)."""
    if len(x.shape) == 2 and str(x.dtype).startswith("float"):
        return None
    where = f"{name} ends as {x.dtype} of shape {tuple(x.shape)}, but concatenate needs float features of rank 2"
    mode = last.get_config().get("output_mode") if last is not None else None
    if mode is not None and mode not in ENCODED_MODES:
        kind = type(last).__name__
        modes = "multi_hot / count / tf_idf" if kind == "TextVectorization" else "one_hot / multi_hot"
        return f"{where}; {last.name} ({kind}) has output_mode {mode!r}: use output_mode {modes}, or combine = \"dict\""
    return f"{where}; end it with a layer that gives (N, features) floats (e.g. Flatten or CategoryEncoding), or combine = \"dict\""


def _cardinality(layer) -> int:
    from edgeprep.families import for_layer

    family = for_layer(layer)
    if family is not None and family.cardinality is not None:
        return family.cardinality(layer)
    raise UsageError(f"{layer.name}: a one-hot FeatureSpace feature needs a lookup, Discretization or Hashing preprocessor")
