"""Lower lookup, bucketing, encoding, hashing and text layers to builtin ops, or to the host.

Each rule reads the layer's portable configuration (its family's ``spec``) once and places the layer:

- on the device, as its family's device layer of builtin ops (LOWERED), when the target has a
  builtin way: vocabularies through hash tables or binary search, bins through binary search,
  encodings through ONE_HOT + reductions (the math is in `edgeprep.families`);
- on the host (HOST), when it has none: TensorFlow's FarmHash / SipHash string hashing (Hashing,
  HashedCrossing, hashed OOV buckets) and string splitting / regex punctuation stripping
  (TextVectorization). The host step reproduces the layer exactly (the family's ``host``), and the
  device artifact starts at its output. `edgeprep.transforms.split` completes the split.

``check`` refuses what neither can reproduce (sparse or ragged outputs, custom callables): a fatal
refusal. `HOST_RULES` lists the rules whose layers can run on the host (`place_on_host`).
"""

from __future__ import annotations

from typing import ClassVar

from edgeprep.config import Action, HostKind, Target
from edgeprep.families import category_encoding, discretization, hashed_crossing, hashing, index_lookup, text_vectorization
from edgeprep.families.category_encoding.device import category_encoding as category_encoding_layer
from edgeprep.families.discretization.device import discretize
from edgeprep.families.index_lookup.device import lookup
from edgeprep.graph import Call, Graph, HostPlacement
from edgeprep.transforms.base import LayerRule
from edgeprep.transforms.coverage import Unsupported
from edgeprep.transforms.rewrite import Refusal, Rewrite


class LoweringRule(LayerRule):
    """A rule that places a layer on the device (builtin ops) or on the host.

    Subclasses give ``host_kind`` (the host implementation, a `edgeprep.host.steps.KINDS` key),
    ``config()`` and ``device()``, which returns the lowered layer or None with the reason it must
    run on the host. ``action`` is where the family usually runs (LOWERED, or HOST for the
    hashing and text rules); ``device()`` decides per layer.
    """

    action = Action.LOWERED
    host_kind: ClassVar[HostKind]
    spec: ClassVar[staticmethod]  # layer -> portable config (a family's ``spec``)

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        return Refusal.fatal(_sparse_or_ragged(call.layer))

    def config(self, layer) -> dict:
        return type(self).spec(layer)

    def device(self, call: Call, config: dict, target: Target) -> tuple[object | None, str]:
        raise NotImplementedError

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        config = self.config(call.layer)
        op, detail = self.device(call, config, target)
        if op is None:
            return self.place_on_host(call, detail, config)
        return Rewrite.of(call, op=op, action=Action.LOWERED, detail=detail, rule=self.name)

    def place_on_host(self, call: Call, detail: str, config: dict | None = None) -> Rewrite:
        """Run ``call`` as a host step (its implementation reads ``config``)."""
        placement = HostPlacement(self.host_kind, config if config is not None else self.config(call.layer))
        return Rewrite.on_host(call, placement, detail, self.name)


def _sparse_or_ragged(layer) -> str | None:
    if getattr(layer, "sparse", False) or getattr(getattr(layer, "_lookup_layer", None), "sparse", False):
        return f"{layer.name}: sparse=True outputs a SparseTensor, which neither runtime has; use sparse=False"
    if getattr(layer, "_ragged", False):
        return f"{layer.name}: ragged=True outputs a RaggedTensor, which neither runtime has; set output_sequence_length instead"
    return None


class LowerIndexLookup(LoweringRule):
    """StringLookup / IntegerLookup: table or binary-search lookup, then the encoding."""

    name = "lower-index-lookup"
    classes = ("StringLookup", "IntegerLookup")
    host_kind = HostKind.INDEX_LOOKUP

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        layer = call.layer
        if getattr(layer, "encoding", "utf-8").lower().replace("-", "") != "utf8":
            return Refusal.fatal(f"{layer.name}: encoding={layer.encoding!r}; only UTF-8 strings are supported")
        return Refusal.fatal(_sparse_or_ragged(layer))

    spec = staticmethod(index_lookup.spec)

    def device(self, call, config, target):
        hashed_oov = config["num_oov_indices"] > 1 and (config["key_dtype"] == "string" or config["oov_method"] == "farmhash")
        if hashed_oov and not config["invert"]:
            return None, f"num_oov_indices={config['num_oov_indices']} hashes OOV values with TensorFlow's FarmHash/SipHash: no builtin op, runs on the host"
        vocab = len(config["vocabulary"])
        if config["invert"]:
            how = f"inverse lookup by GATHER over {vocab} tokens"
        elif config["key_dtype"] == "string":
            how = f"hash-table lookup of {vocab} tokens (" + ("HASHTABLE builtins" if target is Target.TFLITE else "ai.onnx.ml CategoryMapper") + ")"
        else:
            how = f"binary search over {vocab} sorted keys"
        if config["output_mode"] != "int":
            how += f", then {config['output_mode']} by ONE_HOT + reduction"
        return lookup(config, call.outputs[0], name=f"{call.layer.name}_lowered"), how


class LowerDiscretization(LoweringRule):
    """Discretization: binary-searched Bucketize, then the encoding."""

    name = "lower-discretization"
    classes = ("Discretization",)
    host_kind = HostKind.DISCRETIZATION

    def check(self, call, graph, target):
        if call.layer.bin_boundaries is None:
            return Refusal.fatal(f"{call.layer.name}: Discretization has no bin boundaries; adapt it or pass bin_boundaries before export")
        return Refusal.fatal(_sparse_or_ragged(call.layer))

    spec = staticmethod(discretization.spec)

    def device(self, call, config, target):
        n = len(config["bin_boundaries"])
        return discretize(config, call.outputs[0], name=f"{call.layer.name}_lowered"), f"binary search over {n} bin boundaries (float32, boundary values go up)"


class LowerCategoryEncoding(LoweringRule):
    """CategoryEncoding: ONE_HOT then MAX / SUM over the sample axis."""

    name = "lower-category-encoding"
    classes = ("CategoryEncoding",)
    host_kind = HostKind.CATEGORY_ENCODING

    spec = staticmethod(category_encoding.spec)

    def device(self, call, config, target):
        return category_encoding_layer(config, call.outputs[0], name=f"{call.layer.name}_lowered"), f"{config['output_mode']} by ONE_HOT + reduction"


class HostHashing(LoweringRule):
    """Hashing: FarmHash Fingerprint64 (SipHash with a salt) of the value's text: host only."""

    name = "host-hashing"
    classes = ("Hashing",)
    action = Action.HOST
    host_kind = HostKind.HASHING

    spec = staticmethod(hashing.spec)

    def device(self, call, config, target):
        what = "SipHash (salted)" if config["salt"] is not None else "FarmHash Fingerprint64"
        return None, f"{what} string hashing has no builtin op; runs on the host"


class HostHashedCrossing(LoweringRule):
    """HashedCrossing: FingerprintCat64 of the features' fingerprints: host only."""

    name = "host-hashed-crossing"
    classes = ("HashedCrossing",)
    action = Action.HOST
    host_kind = HostKind.HASHED_CROSSING

    spec = staticmethod(hashed_crossing.spec)

    def device(self, call, config, target):
        return None, "tf.sparse.cross_hashed (FingerprintCat64 over uint64) has no builtin op; runs on the host"


class HostTextVectorization(LoweringRule):
    """TextVectorization: standardize + split + ngrams + lookup, on the host."""

    name = "host-text-vectorization"
    classes = ("TextVectorization",)
    action = Action.HOST
    host_kind = HostKind.TEXT_VECTORIZATION

    def check(self, call, graph, target):
        layer = call.layer
        if callable(layer._standardize) or callable(layer._split):
            return Refusal.fatal(f"{layer.name}: a custom standardize/split callable cannot be exported; use the built-in options")
        if layer._split is None and layer._ngrams:
            return Refusal.fatal(f"{layer.name}: ngrams without split is not supported; set split='whitespace'")
        if layer._encoding.lower().replace("-", "") != "utf8":
            return Refusal.fatal(f"{layer.name}: encoding={layer._encoding!r}; only UTF-8 strings are supported")
        return Refusal.fatal(_sparse_or_ragged(layer))

    spec = staticmethod(text_vectorization.spec)

    def device(self, call, config, target):
        if config["standardize"] is None and config["split"] is None and config["output_sequence_length"] is None:
            return lookup(config["lookup"], call.outputs[0], name=f"{call.layer.name}_lowered"), "no standardize/split: a vocabulary lookup on the device"
        parts = []
        if config["standardize"] in ("strip_punctuation", "lower_and_strip_punctuation"):
            parts.append("regex punctuation stripping")
        if config["split"] is not None:
            parts.append(f"{config['split']} string splitting")
        if config["standardize"] in ("lower", "lower_and_strip_punctuation") and not parts:
            parts.append("ASCII-only lowercasing")
        reason = " and ".join(parts) or "string tensors"
        return None, f"{reason} has no builtin {target.value} op; runs on the host, device input is the token ids"


# The rules whose layers can run as host steps (`LoweringRule.place_on_host`), looked up by the host split.
HOST_RULES: tuple[LoweringRule, ...] = (
    LowerIndexLookup(), LowerDiscretization(), LowerCategoryEncoding(), HostHashing(), HostHashedCrossing(), HostTextVectorization(),
)

LOWER_RULES: tuple[LayerRule, ...] = HOST_RULES + (Unsupported(),)
