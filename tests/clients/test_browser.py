"""onnxruntime-web in a real headless Chromium: the golden feeds through run_onnx.mjs, and the
examples/09_browser page driven as a user would (choose an image, type token ids), checked against
Keras and the golden outputs, with a screenshot."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.config import OnnxLayout
from edgeprep.runtime.compare import compare
from feeds import check_outputs, device_feeds, tolerance_of, write_feed
from js_clients import HERE, drive, serve


def test_browser_matches_golden(seed_export, node, chromium, tmp_path):
    write_feed(seed_export, tmp_path / "feed.json")
    mounts = {"/": HERE, "/ort/": serve.ORT_WEB, "/model/": seed_export, "/feed/": tmp_path}
    with serve.serving(mounts) as url:
        report = drive(node, chromium, f"{url}harness.html?model=/model/model.onnx&feed=/feed/feed.json")

    result = report["result"]
    assert result["client"].startswith("onnxruntime-web")
    parity = check_outputs(seed_export, result, result["client"])
    assert parity.passed, parity.summary()


def digit_image() -> np.ndarray:
    """A 28x28 grey "7" in raw pixel values (0..255), as a camera or a PNG delivers them."""
    image = np.zeros((28, 28), np.uint8)
    image[5:8, 6:22] = 255
    for row in range(16):
        image[8 + row, 20 - row // 2:23 - row // 2] = 230
    return image


def assert_screenshot(path) -> None:
    """A PNG of the page that is not blank: many grey levels and text-like contrast."""
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 800 and image.height >= 400
        grey = np.asarray(image.convert("L"), dtype=np.float32)
    assert grey.std() > 10 and len(np.unique(grey)) > 32, "the screenshot is blank"


def shown_values(report: dict) -> dict[str, np.ndarray]:
    result = report["result"]
    return {result["output"]: np.asarray(result["values"], dtype=np.float32)[None]}


@pytest.mark.parametrize("layout", list(OnnxLayout), ids=lambda layout: layout.value)
def test_example_classifies_an_image(layout, onnx_export, node, chromium, tmp_path):
    """The user picks a PNG; the page shows Keras' top class, its outputs within the export's tolerance."""
    from PIL import Image

    model, directory = onnx_export("seed_cnn", onnx_layout=layout)
    pixels = digit_image()
    Image.fromarray(pixels, "L").save(tmp_path / "digit.png")
    screenshot = tmp_path / "page.png"
    with serve.serving(serve.example_mounts(directory)) as url:
        report = drive(node, chromium, url, "--file", f"#image={tmp_path / 'digit.png'}", screenshot=screenshot)

    keras_output = np.asarray(model(pixels.astype(np.float32)[None, :, :, None]))
    result = report["result"]
    assert result["mode"] == "image" and result["dims"] == ([1, 1, 28, 28] if layout is OnnxLayout.NCHW else [1, 28, 28, 1])
    top = int(keras_output.argmax())
    assert result["top"] == top and report["shown"].startswith(f"class {top} "), (report["shown"], keras_output)
    parity = compare("browser example", "keras", {result["output"]: keras_output}, shown_values(report), tolerance_of(directory))
    assert parity.passed, parity.summary()
    assert_screenshot(screenshot)


def test_example_text_model_takes_a_sentence(onnx_export, node, chromium, tmp_path):
    """The seed text model runs whole in the page (issue 16): a typed sentence goes in as UTF-8 bytes."""
    directory = onnx_export("seed_text")[1]
    feeds, golden = device_feeds(directory)
    first = feeds[0]  # the first golden batch holds one sentence, raw (no host steps)
    texts = next(iter(first.values()))
    assert texts.shape[0] == 1 and texts.dtype.kind in "OUS"
    sentence = texts.reshape(-1)[0]
    sentence = sentence.decode("utf-8") if isinstance(sentence, bytes) else str(sentence)
    with serve.serving(serve.example_mounts(directory)) as url:
        report = drive(
            node, chromium, url, "--fill", "#tokens=" + sentence, "--click", "#classify",
            screenshot=tmp_path / "page.png",
        )

    result = report["result"]
    assert result["mode"] == "text" and result["input"] == next(iter(first))
    expected = {name: value[:1] for name, value in golden.items()}
    parity = compare("browser example", "golden", expected, shown_values(report), tolerance_of(directory))
    assert parity.passed, parity.summary()
    top = int(expected[result["output"]].argmax())
    assert result["top"] == top and report["shown"].startswith(f"class {top} "), report["shown"]
    assert_screenshot(tmp_path / "page.png")

