"""MediaPipe Tasks run edgeprep's ``--metadata`` artifacts unchanged (issue 20 items 3 and 4).

Each test runs the real mediapipe wheel (ImageClassifier / TextClassifier over its own TFLite
interpreter) and compares with Keras, or pins what MediaPipe does with the inputs edgeprep refuses.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from edgeprep.runtime.compare import Tolerance, compare_output

pytest.importorskip("mediapipe")

LABELS = [f"digit {i}" for i in range(10)]


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def rgb_export(zoo_exports, labels_file):
    """The seed CNN with an RGB input, exported to TFLite with --metadata and --labels."""
    return zoo_exports("seed_cnn", {"channels": 3}, targets=("tflite",), metadata=True, labels=labels_file)


def _pixels(count: int, size: int = 28, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Random uint8 images of the model's input size, with an all-black and an all-white one."""
    images = np.random.default_rng(seed).integers(0, 256, (count, size, size, channels)).astype(np.uint8)
    images[0], images[1] = 0, 255
    return images


def _classifier(path):
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    return vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=-1))


def _classify(classifier, image: np.ndarray, image_format=None) -> tuple[np.ndarray, list[str]]:
    """MediaPipe's scores of one uint8 image, in class order, and the category names."""
    import mediapipe as mp

    result = classifier.classify(mp.Image(image_format=image_format or mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
    categories = result.classifications[0].categories
    scores = np.zeros(len(categories), np.float32)
    names = [""] * len(categories)
    for category in categories:
        scores[category.index], names[category.index] = category.score, category.category_name
    return scores, names


def _close_broken(classifier) -> None:
    """Close a classifier whose graph failed: close() raises the graph's error again and keeps the handle,
    so that ``__del__`` retries at interpreter exit and deadlocks on mediapipe's shut-down executor
    (mediapipe 1.2.3). The handle is dropped (leaked) after the measured failure."""
    with pytest.raises(ValueError, match="sizes do not match"):
        classifier.close()
    classifier._handle = None


@pytest.mark.parametrize("name, model_args, size, fold", [
    ("seed_cnn", {"channels": 3}, 28, True),
    ("seed_cnn", {"channels": 3}, 28, False),  # Rescaling kept in the graph: the same raw pixels in, mean 0, std 1
    ("mobilenet_v3_small", None, 96, True),
])
def test_image_classifier_equals_keras(zoo_exports, labels_file, name, model_args, size, fold):
    exported = zoo_exports(name, model_args, targets=("tflite",), metadata=True, labels=labels_file, **({} if fold else {"fold": False}))
    assert exported.result.passed  # LiteRT runs the file with the metadata and the zipped labels
    images = _pixels(16, size=size)
    expected = np.asarray(exported.model.predict(images.astype(np.float32), verbose=0))
    with _classifier(exported.out_dir / "model.tflite") as classifier:
        got = [_classify(classifier, image) for image in images]
    scores = np.stack([s for s, _ in got])
    assert all(names == LABELS for _, names in got)  # --labels, as TENSOR_AXIS_LABELS
    # edgeprep's pass rule: max |difference| <= 1e-5 of the output's scale (the black and white
    # images drive MobileNet's logits to +-75, where float32 rounding alone is 4e-4), top-1 100%
    comparison = compare_output("scores", expected, scores, Tolerance(min_top1=1.0))
    assert comparison.passed and comparison.top1 == 1.0 and comparison.max_rel <= 1e-5, comparison


def test_metadata_follows_the_schema(rgb_export):
    """Read back with mediapipe's own generated reader of metadata_schema.fbs."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    data = (rgb_export.out_dir / "model.tflite").read_bytes()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    (entry,) = [m for m in model.metadata if m.name == b"TFLITE_METADATA"]
    buffer = bytes(np.asarray(model.buffers[entry.buffer].data, np.uint8))
    assert fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    meta = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(buffer, 0))
    assert meta.name == b"seed_cnn" and meta.minParserVersion == b"1.0.0"
    (subgraph,) = meta.subgraphMetadata
    (image,), (scores,) = subgraph.inputTensorMetadata, subgraph.outputTensorMetadata
    assert image.name == b"image" and scores.name == rgb_export.result.manifest.outputs[0].name.encode()
    properties = image.content.contentProperties
    assert image.content.contentPropertiesType == fb.ContentProperties.ImageProperties
    assert properties.colorSpace == fb.ColorSpaceType.RGB and (properties.defaultSize.width, properties.defaultSize.height) == (28, 28)
    (unit,) = image.processUnits
    assert unit.optionsType == fb.ProcessUnitOptions.NormalizationOptions
    assert list(unit.options.mean) == [0.0] and list(unit.options.std) == [1.0]  # Rescaling folded: raw pixels in
    assert (list(image.stats.min), list(image.stats.max)) == ([0.0], [255.0])
    (labels,) = scores.associatedFiles
    assert labels.name == b"labels.txt" and labels.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("labels.txt").decode().splitlines() == LABELS
    assert rgb_export.result.manifest.artifact("tflite").graph["metadata"]["normalization"] == {"mean": 0.0, "std": 1.0}
    assert rgb_export.result.manifest.config.metadata is True


def test_verify_reruns_the_artifact_with_its_metadata(rgb_export):
    import edgeprep

    assert edgeprep.verify(rgb_export.out_dir).passed  # LiteRT from dist/ alone: the zipped labels do not disturb it


def test_gray8_image_breaks_the_classifier(rgb_export):
    """The issue's trap, pinned: a GRAY8 image fails on an RGB model and leaves that classifier failing (close too);
    the documented way (repeat the gray channel to SRGB) equals Keras on the repeated image."""
    import mediapipe as mp

    gray = _pixels(3, channels=1)[2, :, :, 0]
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    classifier = _classifier(rgb_export.out_dir / "model.tflite")
    with pytest.raises(ValueError, match="sizes do not match"):
        _classify(classifier, gray, mp.ImageFormat.GRAY8)
    with pytest.raises(ValueError, match="Graph has errors"):
        _classify(classifier, rgb)  # the graph stays in error: a valid image fails too
    _close_broken(classifier)
    with _classifier(rgb_export.out_dir / "model.tflite") as fresh:
        scores, _ = _classify(fresh, rgb)
    expected = np.asarray(rgb_export.model.predict(rgb[None].astype(np.float32), verbose=0))[0]
    assert np.abs(scores - expected).max() <= 1e-5


def test_without_metadata_mediapipe_refuses_the_float_model(zoo_exports):
    plain = zoo_exports("seed_cnn", {"channels": 3}, targets=("tflite",))
    with pytest.raises(Exception, match="requires specifying NormalizationOptions metadata"):
        _classifier(plain.out_dir / "model.tflite")


@pytest.mark.parametrize("channels, when, message", [(1, "create", "depth = 3 or 4"), (4, "classify", "sizes do not match")])
def test_mediapipe_takes_three_channels_only(zoo_exports, channels, when, message):
    """Why --metadata refuses 1 and 4 channels: the metadata written by hand, MediaPipe fails anyway."""
    from tensorflow.lite.tools import flatbuffer_utils

    from converters.tflite import metadata, pack

    exported = zoo_exports("seed_cnn", {"channels": channels} if channels != 1 else None, targets=("tflite",))
    model = flatbuffer_utils.read_model_from_bytearray(bytearray((exported.out_dir / "model.tflite").read_bytes()))
    description = metadata.Description("seed_cnn", "test", metadata.ImageInput("image", 28, 28), (metadata.Output("dense", 10),))
    metadata.store(model, metadata.encode(description, normalize=True, probabilities=(False,)))
    path = exported.out_dir.parent / f"by-hand-{channels}.tflite"
    path.write_bytes(pack.serialize(model, share_quantization=False))
    import mediapipe as mp

    if when == "create":
        with pytest.raises(ValueError, match=message):
            _classifier(path)
        return
    classifier = _classifier(path)  # a 4-channel model passes creation, then every image fails
    with pytest.raises(ValueError, match=message):
        _classify(classifier, _pixels(3, channels=4)[2], mp.ImageFormat.SRGBA)
    _close_broken(classifier)


def _export_error(capsys, tmp_path, model_path, *flags) -> str:
    from edgeprep.cli import main

    out = tmp_path / "dist"
    code = main(["export", str(model_path), "--out", str(out), *flags])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # the rest is progress
    assert code == 2 and not out.exists()
    assert len(errors) == 1 and errors[0].startswith("edgeprep: error: ")
    return errors[0]


def test_refusals(zoo_exports, tmp_path, capsys, labels_file):
    gray = zoo_exports.saved("seed_cnn")
    assert "1 channel(s)" in _export_error(capsys, tmp_path, gray, "--target", "tflite", "--metadata")
    assert "1 channel(s)" in _export_error(capsys, tmp_path, gray, "--metadata")  # every target: the same one line, ONNX not converted
    assert "add --metadata" in _export_error(capsys, tmp_path, gray, "--target", "tflite", "--labels", labels_file)
    assert "add --target tflite" in _export_error(capsys, tmp_path, gray, "--target", "onnx", "--metadata")
    assert "not an image" in _export_error(capsys, tmp_path, zoo_exports.saved("seed_text"), "--target", "tflite", "--metadata")


def test_labels_and_integer_io_refusals(zoo_exports, tmp_path):
    import edgeprep
    from edgeprep.errors import UsageError

    model = zoo_exports.model("seed_cnn", channels=3)
    short = tmp_path / "three.txt"
    short.write_text("a\nb\nc\n")
    with pytest.raises(UsageError, match="3 label\\(s\\) for output .* of 10 classes"):
        edgeprep.export(model, tmp_path / "a", targets=["tflite"], metadata=True, labels=str(short))
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as handle:  # sparse: 17 MiB of labels file without writing them
        handle.truncate(17 << 20)
    for hostile in (huge, "/dev/zero"):
        with pytest.raises(UsageError, match="--labels .*: over 16 MiB"):
            edgeprep.export(model, tmp_path / "a", targets=["tflite"], metadata=True, labels=str(hostile))
    with pytest.raises(UsageError, match="int8 .*export without --int8-io"):
        edgeprep.export(model, tmp_path / "b", targets=["tflite"], quantize="int8", int8_io="int8", metadata=True)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_text_classifier_regex_tokenizer_is_not_keras_standardize(zoo_exports, tmp_path):
    """Why --metadata refuses text (docs/UPSTREAM.md): MediaPipe's RegexTokenizer, given the seed text
    model's vocabulary and whitespace as the delimiter, yields Keras' ids on lowercase text without
    punctuation but not otherwise. Measured on an artifact whose scores echo the int32 ids it is fed."""
    import keras
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from tensorflow.lite.tools import flatbuffer_utils

    import edgeprep
    from converters.tflite import metadata, pack

    vectorize = zoo_exports.model("seed_text").get_layer("vectorize")
    vocabulary, length = vectorize.get_vocabulary(), vectorize.get_config()["output_sequence_length"]
    ids = keras.Input((length,), dtype="int32", name="ids")
    echo = keras.layers.Embedding(len(vocabulary), 1, embeddings_initializer=keras.initializers.Constant(np.arange(len(vocabulary))[:, None]))(ids)
    result = edgeprep.export(keras.Model(ids, keras.layers.Reshape((length,), name="echo")(echo)), tmp_path / "echo", targets=["tflite"], batch=1)
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(result.artifacts[edgeprep.Target.TFLITE].read_bytes()))
    assert model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].type == 2  # INT32, as MediaPipe's tokenizer models take
    vocab_file = {0: ("str", "vocab.txt"), 2: ("i8", 5)}  # AssociatedFileType.VOCABULARY
    tokenizer = {0: ("u8", 6), 1: ("table", {0: ("str", r"[ \t\n\r\f\v]+"), 1: ("tables", [vocab_file])})}  # RegexTokenizerOptions
    features = ("table", {0: ("u8", 1), 1: ("table", {})})
    root = {0: ("str", "echo"), 3: ("tables", [{2: ("tables", [{0: ("str", "ids"), 3: features, 4: ("tables", [tokenizer])}]),
                                                3: ("tables", [{0: ("str", "echo"), 3: features}])}]), 7: ("str", "1.2.0")}
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.flatbuffer_table(builder, root), metadata.IDENTIFIER)
    metadata.store(model, bytes(builder.Output()))
    vocab = "<PAD> 0\n<UNKNOWN> 1\n" + "".join(f"{word} {i}\n" for i, word in enumerate(vocabulary) if i >= 2)
    path = tmp_path / "echo-regex.tflite"
    path.write_bytes(metadata.append_associated_files(pack.serialize(model, share_quantization=False), {"vocab.txt": vocab}))

    # Where Keras' default standardize (lower_and_strip_punctuation) and a delimiter regex part: MediaPipe
    # keeps case and the punctuation inside a token; Keras lowers and deletes it ("do.g" -> "dog").
    one, two = vocabulary[2], vocabulary[3]
    plain = [f"{one} {two}", f"  {two}\t{one} \n", ""]
    texts = plain + [f"{one.capitalize()} {two}", f"{one}. {two}!", f"{one[:1]}'{one[1:]} {two}"]
    expected = np.asarray(vectorize(np.array([[t] for t in texts])))
    options = text.TextClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=-1)
    with text.TextClassifier.create_from_options(options) as classifier:
        got = np.zeros((len(texts), length), np.int64)
        for row, sample in enumerate(texts):
            for category in classifier.classify(sample).classifications[0].categories:
                got[row, category.index] = round(category.score)
    assert (got[:len(plain)] == expected[:len(plain)]).all()  # the same ids where standardize changes nothing
    assert all(got[i, 0] == 1 != expected[i, 0] for i in range(len(plain), len(texts)))  # MediaPipe: out of vocabulary


def test_uint8_io_gets_raw_pixels(zoo_exports, labels_file):
    """``--quantize int8 --int8-io uint8``: the input is quantized as scale 1, zero point 0 (calibrated on
    pixels), so MediaPipe's raw pixels are what LiteRT is fed; its scores equal LiteRT's dequantized ones."""
    from ai_edge_litert.interpreter import Interpreter

    exported = zoo_exports("seed_cnn", {"channels": 3}, targets=("tflite",), quantize="int8", int8_io="uint8", metadata=True, labels=labels_file)
    path = exported.out_dir / "model.tflite"
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert source["dtype"] == np.uint8 and source["quantization"] == (1.0, 0)
    images = _pixels(8)
    with _classifier(path) as classifier:
        scores = np.stack([_classify(classifier, image)[0] for image in images])
    expected = []
    for image in images:
        interpreter.set_tensor(source["index"], image[None])
        interpreter.invoke()
        scale, zero = sink["quantization"]
        expected.append((interpreter.get_tensor(sink["index"])[0].astype(np.float32) - zero) * scale)
    assert np.abs(scores - np.stack(expected)).max() <= 1e-6
