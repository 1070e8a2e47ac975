"""Opt-ins that trade a host step for non-builtin device ops, never silently.

``--allow-flex`` (TFLite) puts Hashing, HashedCrossing, TextVectorization and hashed OOV buckets
on the device with Select-TF ("Flex") ops; the artifact then needs a TFLite runtime with the Flex
delegate (manifest ``runtime_requirements: ["tflite-flex"]``). No Python runtime installed here
has one (TensorFlow >= 2.20 and ai-edge-litert ship without it), so such an artifact cannot be
verified and the export stops with that message rather than write an unverified file.

``--onnx-extensions`` (ONNX) would use onnxruntime-extensions' ``ai.onnx.contrib`` string ops
(manifest ``["onnxruntime-extensions"]``). Measured with onnxruntime-extensions 0.15.2: its
``StringToHashBucketFast`` disagrees with TensorFlow's Fingerprint64 buckets (``"zz"``, ``""``,
``"日本"``), so no hashing layer can use it exactly; the layers it covers keep their host steps,
and the plan says why. Runs after the lower phase, before the host split is completed.
"""

from __future__ import annotations

from edgeprep.config import Action, ExportConfig, HostKind, Target
from edgeprep.families.index_lookup.device import lookup
from edgeprep.families.text_vectorization.device import text
from edgeprep.graph import Call, Graph
from edgeprep.transforms.rewrite import Edit, Rewrite

FLEX = {HostKind.HASHING, HostKind.HASHED_CROSSING, HostKind.TEXT_VECTORIZATION, HostKind.INDEX_LOOKUP}


def _device_op(call: Call, kind: HostKind, config: dict):
    """The device layer of a host step's layer in TensorFlow ops (None: the original layer traces as is)."""
    name = f"{call.layer.name}_device"
    if kind is HostKind.INDEX_LOOKUP:
        return lookup(config, call.outputs[0], name=name)
    if kind is HostKind.TEXT_VECTORIZATION:
        return text(config, call.outputs[0], name=name)
    return None  # Hashing, HashedCrossing: Keras' own TensorFlow ops, no lookup table


# kind -> why onnxruntime-extensions cannot take it exactly (empty: none can yet).
EXTENSION_GAPS = {
    HostKind.HASHING: "onnxruntime-extensions' StringToHashBucketFast differs from TensorFlow's FarmHash buckets (measured)",
    HostKind.INDEX_LOOKUP: "onnxruntime-extensions' StringToHashBucketFast differs from TensorFlow's FarmHash buckets (measured)",
    HostKind.HASHED_CROSSING: "onnxruntime-extensions has no cross-hash op",
    HostKind.TEXT_VECTORIZATION: "no onnxruntime-extensions lowering of the whole TextVectorization yet",
}


def apply_opt_ins(graph: Graph, target: Target, config: ExportConfig) -> Rewrite:
    """Move host calls onto the device where the configured opt-in covers them."""
    flex = target is Target.TFLITE and config.allow_flex
    extensions = target is Target.ONNX and config.onnx_extensions
    edits = []
    for call in graph.live_calls() if flex or extensions else ():
        if call.action is not Action.HOST or call.host is None:
            continue
        kind, spec = call.host.kind, call.host.config
        if extensions:
            edits.append(Edit.of(call, detail=call.detail + f"; --onnx-extensions: kept on the host ({EXTENSION_GAPS.get(kind, 'no extension op')})"))
        elif kind in FLEX:
            detail = f"Select-TF ops (--allow-flex) instead of a host step; was: {call.detail}"
            edits.append(Edit.of(call, op=_device_op(call, kind, spec), action=Action.LOWERED, detail=detail, host=None))
    return Rewrite(tuple(edits))
