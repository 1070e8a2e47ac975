"""Translate a tf_keras (Keras 2) model into the same model in Keras 3, layer by layer.

Keras 3 reads Keras 2 configs itself (its legacy deserializer, ``use_legacy_config=True``); the
``tf_keras.layers.experimental.preprocessing`` aliases serialize under their plain class names, so
they land on the Keras 3 classes the rules know. What a Keras 2 config lacks is carried over here:

1. Weights, copied layer by layer by name (nested models too).
2. Preprocessing state held outside weights, written into the Keras 3 config where Keras 3 keeps it
   by the layer's family (``keras2_state`` in `edgeprep.families`): the vocabulary of StringLookup /
   IntegerLookup / TextVectorization (with its special tokens, and the idf weights in ``tf_idf``
   mode), Normalization's mean and variance, Discretization's bin boundaries.
3. A clean-up of what Keras 3 reads only at the top level of a config, or not at all:
   ``batch_input_shape`` stays on InputLayers only (a Sequential without one gets one, as tf_keras
   builds it); a one-element ``axis`` list becomes an int; keys a Keras 3 class does not take are
   dropped where their value changes nothing at inference (`INFERENCE_FREE_KEYS`: ``rng_type``,
   ``time_major=False``, ``groups=1``, initializers / regularizers / constraints, ...), any other
   value is left for Keras 3 to refuse by name; tf_keras' ``build_config`` goes; node indices count
   this model's calls only; tensors in call keyword arguments (``MultiHeadAttention()(q, v)``)
   take Keras 3's form; so do Lambda configs (only under ``--unsafe-load``) and mixed-precision
   policies.
4. Layers whose Keras 3 class computes something else at inference become what tf_keras computes,
   by the layer's family (``keras2_replace``; `edgeprep.families.augmentation`: RandomHeight /
   RandomWidth become ``Identity``, RandomCrop becomes ``Resizing(crop_to_aspect_ratio=True)``).

The translation is never trusted on its own: parity compares every artifact with the tf_keras
model itself (`edgeprep.legacy.runner`).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from edgeprep.errors import LoadError, collect
from edgeprep.families import for_class

ANY = object()
# tf_keras config keys that Keras 3 classes may not take, with the values at which dropping them
# changes nothing at inference (ANY: no value does). Dropped only where the Keras 3 class takes no
# such argument; any other value stays and Keras 3 refuses it by name.
INFERENCE_FREE_KEYS = {
    "rng_type": ANY,  # seeds training-time randomness
    "noise_shape": ANY,  # shape of the dropout mask: training only
    "trainable": ANY,
    "groups": 1,  # 1 = no grouped convolution
    "time_major": False,
    "softmax_robust_masking": False,
    "query_shape": ANY, "key_shape": ANY, "value_shape": ANY,  # build shapes; Keras 3 builds on call
}
TRAINING_ONLY_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


def translate(old, safe: bool = True, custom_objects: dict[str, Any] | None = None):
    """The Keras 3 model equivalent to the tf_keras model ``old``, and notes on what was changed.

    Args:
        old: a tf_keras Functional or Sequential model.
        safe: Keras 3 safe mode while deserializing (refuses lambdas).
        custom_objects: Keras 3 classes for custom layers of the model, by name.

    Raises:
        LoadError: the model is subclassed, a layer has no Keras 3 counterpart, or weights do not fit.
    """
    from keras.src.legacy.saving import json_utils, saving_options, saving_utils
    from keras.src.saving import serialization_lib

    from edgeprep.legacy.source import load_failure

    try:
        config = json.loads(old.to_json())
    except NotImplementedError:
        raise LoadError(
            f"Keras 2 model {old.name!r} is a subclassed model without a config; edgeprep needs a Functional or Sequential "
            "model (or export a signature with tf.saved_model.save and pass that directory)"
        ) from None
    notes: list[str] = []
    _clean(config, old, notes)
    try:
        with saving_options.keras_option_scope(use_legacy_config=True), serialization_lib.SafeModeScope(safe):
            new = saving_utils.model_from_config(json_utils.decode(json.dumps(config)), custom_objects=custom_objects)
    except Exception as exc:  # Keras raises ValueError/TypeError with long messages
        raise load_failure(f"Keras 2 model {old.name!r}", exc, "Keras 3 cannot translate it") from None
    problems: list[str] = []
    _copy_weights(old, new, problems)
    collect(problems, LoadError, f"cannot translate Keras 2 model {old.name!r}")
    return new, tuple(notes)


def _clean(model_config: dict, model, notes: list[str]) -> None:
    """Edit a (nested) model config in place; ``model`` is the tf_keras model it describes."""
    layers = model_config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        return
    if model_config.get("class_name") == "Sequential" and layers and layers[0].get("class_name") != "InputLayer":
        first = layers[0].get("config", {})
        if first.get("batch_input_shape") is not None:
            layers.insert(0, {"class_name": "InputLayer", "config": {
                "batch_input_shape": first["batch_input_shape"], "dtype": first.get("dtype") or "float32", "name": f"{first['name']}_input",
            }})
    _renumber_nodes(model_config["config"])
    for entry in layers:
        entry["inbound_nodes"] = [_node_with_tensor_kwargs(node) for node in entry.get("inbound_nodes", [])]
    for entry in layers:
        cls, config = entry.get("class_name"), entry.get("config", {})
        layer = _get_layer(model, config.get("name"))
        if cls != "InputLayer":
            config.pop("batch_input_shape", None)
        if isinstance(config.get("layers"), list):
            _clean(entry, layer, notes)
            continue
        family = for_class(cls)
        note = family.keras2_replace(entry) if family is not None and family.keras2_replace is not None else None
        if note is not None:
            notes.append(note)
            continue
        if cls == "Lambda":
            _lambda_config(config)
        _legacy_fixes(entry)
        if layer is not None and family is not None and family.keras2_state is not None:
            family.keras2_state(config, layer)


def _lambda_config(config: dict) -> None:
    """A Keras 2 Lambda config in Keras 3's form (what Keras 3 does for a top-level Lambda only).

    Reached only under ``--unsafe-load`` (or for an in-memory model): `edgeprep.legacy.source`
    refuses Lambda layers in files before anything is deserialized.
    """
    from keras.src.legacy.saving.saving_utils import LAMBDA_DEP_ARGS

    for key in LAMBDA_DEP_ARGS:
        config.pop(key, None)
    function = config.get("function")
    if isinstance(function, list):
        code, defaults, closure = function
        config["function"] = {"class_name": "__lambda__", "config": {"code": code, "defaults": defaults, "closure": closure}}


def _renumber_nodes(config: dict) -> None:
    """Number each layer's calls 0, 1, ... in the order of the model's own calls.

    Keras 3 numbers a layer's nodes by its calls in this model only; tf_keras also counts the
    construction node of a nested model revived from a SavedModel (``["augment", 1, 0]``).
    """
    references: list[list] = []

    def collect(node) -> None:
        if isinstance(node, list) and len(node) >= 3 and isinstance(node[0], str) and type(node[1]) is int and type(node[2]) is int:
            references.append(node)
        elif isinstance(node, (list, dict)):
            for value in node.values() if isinstance(node, dict) else node:
                collect(value)

    for entry in config["layers"]:
        collect(entry.get("inbound_nodes", []))
    collect(config.get("input_layers", []))
    collect(config.get("output_layers", []))
    used: dict[str, set[int]] = {}
    for name, index, *_ in references:
        used.setdefault(name, set()).add(index)
    numbering = {name: {old: new for new, old in enumerate(sorted(indices))} for name, indices in used.items()}
    for reference in references:
        reference[1] = numbering[reference[0]][reference[1]]


def _node_with_tensor_kwargs(node):
    """A Keras 2 call ``[[name, node, tensor, kwargs], ...]`` whose kwargs hold tensors, in Keras 3's
    ``{"args", "kwargs"}`` form: Keras 3 resolves tensors there, but passes legacy kwargs through
    as raw lists (``MultiHeadAttention()(query, value)`` would get ``value=["s", 0, 0]``)."""
    def is_reference(value) -> bool:
        return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and type(value[1]) is int and type(value[2]) is int

    def tensor(reference):  # shape and dtype are placeholders: Keras 3 swaps in the real node output
        return {"class_name": "__keras_tensor__", "config": {"shape": [], "dtype": "float32", "keras_history": list(reference)}}

    if not isinstance(node, list) or not node or not all(isinstance(call, list) and len(call) == 4 for call in node):
        return node
    kwargs = node[0][3]
    if not any(is_reference(value) for value in kwargs.values()):
        return node
    inputs = [tensor(call[:3]) for call in node]
    return {
        "args": [inputs[0] if len(inputs) == 1 else inputs],
        "kwargs": {key: tensor(value) if is_reference(value) else value for key, value in kwargs.items()},
    }


def _get_layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:  # the InputLayer a tf_keras Sequential keeps out of .layers
        return None


def _legacy_fixes(entry: dict) -> None:
    """Keras 3's own fixes for Keras 2 configs, which it applies to a top-level object only, applied
    to a layer and the layers it wraps (Bidirectional, TimeDistributed): a one-element ``axis``
    list becomes an int; keys that change nothing at inference go (`_drop_inference_free_keys`),
    and so does tf_keras' ``build_config``."""
    config = entry.get("config")
    if not isinstance(config, dict):
        return
    entry.pop("build_config", None)  # tf_keras' build shapes; Keras 3 builds each layer on its first call
    axis = config.get("axis")
    if isinstance(axis, list) and len(axis) == 1:
        config["axis"] = int(axis[0])
    _drop_inference_free_keys(entry.get("class_name"), config)
    for key in ("layer", "backward_layer", "cell"):
        if isinstance(config.get(key), dict):
            _legacy_fixes(config[key])


def _drop_inference_free_keys(cls: str, config: dict) -> None:
    for key in list(config):
        neutral = ANY if key.endswith(TRAINING_ONLY_SUFFIXES) else INFERENCE_FREE_KEYS.get(key, config)
        if (neutral is ANY or config[key] == neutral) and not _accepts(cls, key):
            config.pop(key)
    if isinstance(config.get("dtype"), dict) and config["dtype"].get("class_name") == "Policy":
        config["dtype"] = config["dtype"]["config"]["name"]  # Keras 2 mixed-precision policy -> its name


def _accepts(cls: str, key: str) -> bool:
    """Whether the Keras 3 class ``cls`` takes the constructor argument ``key`` (unknown classes: yes)."""
    import keras

    target = getattr(keras.layers, cls, None)
    if not isinstance(target, type):
        return True
    parameters = inspect.signature(target.__init__).parameters
    if key in parameters:
        return True
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return takes_kwargs and key in inspect.signature(keras.layers.Layer.__init__).parameters


def _copy_weights(old, new, problems: list[str]) -> None:
    """Copy weights layer by layer by name; preprocessing state went through the config instead."""
    for layer in old.layers:
        target = _get_layer(new, layer.name)
        if target is None:
            problems.append(f"layer {layer.name!r} has no counterpart in the Keras 3 translation")
            continue
        if hasattr(layer, "layers") and hasattr(target, "layers"):
            _copy_weights(layer, target, problems)
            continue
        family = for_class(type(layer).__name__)
        if family is not None and family.keras2_state is not None:
            continue
        weights = layer.get_weights()
        if len(weights) != len(target.weights):
            problems.append(f"layer {layer.name!r} ({type(layer).__name__}) has {len(weights)} weights in Keras 2 and {len(target.weights)} in Keras 3")
            continue
        if weights:
            try:
                target.set_weights(weights)
            except ValueError as exc:
                problems.append(f"layer {layer.name!r}: {str(exc).splitlines()[0][:200]}")
