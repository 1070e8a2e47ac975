"""Limits that keep a hostile model file from running code, touching files or exhausting memory.

Everything here reads the file's bytes and metadata only, before Keras, tf_keras or TensorFlow
deserializes anything: the ops a SavedModel's graphs may use (an allowlist), the sizes of `.keras`
archive members (read from the zip directory, before inflating), and the size and nesting depth of
the JSON configs every model format carries. A file past any of these is refused with a one-line
`LoadError` naming the limit; ``--unsafe-load`` lifts the op allowlist for trusted files only.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from edgeprep.errors import LoadError

MIB = 1 << 20
# A JSON config or metadata member, or an .h5 ``model_config`` attribute, larger than this is refused.
JSON_BYTES_LIMIT = 16 * MIB
# Deeper JSON is refused: Keras configs nest a few levels per nested model; parsers recurse per level.
JSON_DEPTH_LIMIT = 100
# An archive may inflate to at most max(ARCHIVE_INFLATE_FLOOR, ARCHIVE_INFLATE_RATIO x its size on disk).
ARCHIVE_INFLATE_FLOOR = 64 * MIB
ARCHIVE_INFLATE_RATIO = 20

# The ops of Keras inference graphs, found by scanning the SavedModels the test suite and examples
# write (Keras 3 `model.export` of the zoo, tf_keras `save_format="tf"`, bare `tf.Module`s), plus the
# math, control-flow, lookup, string, ragged and sparse ops Keras layers and preprocessing use. None of
# them opens a file, a process or a socket; none runs Python.
SAVED_MODEL_OPS = frozenset(
    # graph plumbing, calls and control flow
    "Placeholder PlaceholderWithDefault Const Identity IdentityN NoOp StopGradient PreventGradient Snapshot "
    "PartitionedCall StatefulPartitionedCall If StatelessIf While StatelessWhile Case StatelessCase "
    "Enter Exit Merge Switch NextIteration LoopCond ControlTrigger Assert CheckNumerics CheckNumericsV2 "
    "EnsureShape OptionalFromValue OptionalNone OptionalHasValue OptionalGetValue IteratorGetNext "
    # variables and their checkpoint restore
    "VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp "
    "DestroyResourceOp DisableCopyOnRead ResourceGather ResourceGatherNd VariableShape VariableV2 Assign "
    "AssignAdd AssignSub IsVariableInitialized RestoreV2 "
    # lookup tables (built from tensors; file initializers are not here)
    "HashTableV2 MutableHashTableV2 MutableDenseHashTableV2 AnonymousHashTable AnonymousMutableHashTable "
    "AnonymousMutableDenseHashTable InitializeTableV2 LookupTableFindV2 LookupTableImportV2 LookupTableInsertV2 "
    "LookupTableExportV2 LookupTableSizeV2 LookupTableRemoveV2 "
    # strings, hashing, ragged and sparse tensors (text and categorical preprocessing)
    "StringLower StringUpper StringStrip StringJoin StringSplit StringSplitV2 StringLength Substr StringNGrams "
    "StaticRegexReplace RegexReplace StaticRegexFullMatch RegexFullMatch StringToHashBucket StringToHashBucketFast "
    "StringToHashBucketStrong StringToNumber AsString ReduceJoin UnicodeDecode UnicodeDecodeWithOffsets "
    "UnicodeEncode UnicodeTranscode UnicodeScript Fingerprint SparseCross SparseCrossHashed SparseCrossV2 "
    "RaggedTensorToTensor RaggedTensorToSparse RaggedTensorFromVariant RaggedTensorToVariant RaggedGather "
    "RaggedRange RaggedBincount SparseToDense SparseReshape SparseTensorDenseMatMul SparseFillEmptyRows "
    "SparseSlice SparseConcat SparseSegmentSum SparseSegmentMean SparseSegmentSqrtN SparseBincount "
    "SparseReduceSum SparseReduceMax DenseBincount Bincount Unique UniqueV2 UniqueWithCounts UniqueWithCountsV2 "
    "Bucketize LowerBound UpperBound "
    # random numbers (augmentation layers, Dropout in traced training branches)
    "StatelessRandomUniformV2 StatelessRandomNormalV2 StatelessRandomUniformIntV2 StatelessRandomUniformFullIntV2 "
    "StatelessTruncatedNormalV2 StatelessRandomGetKeyCounter StatelessRandomGetKeyCounterAlg StatelessRandomGetAlg "
    "StatelessRandomUniform StatelessRandomNormal StatelessRandomUniformInt StatelessTruncatedNormal "
    "StatelessMultinomial RandomUniform RandomUniformInt RandomStandardNormal TruncatedNormal Multinomial "
    "RandomShuffle RngReadAndSkip RngSkip "
    # images, signals, quantization
    "ImageProjectiveTransformV2 ImageProjectiveTransformV3 ResizeBilinear ResizeNearestNeighbor ResizeBicubic "
    "ResizeArea ScaleAndTranslate CropAndResize AdjustContrastv2 AdjustHue AdjustSaturation RGBToHSV HSVToRGB "
    "ExtractImagePatches NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5 RFFT IRFFT RFFT2D IRFFT2D "
    "FFT IFFT FFT2D IFFT2D ComplexAbs Complex Real Imag Angle Conj FakeQuantWithMinMaxArgs FakeQuantWithMinMaxVars "
    "FakeQuantWithMinMaxVarsPerChannel QuantizeAndDequantizeV2 QuantizeAndDequantizeV3 QuantizeAndDequantizeV4 "
    # recurrent layers (tf_keras saves the cuDNN variant of LSTM/GRU beside the generic one)
    "TensorListReserve TensorListFromTensor TensorListGetItem TensorListSetItem TensorListStack TensorListLength "
    "TensorListElementShape TensorListPushBack TensorListPopBack TensorArrayV3 TensorArrayReadV3 "
    "TensorArrayWriteV3 TensorArrayGatherV3 TensorArrayScatterV3 TensorArraySizeV3 TensorArrayCloseV3 "
    "TensorArrayConcatV3 TensorArraySplitV3 CudnnRNN CudnnRNNV2 CudnnRNNV3 CudnnRNNParamsToCanonical "
    "CudnnRNNParamsToCanonicalV2 CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2 "
    # neural-network layers
    "BiasAdd BiasAddV1 MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum Conv2D Conv3D Conv2DBackpropInput "
    "Conv3DBackpropInputV2 DepthwiseConv2dNative DepthwiseConv2dNativeBackpropInput MaxPool MaxPoolV2 MaxPool3D "
    "AvgPool AvgPool3D FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 LRN Relu Relu6 Elu Selu LeakyRelu Softplus "
    "Softsign Sigmoid Tanh Softmax LogSoftmax InTopKV2 TopKV2 L2Loss "
    # element-wise math, reductions, shapes and indexing
    "Abs Acos Acosh Add AddN AddV2 All Any ApproximateEqual ArgMax ArgMin Asin Asinh Atan Atan2 Atanh Bitcast "
    "BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift RightShift BroadcastArgs BroadcastTo Cast Ceil ClipByValue "
    "Concat ConcatV2 ConjugateTranspose Cos Cosh Cumsum Cumprod CumulativeLogsumexp DepthToSpace SpaceToDepth "
    "SpaceToBatchND BatchToSpaceND Diag DiagPart MatrixDiagV3 MatrixDiagPartV3 MatrixBandPart MatrixSetDiagV3 "
    "Div DivNoNan Equal NotEqual Erf Erfc Exp Expm1 ExpandDims Fill Floor FloorDiv FloorMod Gather GatherV2 "
    "GatherNd Greater GreaterEqual Less LessEqual Inv Reciprocal IsFinite IsInf IsNan LinSpace Log Log1p "
    "LogicalAnd LogicalNot LogicalOr Max Maximum Mean Min Minimum Mod Mul MulNoNan Neg OneHot OnesLike ZerosLike "
    "Pack Unpack Pad PadV2 MirrorPad Pow Prod Range Rank RealDiv Reshape ReverseV2 ReverseSequence Rint Round "
    "Rsqrt ScatterNd TensorScatterUpdate TensorScatterAdd Select SelectV2 Shape ShapeN Sign Sin Sinh Size Slice "
    "Split SplitV Sqrt Square SquaredDifference Squeeze StridedSlice Sub Sum Tan Tile Transpose TruncateDiv "
    "TruncateMod Where Xdivy Xlogy Xlog1py SegmentSum SegmentMean SegmentMax SegmentMin UnsortedSegmentSum "
    "UnsortedSegmentMax UnsortedSegmentMin UnsortedSegmentProd EuclideanNorm Lgamma Digamma".split()
)
# Ops that write a checkpoint: allowed only in functions that nothing but the saver's save node reaches
# (they run when a model is saved, which edgeprep never does with a loaded SavedModel).
CHECKPOINT_SAVE_OPS = frozenset({"SaveV2", "MergeV2Checkpoints", "ShardedFilename"})

_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


def parse_json(data: bytes | str, where: str) -> Any:
    """``json.loads(data)`` once ``data`` is within `JSON_BYTES_LIMIT` and `JSON_DEPTH_LIMIT`.

    Raises:
        LoadError: too large, too deep, or not JSON; the message names ``where`` and the limit.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    check_json_size(len(raw), where)
    depth = json_depth(raw)
    if depth > JSON_DEPTH_LIMIT:
        raise LoadError(
            f"{where}: JSON nested {depth} levels deep, over edgeprep's limit of {JSON_DEPTH_LIMIT}; "
            "this is not a config Keras writes: re-save the model"
        )
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise LoadError(f"{where}: not valid JSON ({exc}); re-save the model") from None


def check_json_size(size: int, where: str) -> None:
    """Refuse a JSON member or attribute of ``size`` bytes over `JSON_BYTES_LIMIT`."""
    if size > JSON_BYTES_LIMIT:
        raise LoadError(
            f"{where}: {size:,} bytes of JSON, over edgeprep's limit of {JSON_BYTES_LIMIT // MIB} MiB "
            "for a model config; this is not a config Keras writes: re-save the model"
        )


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text, counted without recursion (strings skipped)."""
    import numpy as np

    codes = np.frombuffer(_JSON_STRING.sub(b"", raw), np.uint8)
    steps = np.zeros(256, np.int8)
    steps[[ord("["), ord("{")]] = 1
    steps[[ord("]"), ord("}")]] = -1
    return int(np.cumsum(steps[codes], dtype=np.int32).max(initial=0))


def check_archive(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip archive whose members would inflate past the limits, from the zip directory alone.

    JSON members (``config.json``, ``metadata.json``) may hold `JSON_BYTES_LIMIT` bytes; all members
    together at most max(`ARCHIVE_INFLATE_FLOOR`, `ARCHIVE_INFLATE_RATIO` x the archive's size).

    Raises:
        LoadError: naming the member, its inflated size and the limit.
    """
    infos = archive.infolist()
    for info in infos:
        if info.filename.endswith(".json"):
            check_json_size(info.file_size, f"{path}: archive member {info.filename}")
    limit = max(ARCHIVE_INFLATE_FLOOR, ARCHIVE_INFLATE_RATIO * path.stat().st_size)
    total = sum(info.file_size for info in infos)
    if total > limit:
        largest = max(infos, key=lambda info: info.file_size)
        raise LoadError(
            f"{path}: the archive would inflate to {total:,} bytes ({largest.filename}: {largest.file_size:,}), over "
            f"edgeprep's limit of {limit:,} (the larger of {ARCHIVE_INFLATE_FLOOR // MIB} MiB and "
            f"{ARCHIVE_INFLATE_RATIO} x the archive's size); this is not an archive Keras writes: re-save the model"
        )


def read_archive_json(path: Path, member: str) -> Any:
    """A JSON member of a zip archive, read after `check_archive` and parsed by `parse_json`.

    Raises:
        LoadError: a limit is exceeded.
        KeyError: no such member.
        zipfile.BadZipFile, OSError: the archive is unreadable.
    """
    with zipfile.ZipFile(path) as archive:
        check_archive(path, archive)
        data = archive.read(member)
    return parse_json(data, f"{path}: archive member {member}")


def h5_attribute(path: Path, name: str) -> str | None:
    """A string attribute of an HDF5 file's root, refused past `JSON_BYTES_LIMIT` before it is read.

    Returns:
        The attribute as text, or None when the file or the attribute cannot be read.
    """
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            if name not in handle.attrs:
                return None
            check_json_size(handle.attrs.get_id(name).get_storage_size(), f"{path}: attribute {name}")
            value = handle.attrs.get(name)
    except (OSError, ImportError):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if value is None:
        return None
    check_json_size(len(str(value)), f"{path}: attribute {name}")  # a variable-length string's storage is a pointer
    return str(value)


def check_saved_model_ops(path: Path) -> None:
    """Refuse a SavedModel whose graphs use an op outside `SAVED_MODEL_OPS`, before TensorFlow restores it.

    Every graph node and every library function is checked: those the saver's save node alone reaches
    may also write their checkpoint (`CHECKPOINT_SAVE_OPS`); any function reachable from anything else
    (another node, the object graph's concrete functions, signatures, initializers, the restore op)
    gets the allowlist alone, and so does one that nothing reaches.

    Raises:
        LoadError: naming the op, the function (or node) and ``--unsafe-load``.
    """
    refused = saved_model_refusals(path)
    if refused:
        op, where = refused[0]
        more = f" (and {len(refused) - 1} more: {', '.join(sorted({op for op, _ in refused[1:]}))})" if len(refused) > 1 else ""
        raise LoadError(
            f"{path}: the SavedModel's {where} uses the op {op}{more}, which is not an op of a Keras inference graph "
            "(it may touch files, processes or the network, or run Python); if you trust the file, pass --unsafe-load"
        )


def saved_model_refusals(path: Path) -> list[tuple[str, str]]:
    """``(op, "function 'name'" or "graph node 'name'")`` for each op `check_saved_model_ops` refuses, sorted."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as exc:  # protobuf's DecodeError, OSError
        raise LoadError(f"{path}: saved_model.pb is unreadable ({exc}); re-export the SavedModel") from None
    refused: set[tuple[str, str]] = set()
    for meta in saved.meta_graphs:
        functions = {f.signature.name: f for f in meta.graph_def.library.function}
        calls = {name: _called(f.node_def, functions) for name, f in functions.items()}
        save_node = meta.saver_def.save_tensor_name.split(":")[0]
        others = [node for node in meta.graph_def.node if node.name != save_node]
        saver = [node for node in meta.graph_def.node if node.name == save_node]
        from_saver = _reachable(_called(saver, functions), calls)
        roots = _called(others, functions) | _object_graph_functions(meta) | (set(functions) - from_saver)
        strict = _reachable(roots, calls)
        for node in meta.graph_def.node:
            if node.op not in SAVED_MODEL_OPS and node.op not in functions:
                refused.add((node.op, f"graph node {node.name!r}"))
        for name, function in functions.items():
            allowed = SAVED_MODEL_OPS if name in strict else SAVED_MODEL_OPS | CHECKPOINT_SAVE_OPS
            for node in function.node_def:
                if node.op not in allowed and node.op not in functions:
                    refused.add((node.op, f"function {name!r}"))
    return sorted(refused)


def _object_graph_functions(meta) -> set[str]:
    """Every function the object graph names: TensorFlow's loader may call any of them (initializers too)."""
    graph = meta.object_graph_def
    names = set(graph.concrete_functions)
    for node in graph.nodes:
        names.update(node.function.concrete_functions)
        if node.HasField("bare_concrete_function"):
            names.add(node.bare_concrete_function.concrete_function_name)
    return names


def _called(nodes, functions) -> set[str]:
    """Names of the functions that ``nodes`` call: through function-valued attributes or as their op."""
    names = set()
    for node in nodes:
        if node.op in functions:
            names.add(node.op)
        for value in node.attr.values():
            names |= _functions_in(value)
    return names


def _functions_in(value) -> set[str]:
    """Function names in an attribute value, including those nested in a function's own attributes."""
    found = set()
    for func in ([value.func] if value.HasField("func") else []) + list(value.list.func):
        found.add(func.name)
        for inner in func.attr.values():
            found |= _functions_in(inner)
    return found


def _reachable(start: set[str], calls: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [name for name in start if name in calls]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(callee for callee in calls[name] if callee in calls)
    return seen
