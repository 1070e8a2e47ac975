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
refusal. The rules themselves live with their families (`edgeprep.families`); this module holds
their shared base. `edgeprep.families.HOST_RULES` lists the rules whose layers can run on the host.
"""

from __future__ import annotations

from typing import ClassVar

from edgeprep.config import Action, HostKind, Target
from edgeprep.graph import Call, Graph, HostPlacement
from edgeprep.transforms.base import LayerRule
from edgeprep.transforms.rewrite import Refusal, Rewrite


class LoweringRule(LayerRule):
    """A rule that places a layer on the device (builtin ops) or on the host.

    Subclasses give ``host_kind`` (the host implementation, a `edgeprep.runtime.host.steps.KINDS` key),
    ``config()`` and ``device()``, which returns the lowered layer or None with the reason it must
    run on the host. ``action`` is where the family usually runs (LOWERED, or HOST for the
    hashing and text rules); ``device()`` decides per layer.
    """

    action = Action.LOWERED
    host_kind: ClassVar[HostKind]
    spec: ClassVar[staticmethod]  # layer -> portable config (a family's ``spec``)

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        return Refusal.fatal(sparse_or_ragged(call.layer))

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


def sparse_or_ragged(layer) -> str | None:
    if getattr(layer, "sparse", False) or getattr(getattr(layer, "_lookup_layer", None), "sparse", False):
        return f"{layer.name}: sparse=True outputs a SparseTensor, which neither runtime has; use sparse=False"
    if getattr(layer, "_ragged", False):
        return f"{layer.name}: ragged=True outputs a RaggedTensor, which neither runtime has; set output_sequence_length instead"
    return None
