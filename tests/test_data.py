"""User data sources for --data: every format streams named batches that fit the model's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgeprep.data import open_data
from edgeprep.errors import DataError
from edgeprep.specs import TensorSpec

TABULAR = [TensorSpec("age", "float32", (None, 1)), TensorSpec("income", "float32", (None, 3)), TensorSpec("city", "string", (None, 1))]


def _rows(source, size):
    return [len(batch["age"]) for batch in source.batches(size)]


def test_csv_with_per_feature_columns_streams_in_batches(tmp_path):
    path = tmp_path / "rows.csv"
    lines = ["age,income_0,income_1,income_2,city,ignored"] + [f"{20 + i},{i}.5,2,3,Köln {i},x" for i in range(10)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = open_data(path, TABULAR)
    assert _rows(source, 4) == [4, 4, 2]
    batch = next(source.batches(3))
    assert batch["age"].shape == (3, 1) and batch["age"].dtype == np.float32
    np.testing.assert_array_equal(batch["income"][1], [1.5, 2, 3])
    assert batch["city"][2, 0] == "Köln 2"


def test_npz_npy_and_text(tmp_path):
    np.savez(tmp_path / "a.npz", age=np.ones((5, 1)), income=np.zeros((5, 3), np.float32), city=np.array([["a"]] * 5))
    assert _rows(open_data(tmp_path / "a.npz", TABULAR), 2) == [2, 2, 1]
    np.save(tmp_path / "x.npy", np.arange(12, dtype=np.float32).reshape(6, 2))
    spec = [TensorSpec("x", "float32", (None, 2))]
    assert [b["x"].shape for b in open_data(tmp_path / "x.npy", spec).batches(4)] == [(4, 2), (2, 2)]
    (tmp_path / "t.txt").write_text("Hello world\n\nÜber café\n", encoding="utf-8")
    text = open_data(tmp_path / "t.txt", [TensorSpec("text", "string", (None,))])
    assert list(next(text.batches(10))["text"]) == ["Hello world", "", "Über café"]


def test_image_folder_decodes_and_resizes_only_when_asked(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    spec = [TensorSpec("image", "float32", (None, 12, 10, 3))]
    batch = next(open_data(folder, spec).batches(8))["image"]
    assert batch.shape == (3, 12, 10, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], np.asarray(Image.open(folder / "0.png"), dtype=np.float32))
    small = [TensorSpec("image", "uint8", (None, 6, 5, 1))]
    with pytest.raises(DataError, match="--resize"):
        open_data(folder, small)
    assert next(open_data(folder, small, resize=True).batches(8))["image"].shape == (3, 6, 5, 1)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", "", "empty"),
        ("bad.json", "{}", "unknown data format"),
        ("noheader.csv", "age,income_0\n1,2\n", "no column income_1 .. income_2|no column city"),
        ("letters.csv", "age,income_0,income_1,income_2,city\nold,1,2,3,x\n", "not a number"),
    ],
)
def test_bad_data_names_the_file_and_the_fix(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message):
        open_data(path, TABULAR)


def test_npz_with_wrong_names_or_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", age=np.ones((5, 1)), income=np.zeros((5, 2)), town=np.array([["a"]] * 5))
    with pytest.raises(DataError, match="no array for input\\(s\\) city"):
        open_data(tmp_path / "a.npz", TABULAR)
    np.savez(tmp_path / "b.npz", age=np.ones((5, 1)), income=np.zeros((5, 2)), city=np.array([["a"]] * 5))
    with pytest.raises(DataError, match="income.*expected \\(N, 3\\)"):
        open_data(tmp_path / "b.npz", TABULAR)
    np.savez(tmp_path / "c.npz", age=np.ones((5, 1)), income=np.zeros((5, 3)), city=np.ones((5, 1)))
    with pytest.raises(DataError, match="expected strings"):
        open_data(tmp_path / "c.npz", TABULAR)


def test_single_input_formats_refuse_multi_input_models(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 1)))
    with pytest.raises(DataError, match="single-input"):
        open_data(tmp_path / "x.npy", TABULAR)


def test_csv_integer_columns_keep_the_input_dtype(tmp_path):
    path = tmp_path / "ints.csv"
    path.write_text("rooms,city\n3,a\n7,b\n", encoding="utf-8")
    specs = [TensorSpec("rooms", "int32", (None, 1)), TensorSpec("city", "string", (None, 1))]
    batch = next(open_data(path, specs).batches(8))
    assert batch["rooms"].dtype == np.int32 and batch["rooms"][:, 0].tolist() == [3, 7]
    path.write_text("rooms,city\n3.5,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="non-integers"):
        open_data(path, specs)


def test_parity_and_adapt_data_are_one_data_source(tmp_path):
    from edgeprep.compose.sources import open_source
    from edgeprep.data import DataKind, DataSource

    path = tmp_path / "rows.csv"
    path.write_text("age,income_0,income_1,income_2,city\n1,2,3,4,a\n", encoding="utf-8")
    parity, adapt = open_data(path, TABULAR, flag="--calibration"), open_source(str(path))
    assert type(parity) is type(adapt) is DataSource and parity.kind is adapt.kind is DataKind.CSV
    assert (parity.label, adapt.label) == (f"--calibration {path}", f"--adapt {path}")
    assert parity.describe() == {"path": str(path), "kind": "csv", "resize": False}
    assert parity.total() == adapt.total() == path.stat().st_size
    memory = open_source({"age": np.ones((3, 1))})
    assert memory.kind is DataKind.MEMORY and memory.total() == 3


def test_a_single_input_model_takes_one_array_under_any_key_or_a_bare_npy(tmp_path):
    """Issue 17 item 3: Keras 3 names an input ``keras_tensor`` in memory and ``input_layer`` on save."""
    from edgeprep.data import read_arrays

    spec = [TensorSpec("input_layer", "float32", (None, 2))]
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.savez(tmp_path / "any_key.npz", keras_tensor=x)
    np.save(tmp_path / "bare.npy", x)
    for name in ("any_key.npz", "bare.npy"):
        np.testing.assert_array_equal(next(open_data(tmp_path / name, spec).batches(8))["input_layer"], x)
        np.testing.assert_array_equal(read_arrays(tmp_path / name, spec)["input_layer"], x)
    np.testing.assert_array_equal(next(open_data(tmp_path / "any_key.npz", spec, flag="--calibration").batches(8))["input_layer"], x)


def test_a_key_mismatch_on_a_multi_input_model_names_the_expected_keys(tmp_path):
    from edgeprep.data import read_arrays

    np.savez(tmp_path / "one.npz", keras_tensor=np.ones((2, 1), np.float32))
    for read in (lambda: open_data(tmp_path / "one.npz", TABULAR), lambda: read_arrays(tmp_path / "one.npz", TABULAR)):
        with pytest.raises(DataError, match=r"expected keys age, income, city; it has keras_tensor") as error:
            read()
        assert str(tmp_path / "one.npz") in str(error.value)
    np.save(tmp_path / "bare.npy", np.ones((2, 1), np.float32))
    with pytest.raises(DataError, match="single-input model, this one has 3 inputs; save an .npz keyed by age, income, city"):
        read_arrays(tmp_path / "bare.npy", TABULAR)


def test_a_csv_saved_with_a_byte_order_mark_just_works(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM, which used to become part of the first column's name."""
    path = tmp_path / "excel.csv"
    path.write_text("age,income_0,income_1,income_2,city\n30,1,2,3,Köln\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    batch = next(open_data(path, TABULAR).batches(4))
    assert batch["age"].tolist() == [[30.0]] and batch["city"].tolist() == [["Köln"]]


@pytest.mark.parametrize(
    "name, write, message",
    [
        ("huge_cell.csv", lambda p: p.write_text("age,income_0,income_1,income_2,city\n" + "1" * 140_000 + ",1,2,3,x\n"), "under 131,072 characters"),
        ("latin1.csv", lambda p: p.write_bytes("age,income_0,income_1,income_2,city\n1,2,3,4,Köln\n".encode("latin-1")), "not UTF-8 text"),
        ("latin1.txt", lambda p: p.write_bytes("Köln\n".encode("latin-1")), "not UTF-8 text"),
        ("objects.npy", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "holds Python objects"),
    ],
)
def test_unreadable_data_files_are_one_data_error(tmp_path, name, write, message):
    path = tmp_path / name
    write(path)
    specs = [TensorSpec("text", "string", (None,))] if name.endswith((".txt", ".npy")) else TABULAR
    with pytest.raises(DataError, match=message) as error:
        open_data(path, specs)
    assert str(path) in str(error.value)
