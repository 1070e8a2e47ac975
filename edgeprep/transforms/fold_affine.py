"""The fold engine: merge chains of affine preprocessing layers, then fold the map where exact.

A chain is a run of affine layers (Rescaling, Normalization, inverted Normalization), each the
only consumer of the previous one's output. Its maps compose in float64 into one `AffineMap`
``z = s * (x + a) + r`` (``a``: the head Normalization's exact ``-mean``, else 0; total offset
``o = s*a + r``), which is then, in this order of preference (a chain holding an inverted
Normalization tries backward first):

1. FULL: folded forward into every consumer (`fold_linear`): ``s`` into the kernel, ``o`` into
   the bias. A consumer may be a Concatenate whose output feeds one linear layer: the chain's
   block of that layer's input channels takes the map, the other blocks the identity
   (``W[block] * s``, bias ``b + o . W[block]``), so per-feature Normalizations fold one by one
   (not under int8, `int8_activations`: a quantized Concatenate has one scale for all its inputs, and
   a raw block's range would round the other blocks' one-hots to zero). Needs no zero padding between chain and kernel (``padding="same"``, ZeroPadding
   layers: a zero padded in normalised space is not a zero in raw space) and a small anchor:
   ``|s*a| <= MAX_FOLDED_SHIFT``. (The original subtracts the mean first, exactly; a folded bias
   carries ``s*a`` and loses ``eps * |s*a|`` to cancellation.)
2. SCALE: ``s`` folds into every consumer and ONE elementwise add stays before them:
   - no padding, large anchor: keep ``x + a`` (the original's own subtraction, bit for bit) and
     fold ``s`` and ``r`` into the consumer;
   - padding, small anchor: keep ``x + o/s`` (a per-channel scale commutes with zero padding);
   - padding, large anchor, ``r = 0``: keep ``x + a``.
3. BACKWARD: into the producing linear layer (no activation) whose output feeds only the chain:
   ``s * (W.x + b) + o = (W*s).x + (b*s + o)`` (same anchor bound as FULL).
4. FUSED: nothing folds (a non-linear consumer, a model output, a map varying along a
   non-channel axis): the chain becomes ONE elementwise affine layer (`edgeprep.layers.affine`,
   at most ``(x + a) * s + r``, usually ``x*s + o`` or ``(x + c) * s``). A lone layer stays as it is.

float16 safety (no overflow for raw inputs in 0..255 or 0..65535): a fold never creates a value
larger than one the original already holds.
- Folded constants (kernels, biases, BatchNormalization statistics) are computed in float64 and
  rounded once; a fold is refused if any would exceed float16's range (65504) where the original
  layer's weights did not.
- A kept add ``x + c`` is used only when, over the raw range the chain's first layer reads
  (``[0, 1/|scale|]`` for Rescaling, ``mean +- 6 std`` for Normalization, as parity samples
  assume), ``|x + c|`` stays within the larger of ``|x|`` and ``|z|``, the input and output the
  original computes anyway.
- Inside a folded layer each product is ``W * (s x)``: for a Rescaling head ``s x`` is the value
  the original computes first anyway; for a Normalization head ``|s x| <= |z| + |s a| + |r|``
  with ``|s a| <= MAX_FOLDED_SHIFT`` (else the subtraction stays, as in 2).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from edgeprep import layers
from edgeprep.config import Action, Target
from edgeprep.graph import Call, Graph
from edgeprep.transforms.base import LayerRule, Phase, current_layer, keras_class_name
from edgeprep.transforms.fold_linear import absorber_of
from edgeprep.transforms.fold_map import AffineMap
from edgeprep.transforms.rewrite import Edit, Refusal, Rewrite

MAX_FOLDED_SHIFT = 16.0
FLOAT16_MAX = 65504.0
ZERO_PADDING = ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")

# Set while a plan for int8 artifacts is made (`int8_activations`): no fold into a Concatenate block.
_INT8 = contextvars.ContextVar("edgeprep_fold_int8", default=False)


@contextlib.contextmanager
def int8_activations(on: bool):
    """Plan for int8 activations while inside (`edgeprep.plan.make_plan` under ``--quantize int8``)."""
    token = _INT8.set(on)
    try:
        yield
    finally:
        _INT8.reset(token)


class Kind(enum.Enum):
    FULL = "full"
    SCALE = "scale"
    BACKWARD = "backward"
    FUSED = "fused"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    """What to do with one chain.

    Attributes:
        kind: the outcome.
        chain: the chain's calls, head first.
        targets: (call, new layer) for every layer that absorbs the map.
        keep: ``(pre, scale, post)`` of the one elementwise op kept in the chain's place, or None.
        reason: why part of the map stays (or, for NONE, why nothing folds).
    """

    kind: Kind
    chain: tuple[Call, ...]
    targets: tuple[tuple[Call, object], ...] = ()
    keep: tuple | None = None
    reason: str = ""


class AffineRule(LayerRule):
    """A rule for one affine preprocessing family; the shared engine does the folding."""

    action = Action.FOLDED
    phase = Phase.FOLD
    prefer_backward: ClassVar[bool] = False

    @abstractmethod
    def affine(self, layer, rank: int) -> AffineMap | None:
        """The layer's map for an input of ``rank``, or None if it cannot be read exactly."""

    @abstractmethod
    def raw_range(self, layer, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw input range the layer expects (what parity samples draw), per element."""

    @abstractmethod
    def peers(self) -> tuple[AffineRule, ...]:
        """The affine rules whose layers a chain may combine with this one's (its family's fold rules)."""

    def check(self, call: Call, graph: Graph, target: Target) -> Refusal | None:
        """A note when nothing folds: the layer is then exported as it is."""
        decision = decide(call, graph, self)
        return Refusal.note(decision.reason) if decision.kind is Kind.NONE else None

    def rewrite(self, call: Call, graph: Graph, target: Target) -> Rewrite:
        return rewrite_of(decide(call, graph, self), self.name)


def _rule_of(call: Call, peers: tuple[AffineRule, ...]) -> AffineRule | None:
    return next((rule for rule in peers if rule.matches(call)), None)


def _map_of(call: Call, peers: tuple[AffineRule, ...]) -> AffineMap | None:
    rule = _rule_of(call, peers)
    if rule is None or call.passthrough or call.op is not None or call.action is not Action.KEPT or len(call.inputs) != 1:
        return None
    policy = getattr(call.layer, "dtype_policy", None)
    if policy is not None and policy.compute_dtype != "float32":
        return None
    return rule.affine(call.layer, len(call.inputs[0].shape))


def collect_chain(head: Call, graph: Graph, peers: tuple[AffineRule, ...]) -> tuple[list[Call], AffineMap | None]:
    """The chain starting at ``head`` (layers of ``peers``) and its composed map (None if ``head`` has no exact map)."""
    affine = _map_of(head, peers)
    chain = [head]
    while affine is not None:
        output = chain[-1].outputs[0]
        consumers = graph.consumers(output)
        if graph.is_output(output) or len(consumers) != 1:
            break
        following = _map_of(consumers[0], peers)
        if following is None or following.scale.ndim != affine.scale.ndim:
            break
        affine = affine.then(following)
        chain.append(consumers[0])
    return chain, affine


def decide(head: Call, graph: Graph, rule: AffineRule) -> Decision:
    """Choose FULL / SCALE / BACKWARD / FUSED / NONE for the chain starting at ``head`` (``rule``'s layer)."""
    peers = rule.peers()
    chain, affine = collect_chain(head, graph, peers)
    if affine is None:
        return Decision(Kind.NONE, tuple(chain), reason="not folded: its map cannot be read exactly")
    attempts = [_forward, _backward]
    if any(_rule_of(call, peers).prefer_backward for call in chain):
        attempts.reverse()
    reasons = []
    for attempt in attempts:
        result = attempt(chain, affine, graph, rule)
        if isinstance(result, Decision):
            return result
        reasons.append(result)
    why = "; ".join(reasons)
    if len(chain) == 1:
        return Decision(Kind.NONE, tuple(chain), reason=f"not folded: {why}")
    return Decision(Kind.FUSED, tuple(chain), keep=_fused_form(chain, affine, rule), reason=why)


def _forward(chain: list[Call], affine: AffineMap, graph: Graph, rule: AffineRule) -> Decision | str:
    output = chain[-1].outputs[0]
    if graph.is_output(output):
        return "its output is a model output"
    targets, padded = [], False
    for consumer in graph.consumers(output):
        block = None
        if keras_class_name(consumer.layer) == "Concatenate" and consumer.op is None:
            block = _concatenated_block(consumer, output, graph)
            if isinstance(block, str):
                return block
            consumer = graph.consumers(consumer.outputs[0])[0]
        while keras_class_name(consumer.layer) in ZERO_PADDING and consumer.op is None:
            following = graph.consumers(consumer.outputs[0])
            if graph.is_output(consumer.outputs[0]) or len(following) != 1:
                return f"{consumer.path} feeds several layers"
            padded, consumer = True, following[0]
        layer = current_layer(consumer)
        absorber = absorber_of(layer)
        if absorber is None or len(consumer.inputs) != 1:
            return f"{consumer.path} ({type(layer).__name__}) is not a linear layer that can absorb it"
        problem = absorber.problem(layer)
        if problem:
            return problem
        shape = consumer.inputs[0].shape
        axis = absorber.in_axis(layer, len(shape))
        vectors = affine.along(axis, shape[axis] or 0) if block is None else _embedded(affine, axis, shape, block)
        if vectors is None:
            return f"the map varies along axes other than {consumer.path}'s channel axis"
        padded = padded or absorber.pads_with_zeros(layer)
        targets.append((consumer, layer, absorber, vectors))
    names = ", ".join(consumer.path for consumer, *_ in targets)
    precise = affine.anchor_weight <= MAX_FOLDED_SHIFT
    if not padded:
        offset, pre = ("total", None) if precise else ("residual", affine.anchor)
        why = "" if precise else f"the mean ({affine.anchor_weight:.3g} std from 0) stays an exact subtraction, as in the original"
    elif not np.any(affine.total_offset):
        offset, pre, why = None, None, ""
    elif precise and affine.raw_shift() is not None:
        offset, pre, why = None, affine.raw_shift(), f"{names} pads with zeros, which are not zeros in raw space"
    elif not np.any(affine.offset):
        offset, pre, why = None, affine.anchor, f"{names} pads with zeros, which are not zeros in raw space"
    else:
        return f"{names} pads with zeros and the shift cannot stay as one exact add"
    if pre is not None and not _add_is_safe(chain, affine, pre, rule):
        return f"the shift cannot go first within the raw range (float16 safety); {why}"
    built = _build(targets, graph, offset, backward=False)
    if isinstance(built, str):
        return built
    if pre is None:
        return Decision(Kind.FULL, tuple(chain), built)
    return Decision(Kind.SCALE, tuple(chain), built, keep=(pre, None, None), reason=why)


def _concatenated_block(concat: Call, output, graph: Graph) -> tuple[int, int, int] | str:
    """``(axis, start, width)`` of ``output`` inside the Concatenate ``concat`` that reads it, whose
    output must feed one layer only (that layer then absorbs the map on those channels), or why not."""
    if _INT8.get():  # measured (micro_tabular): raw area beside one-hots in one int8 scale, SQNR 5.1 dB
        return f"{concat.path} (Concatenate) is quantized with one int8 scale, which the raw range would take from its other inputs"
    rank = len(output.shape)
    axis = concat.layer.axis % rank
    positions = [i for i, t in enumerate(concat.inputs) if graph.resolve(t) is graph.resolve(output)]
    sizes = [t.shape[axis] for t in concat.inputs]
    if len(positions) != 1 or any(size is None for size in sizes[: positions[0] + 1]):
        return f"{concat.path} reads it more than once or along a dynamic axis"
    following = graph.consumers(concat.outputs[0])
    if graph.is_output(concat.outputs[0]) or len(following) != 1:
        return f"{concat.path} (Concatenate) feeds several layers or is a model output"
    return axis, sum(sizes[: positions[0]]), sizes[positions[0]]


def _embedded(affine: AffineMap, axis: int, shape, block: tuple[int, int, int]) -> AffineMap | None:
    """The map of one concatenated block as vectors over all of the absorber's input channels
    (identity on the other blocks), or None if it does not lie along the absorber's channel axis."""
    block_axis, start, width = block
    part = affine.along(axis, width) if axis == block_axis and shape[axis] else None
    if part is None:
        return None
    whole = [np.zeros(shape[axis]) for _ in range(3)]
    whole[0][:] = 1.0
    for full, piece in zip(whole, (part.scale, part.offset, part.anchor)):
        full[start:start + width] = piece
    return AffineMap(*whole)


def _backward(chain: list[Call], affine: AffineMap, graph: Graph, rule: AffineRule) -> Decision | str:
    producer = graph.producer(chain[0].inputs[0])
    if producer is None:
        return "no layer produces its input"
    layer = current_layer(producer)
    absorber = absorber_of(layer)
    if absorber is None or not absorber.backward_supported or len(producer.outputs) != 1:
        return f"{producer.path} ({type(layer).__name__}) cannot take it backward"
    if graph.is_output(producer.outputs[0]) or len(graph.consumers(producer.outputs[0])) != 1:
        return f"{producer.path}'s output is also used elsewhere"
    problem = absorber.problem(layer) or (None if absorber.is_linear(layer) else f"{producer.path} has an activation")
    if problem:
        return problem
    if affine.anchor_weight > MAX_FOLDED_SHIFT:
        return "its mean would cost precision in a bias"
    shape = producer.outputs[0].shape
    axis = absorber.out_axis(layer, len(shape))
    vectors = affine.along(axis, shape[axis] or 0)
    if vectors is None:
        return f"the map varies along axes other than {producer.path}'s output channels"
    built = _build([(producer, layer, absorber, vectors)], graph, "total", backward=True)
    return built if isinstance(built, str) else Decision(Kind.BACKWARD, tuple(chain), built)


def _fused_form(chain: list[Call], affine: AffineMap, head_rule: AffineRule) -> tuple:
    """The one op a chain becomes when nothing folds, in the order the original computes it."""
    if affine.anchor_weight > MAX_FOLDED_SHIFT:
        return affine.anchor, affine.scale, affine.offset
    shift = affine.raw_shift()
    if head_rule.name == "fold-normalization" and shift is not None and _add_is_safe(chain, affine, shift, head_rule):
        return shift, affine.scale, None
    return None, affine.scale, affine.total_offset


def _build(targets, graph: Graph, offset: str | None, backward: bool) -> tuple[tuple[Call, object], ...] | str:
    """New layers for ``targets``; ``offset`` is "total", "residual" or None (scale only)."""
    built = []
    for call, layer, absorber, vectors in targets:
        shared = sum(other.layer is call.layer for other in graph.calls) > 1
        name = _name(call, "folded") if shared else call.layer.name  # the original's name: it leaves the model
        shape = tuple(call.inputs[0].shape)
        shift = {"total": vectors.total_offset, "residual": vectors.offset, None: None}[offset]
        if backward:
            new = absorber.backward(layer, vectors.scale, shift, name, shape)
        else:
            new = absorber.forward(layer, vectors.scale, shift, name, shape)
        if isinstance(new, str):
            return new
        if not _float16_safe(new, layer):
            return f"folding into {call.path} would write weights beyond float16's range"
        built.append((call, new))
    return tuple(built)


def _float16_safe(new, old) -> bool:
    def peak(layer) -> float:
        return max((float(np.max(np.abs(w))) for w in layer.get_weights() if np.size(w)), default=0.0)

    new_peak = peak(new)
    return bool(np.isfinite(new_peak)) and new_peak <= max(FLOAT16_MAX, peak(old))


def _add_is_safe(chain: list[Call], affine: AffineMap, add: np.ndarray, head_rule: AffineRule) -> bool:
    """Whether ``|x + add|`` stays within ``max(|x|, |z|)`` over the head's raw range."""
    low, high = head_rule.raw_range(chain[0].layer, affine.scale.ndim)
    ends = [np.broadcast_to(end, np.broadcast_shapes(np.shape(end), affine.scale.shape)) for end in (low, high)]
    bound = max(max(np.max(np.abs(end)), np.max(np.abs(affine.apply(end)))) for end in ends)
    return max(np.max(np.abs(end + add)) for end in ends) <= bound * (1 + 1e-6)


def _name(call: Call, suffix: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", call.path) + f"_{suffix}"


def _details(decision: Decision) -> tuple[str, str]:
    """(detail for the chain's layers, note for the layers that absorbed it)."""
    label = "+".join(call.layer.name for call in decision.chain)
    into = ", ".join(call.path for call, _ in decision.targets)
    if decision.kind is Kind.FULL:
        return f"folded into {into} (kernel scaled, shift into the bias); nothing kept", f"absorbed {label}"
    if decision.kind is Kind.SCALE:
        return f"scale folded into {into}; kept one elementwise add x + c before it ({decision.reason})", f"absorbed the scale of {label}"
    if decision.kind is Kind.BACKWARD:
        return f"folded backward into {into} (kernel and bias scaled, offset into the bias); nothing kept", f"absorbed {label} on its output"
    pre, scale, post = decision.keep
    form = "".join(("(x + a)" if pre is not None else "x", " * s" if scale is not None else "", " + o" if post is not None else ""))
    return f"merged {len(decision.chain)} layers into one elementwise op {form}; not folded: {decision.reason}", ""


def rewrite_of(decision: Decision, rule: str) -> Rewrite:
    """The edits ``decision`` makes, with an action and detail on every call it touches."""
    chain, head = decision.chain, decision.chain[0]
    detail, note = _details(decision)
    edits = [Edit.of(call, op=new, detail="; ".join(part for part in (call.detail, note) if part)) for call, new in decision.targets]
    keep = None
    if decision.keep is not None:
        keep = layers.affine(*decision.keep, name=_name(head, "affine"), input_shape=tuple(head.inputs[0].shape))
    elif str(head.inputs[0].dtype) != "float32":
        keep = layers.cast("float32", name=_name(head, "cast"))
        detail += f"; kept its cast {head.inputs[0].dtype} -> float32"
    for index, call in enumerate(chain):
        if index == 0 and keep is not None:
            edits.append(Edit.of(call, op=keep, kwargs={}, action=Action.FOLDED, detail=detail, rule=rule))
        else:
            edits.extend(Rewrite.passthrough(call, Action.FOLDED, detail, rule).edits)
    return Rewrite(tuple(edits))
