"""Bad Keras 2 inputs: code in the config is refused before anything runs, unknown classes name
``--custom-objects``, a missing tf_keras names the extra to install; ``import edgeprep`` stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import cli_in_process, error_lines, tree
from keras2_zoo import FORMATS, save

import edgeprep
from edgeprep.errors import LoadError
from edgeprep.load import load


def _lambda_model(marker: Path):
    """A Keras 2 model whose Lambda writes ``marker`` whenever it runs (also while tf_keras rebuilds it)."""
    import tf_keras

    target = str(marker)
    inputs = tf_keras.Input((3,), name="x")
    doubled = tf_keras.layers.Lambda(lambda t: (open(target, "w").write("ran"), t * 2.0)[1], name="payload")(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2)(doubled), name="with_lambda")


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambda_in_a_keras2_file_is_refused_before_it_runs(fmt, tmp_path):
    marker = tmp_path / "lambda_ran"
    path = save(_lambda_model(marker), tmp_path, fmt)
    marker.unlink()  # building and saving ran the lambda; loading must not
    with pytest.raises(LoadError, match=r"payload.*--unsafe-load"):
        load(path)
    assert not marker.exists()
    loaded = load(path, unsafe=True)  # the payload is real: trusted loading runs it
    assert marker.exists()
    x = np.ones((2, 3), "float32")
    (expected,) = loaded.original_runner().infer({"x": x}).values()
    np.testing.assert_allclose(np.asarray(loaded.model(x)), expected, rtol=1e-6)


def test_cli_refuses_a_keras2_lambda_with_one_line_and_writes_nothing(tmp_path):
    marker = tmp_path / "lambda_ran"
    path = save(_lambda_model(marker), tmp_path, "h5")
    marker.unlink()
    result = cli_in_process("export", path, "--out", tmp_path / "dist")  # a refusal: no TensorFlow start-up
    assert result.returncode == 2
    (line,) = error_lines(result.stderr)
    assert "--unsafe-load" in line and "payload" in line
    assert not marker.exists() and tree(tmp_path / "dist") == []


def test_keras2_lambda_exports_under_unsafe_load(tmp_path):
    path = save(_lambda_model(tmp_path / "lambda_ran"), tmp_path, "h5")
    result = edgeprep.export(path, tmp_path / "dist", unsafe_load=True)
    assert result.passed and all(r is not None and r.passed for r in result.transform_reports.values())


def _custom_model():
    import tf_keras
    from keras2_custom import Affine

    inputs = tf_keras.Input((4,), name="features")
    affine = Affine(name="affine")
    outputs = tf_keras.layers.Dense(2)(affine(inputs))
    model = tf_keras.Model(inputs, outputs, name="custom")
    affine.set_weights([np.array([1.0, 2.0, 0.5, -1.0], "float32"), np.array([0.1, 0.2, 0.3, 0.4], "float32")])
    return model


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_custom_class_names_custom_objects(fmt, tmp_path):
    path = save(_custom_model(), tmp_path, fmt)
    with pytest.raises(LoadError, match=r"'Affine'.*--custom-objects"):
        load(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_class_with_its_keras2_and_keras3_forms_exports(fmt, tmp_path):
    path = save(_custom_model(), tmp_path, fmt)
    result = edgeprep.export(path, tmp_path / "dist", custom_objects=("keras2_custom:Affine", "keras3_custom:Affine"))
    assert result.passed and all(r is not None and r.max_abs <= 1e-6 for r in result.transform_reports.values())


def test_missing_tf_keras_names_the_extra(tmp_path):
    path = save(_custom_model(), tmp_path, "h5")
    code = (
        "import sys; sys.modules['tf_keras'] = None\n"
        "from edgeprep.load import load\nfrom edgeprep.errors import LoadError\n"
        f"try:\n    load({str(path)!r})\nexcept LoadError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "pip install 'edgeprep[legacy]'" in result.stdout, result.stderr[-2000:]


def test_import_edgeprep_and_keras3_loading_do_not_import_tf_keras(tmp_path):
    code = (
        "import sys, keras, edgeprep, edgeprep.cli\n"
        "inputs = keras.Input((2,), name='x'); keras.Model(inputs, keras.layers.Dense(1)(inputs)).save(sys.argv[1])\n"
        "from edgeprep.load import load; load(sys.argv[1])\n"
        "print('tf_keras' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_functions_from_outside_keras_are_flagged_unless_provided():
    import tf_keras

    from edgeprep.legacy.source import file_vocabularies, foreign_functions

    def standardize(config_value):
        return {"class_name": "TextVectorization", "config": {"name": "vectorize", "standardize": config_value}}

    own = {"module": "my_text", "class_name": "function", "config": "clean", "registered_name": "clean"}
    config = {"class_name": "Functional", "config": {"layers": [standardize(own)]}}
    assert foreign_functions(config, {}, tf_keras) == ["my_text.clean (in vectorize)"]
    assert foreign_functions(config, {"clean": str.lower}, tf_keras) == []  # --custom-objects provides it
    keras_own = {"module": "builtins", "class_name": "function", "config": "relu", "registered_name": "relu"}
    python_builtin = {"module": "builtins", "class_name": "function", "config": "print", "registered_name": "print"}
    assert foreign_functions(standardize(keras_own), {}, tf_keras) == []
    assert foreign_functions(standardize(python_builtin), {}, tf_keras) == ["builtins.print (in vectorize)"]
    lookup = {"class_name": "StringLookup", "config": {"name": "lookup", "vocabulary": "/etc/hosts"}}
    assert file_vocabularies({"layers": [lookup]}) == ["lookup: '/etc/hosts'"]
    assert file_vocabularies({"layers": [{**lookup, "config": {"name": "lookup", "vocabulary": ["a", "b"]}}]}) == []
