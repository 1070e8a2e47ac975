"""StringLookup and IntegerLookup (Keras ``IndexLookup``): everything edgeprep does with them.

- plan rule: ``LowerIndexLookup`` (below, on `edgeprep.transforms.lower.LoweringRule`): a lookup goes on the device
  (`device`: hash table for strings, binary search for integers, GATHER for ``invert=True``) unless
  its OOV buckets are hashed (``num_oov_indices > 1`` on strings or ``oov_method="farmhash"``),
  which only the host reproduces;
- host step: `host` (NumPy, O(1) dictionary lookups); both read `spec`;
- parity samples: every vocabulary entry, the mask, OOV values, case variants, unicode, ``""``;
- adapt: `analyzer` (token counts, then Keras' ``finalize_state``);
- Keras 2: the vocabulary (and tf-idf weights) a tf_keras lookup keeps outside its config;
- saving: the string vocabularies Keras' ``.keras`` format cannot round-trip (`save_problem`).

TextVectorization's inner lookup uses the same spec, device layer, host code and analyzer.
"""

from __future__ import annotations

import numpy as np

from edgeprep.config import HostKind, Target
from edgeprep.families.base import Family, config_list, plain
from edgeprep.families.index_lookup import device, host
from edgeprep.families.index_lookup.analyzer import LookupAnalyzer
from edgeprep.graph import Call, Graph
from edgeprep.parity.hints import VocabularyHint
from edgeprep.transforms.lower import LoweringRule, sparse_or_ragged
from edgeprep.transforms.rewrite import Refusal


def spec(layer) -> dict:
    """The portable config of a StringLookup / IntegerLookup (and TextVectorization's inner lookup)."""
    mode = layer.output_mode
    vocabulary = plain(layer.get_vocabulary(include_special_tokens=True))
    key_dtype = "string" if layer.vocabulary_dtype == "string" else "int64"
    depth = layer.max_tokens if layer.pad_to_max_tokens else len(vocabulary)
    idf = None
    if mode == "tf_idf":
        idf = [float(v) for v in np.asarray(layer.idf_weights_const).reshape(-1)]
    salt = getattr(layer, "salt", None)
    return {
        "key_dtype": key_dtype,
        "vocabulary": vocabulary,
        "token_start": int(layer._token_start_index()),
        "oov_start": int(layer._oov_start_index()),
        "num_oov_indices": int(layer.num_oov_indices),
        "mask_token": plain([layer.mask_token])[0] if layer.mask_token is not None else None,
        "oov_token": plain([layer.oov_token])[0] if layer.oov_token is not None else None,
        "oov_method": getattr(layer, "oov_method", "floormod"),
        "salt": [int(s) for s in salt] if salt is not None else None,
        "invert": bool(layer.invert),
        "output_mode": mode,
        "depth": int(depth),
        "idf_weights": idf,
        "dtype": ("string" if key_dtype == "string" else "int64") if layer.invert else ("float32" if mode == "tf_idf" else "int64"),
    }


def sample_hint(layer) -> VocabularyHint | None:
    """Vocabulary tokens and the mask (OOV values too, unless ``num_oov_indices=0``, where Keras raises)."""
    if layer.invert:
        return None
    vocab = list(layer.get_vocabulary(include_special_tokens=False))
    specials = [t for t in (layer.mask_token,) if t is not None]
    oov = layer.num_oov_indices > 0
    if type(layer).__name__ == "StringLookup":
        vocab = [v.decode() if isinstance(v, bytes) else str(v) for v in vocab]
        return VocabularyHint(strings=tuple(vocab + [str(t) for t in specials]), oov=oov, sources=(layer.name,))
    return VocabularyHint(ints=tuple(int(v) for v in vocab + specials), oov=oov, sources=(layer.name,))


def save_problem(layer) -> str | None:
    """Why Keras' ``.keras`` format cannot round-trip a string vocabulary (one token per line of
    ``vocabulary.txt``, trailing empty lines dropped on load), or None."""
    if type(layer).__name__ not in ("StringLookup", "TextVectorization"):
        return None
    vocabulary = [str(t) for t in layer.get_vocabulary(include_special_tokens=False)]
    if any("\n" in t or "\r" in t for t in vocabulary):
        return f"{layer.name} learned a token with a line break; Keras saves vocabularies one token per line: strip line breaks from the data"
    if vocabulary and vocabulary[-1] == "":
        return f"{layer.name} learned the empty string as its last token, which Keras drops when it reloads the .keras file; set mask_token = \"\" or fill the empty values"
    return None


def keras2_state(config: dict, layer) -> None:
    """The vocabulary (with its special tokens) and, in ``tf_idf`` mode, the idf weights."""
    vocabulary = layer.get_vocabulary(include_special_tokens=True)
    if vocabulary:
        config["vocabulary"] = config_list(vocabulary)
        if config.get("output_mode") == "tf_idf":
            lookup = getattr(layer, "_lookup_layer", layer)
            config["idf_weights"] = config_list(np.asarray(lookup.idf_weights)[: len(vocabulary)])


class LowerIndexLookup(LoweringRule):
    """StringLookup / IntegerLookup: table or binary-search lookup, then the encoding."""

    name = "lower-index-lookup"
    classes = ("StringLookup", "IntegerLookup")
    host_kind = HostKind.INDEX_LOOKUP

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        layer = call.layer
        if getattr(layer, "encoding", "utf-8").lower().replace("-", "") != "utf8":
            return Refusal.fatal(f"{layer.name}: encoding={layer.encoding!r}; only UTF-8 strings are supported")
        return Refusal.fatal(sparse_or_ragged(layer))

    spec = staticmethod(spec)

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
        return device.lookup(config, call.outputs[0], name=f"{call.layer.name}_lowered"), how


FAMILY = Family(
    name="index_lookup", classes=("StringLookup", "IntegerLookup"), host_kind=HostKind.INDEX_LOOKUP, host=host.run,
    spec=spec, sample_hint=sample_hint, analyzer=LookupAnalyzer,
    input_dtype=lambda layer: "string" if type(layer).__name__ == "StringLookup" else "int64",
    cardinality=lambda layer: layer.vocabulary_size(), keras2_state=keras2_state, save_problem=save_problem, rules=(LowerIndexLookup(),),
)
