"""Preprocessing sources resolved to one form: per-input layer chains, or a Keras model.

Sources: a TOML spec (or its dict), a ``.keras`` file or object holding a
``keras.utils.FeatureSpace``, a preprocessing layer, or a preprocessing model. A FeatureSpace
becomes the Functional model Keras documents (``inputs = fs.get_inputs();
fs.get_encoded_features()``) built from standard layers: each feature's preprocessor, a
``CategoryEncoding(multi_hot)`` for one-hot features, and a ``Concatenate`` in sorted feature order.
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
class Preprocessing:
    """A resolved source: ``chains`` (spec, FeatureSpace, layer) or ``model`` (a Keras model)."""

    label: str
    chains: dict[str, Chain] | None = None
    combine: Combine = Combine.CONCATENATE
    model: Any = None

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
        return _chains_model(self.chains, self.combine, self.label)


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
    layers = instantiate(spec)
    chains = {item.name: Chain(Column(item.name, item.dtype, item.shape), layers[item.name]) for item in spec.inputs}
    return Preprocessing(spec.source, chains, spec.combine)


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
    if fs.crosses:
        raise UsageError(f"{label}: FeatureSpace crosses are not supported by edgeprep build yet; build the crosses into the model")
    chains = {}
    for name in sorted(fs.features):
        feature = fs.features[name]
        layers = [] if type(feature.preprocessor).__name__ == "TFDIdentity" else [feature.preprocessor]
        chains[name] = Chain(Column(name, feature.dtype, (1,)), layers, feature.output_mode == "one_hot")
    return Preprocessing(label, chains, Combine.DICT if fs.output_mode == "dict" else Combine.CONCATENATE)


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


def _chains_model(chains: dict[str, Chain], combine: Combine, label: str):
    import keras

    inputs, outputs, problems = {}, {}, []
    for name, chain in chains.items():
        x = inputs[name] = keras.Input(chain.column.shape, dtype="string" if chain.column.is_string else chain.column.dtype, name=name)
        for layer in chain.layers:
            x = layer(x)
        if chain.one_hot:
            x = keras.layers.CategoryEncoding(num_tokens=_cardinality(chain.layers[-1]), output_mode="multi_hot", name=f"{name}_one_hot")(x)
        outputs[name] = x
        if combine is Combine.CONCATENATE and (len(x.shape) != 2 or not str(x.dtype).startswith("float")):
            problems.append(
                f"inputs.{name} ends as {x.dtype} of shape {tuple(x.shape)}, but concatenate needs float features of rank 2; "
                "use output_mode one_hot / multi_hot / tf_idf (and shape = [] for a text input), or combine = \"dict\""
            )
    collect(problems, UsageError, label)
    if combine is Combine.DICT:
        return keras.Model(inputs, outputs, name="preprocessing")
    values = list(outputs.values())
    output = values[0] if len(values) == 1 else keras.layers.Concatenate(name="concatenate")(values)
    return keras.Model(inputs, output, name="preprocessing")


def _cardinality(layer) -> int:
    from edgeprep.families import for_layer

    family = for_layer(layer)
    if family is not None and family.cardinality is not None:
        return family.cardinality(layer)
    raise UsageError(f"{layer.name}: a one-hot FeatureSpace feature needs a lookup, Discretization or Hashing preprocessor")
