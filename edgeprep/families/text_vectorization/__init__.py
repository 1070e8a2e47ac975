"""TextVectorization: everything edgeprep does with it.

- plan rule: ``HostTextVectorization`` (below, on `edgeprep.transforms.lower.LoweringRule`): standardize + split +
  ngrams have no single builtin op, so the rule places the layer on the host; by default
  `edgeprep.transforms.in_graph` then puts it in the artifact as `device.utf8_text` (`edgeprep.ingraph.text`
  on the UTF-8 bytes input, builtin ops; issue 16), and ``--host-steps`` keeps the host step (the device
  gets the token ids); with no standardize/split it is its inner lookup on the device
  (`edgeprep.families.index_lookup.device`); ``--allow-flex --host-steps`` puts `device.text` (TensorFlow string ops) there;
- host step: `host` (byte-exact standardize, split, ngrams, then the inner lookup); both read `spec`;
- standardize: a built-in option or a custom callable traced into byte steps (`standardize_spec`,
  `edgeprep.ingraph.standardize`); a callable it cannot lower is refused naming the op and the layer;
- parity samples: sentences of vocabulary words in mixed case with punctuation, unicode words,
  tabs / newlines / non-breaking spaces, and empty strings;
- adapt, Keras 2 and saving: those of its inner lookup (`edgeprep.families.index_lookup`).
"""

from __future__ import annotations

from edgeprep.config import Action, HostKind
from edgeprep.families import index_lookup
from edgeprep.families.base import Family
from edgeprep.families.index_lookup import device as lookup_device
from edgeprep.families.text_vectorization import host
from edgeprep.parity.hints import VocabularyHint
from edgeprep.transforms.lower import LoweringRule, sparse_or_ragged
from edgeprep.transforms.rewrite import Refusal


def spec(layer) -> dict:
    """The portable config: the text options and the inner lookup's spec.

    ``standardize`` is the built-in option's name (or None), or for a callable its traced steps as
    JSON dicts (`edgeprep.ingraph.standardize.trace`; raises `UnsupportedText` naming what it cannot lower).
    """
    lookup = index_lookup.spec(layer._lookup_layer)
    return {
        "standardize": standardize_spec(layer),
        "split": layer._split,
        "ngrams": list(layer._ngrams) if layer._ngrams else None,
        "output_mode": layer._output_mode,
        "output_sequence_length": layer._output_sequence_length,
        "lookup": lookup,
        "dtype": lookup["dtype"],
    }


def standardize_spec(layer):
    """``layer``'s standardize for `spec`: the built-in name, or the traced steps of its callable."""
    if not callable(layer._standardize):
        return layer._standardize
    from edgeprep.ingraph.standardize import trace

    return [step.to_json() for step in trace(layer._standardize, layer.name)]


def sample_hint(layer) -> VocabularyHint:
    """The first 500 vocabulary words, for sentences (`edgeprep.parity.samples.draw_vocabulary`)."""
    words = [w for w in layer.get_vocabulary(include_special_tokens=False) if isinstance(w, str)]
    return VocabularyHint(text_words=tuple(words[:500]), sources=(layer.name,))


class HostTextVectorization(LoweringRule):
    """TextVectorization: standardize + split + ngrams + lookup on the UTF-8 bytes in the artifact (--host-steps: on the host)."""

    name = "host-text-vectorization"
    classes = ("TextVectorization",)
    action = Action.LOWERED  # in the artifact by default (edgeprep.transforms.in_graph); placed on the host here first
    host_kind = HostKind.TEXT_VECTORIZATION

    def check(self, call, graph, target):
        layer = call.layer
        if callable(layer._split):
            return Refusal.fatal(f"{layer.name}: a custom split callable cannot be exported; use the built-in options")
        if callable(layer._standardize):
            from edgeprep.ingraph.text import UnsupportedText

            try:
                standardize_spec(layer)
            except UnsupportedText as error:
                return Refusal.fatal(str(error))
        if layer._split is None and layer._ngrams:
            return Refusal.fatal(f"{layer.name}: ngrams without split is not supported; set split='whitespace'")
        if layer._encoding.lower().replace("-", "") != "utf8":
            return Refusal.fatal(f"{layer.name}: encoding={layer._encoding!r}; only UTF-8 strings are supported")
        return Refusal.fatal(sparse_or_ragged(layer))

    spec = staticmethod(spec)

    def device(self, call, config, target):
        if config["standardize"] is None and config["split"] is None and config["output_sequence_length"] is None:
            return lookup_device.lookup(config["lookup"], call.outputs[0], name=f"{call.layer.name}_lowered"), "no standardize/split: a vocabulary lookup on the device"
        parts = []
        if config["standardize"] in ("strip_punctuation", "lower_and_strip_punctuation"):
            parts.append("regex punctuation stripping")
        if config["split"] is not None:
            parts.append(f"{config['split']} string splitting")
        if config["standardize"] in ("lower", "lower_and_strip_punctuation") and not parts:
            parts.append("ASCII-only lowercasing")
        reason = " and ".join(parts) or "string tensors"
        return None, f"{reason} has no builtin {target.value} op; runs on the host, device input is the token ids"


FAMILY = Family(
    name="text_vectorization", classes=("TextVectorization",), host_kind=HostKind.TEXT_VECTORIZATION, host=host.run,
    spec=spec, sample_hint=sample_hint, analyzer=index_lookup.FAMILY.analyzer, input_dtype=lambda layer: "string",
    keras2_state=index_lookup.keras2_state, save_problem=index_lookup.save_problem, rules=(HostTextVectorization(),),
)
