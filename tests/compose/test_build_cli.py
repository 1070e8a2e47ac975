"""``edgeprep build`` as users run it: the two-step workflow, and every bad input (exit 2, nothing written)."""

from __future__ import annotations

import pytest

from helpers import cli_in_process, error_lines, run_cli
from tabular import data, write_csv  # noqa: F401 (fixtures)

SPEC = '''
[inputs.amount]
layers = [{ class_name = "Normalization", config = {} }]
[inputs.income]
layers = [{ class_name = "Discretization", config = { num_bins = 4, output_mode = "one_hot" } }]
[inputs.city]
dtype = "string"
layers = [{ class_name = "StringLookup", config = { output_mode = "one_hot", mask_token = "" } }]
[inputs.code]
dtype = "int64"
layers = [{ class_name = "IntegerLookup", config = { output_mode = "one_hot" } }]
[output]
combine = "concatenate"
'''


@pytest.fixture(scope="module")
def workdir(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "spec.toml").write_text(SPEC)
    write_csv(data, root / "train-0.csv", slice(0, 1500))
    write_csv(data, root / "train-1.csv", slice(1500, None))
    return root


def test_spec_to_pre_then_model_to_full(workdir):
    adapted = run_cli("build", "--preprocess", "spec.toml", "--adapt", "train-*.csv", "--out", "pre.keras", cwd=workdir)
    assert adapted.returncode == 0, adapted.stderr
    assert "adapted 4 layer(s)" in adapted.stdout and "passed" in adapted.stdout and (workdir / "pre.keras").is_file()

    import keras

    pre = keras.saving.load_model(workdir / "pre.keras")
    width = int(pre.output.shape[-1])
    assert width == 1 + 4 + 6 + 6  # amount, 4 bins, [UNK] + 5 cities, [UNK] + 5 codes (-1 is the OOV token)
    x = keras.Input((width,), name="features")
    keras.Model(x, keras.layers.Dense(1)(x)).save(workdir / "model.keras")
    composed = cli_in_process("build", "model.keras", "--preprocess", "pre.keras", "--out", "full.keras", cwd=workdir)
    assert composed.returncode == 0, composed.stderr
    assert "checked on 16 generated raw example(s)" in composed.stdout and (workdir / "full.keras").is_file()

    x = keras.Input((3,), name="features")
    keras.Model(x, keras.layers.Dense(1)(x), name="narrow").save(workdir / "narrow.keras")
    mismatch = cli_in_process("build", "narrow.keras", "--preprocess", "pre.keras", "--out", "never.keras", cwd=workdir)
    assert mismatch.returncode == 2
    (line,) = error_lines(mismatch.stderr)
    assert f"PRE output 'concatenate' is (N, {width}) float32, MODEL input 'features' is (N, 3) float32 (shapes differ)" in line
    assert not (workdir / "never.keras").exists()


BAD = {
    "unknown layer class": (
        SPEC.replace('"StringLookup"', '"StringLookupp"'), ["--adapt", "train-0.csv"],
        "inputs.city layer 0 (StringLookupp): unknown Keras layer class 'StringLookupp'; did you mean StringLookup?",
    ),
    "bad config key": (
        SPEC.replace("output_mode = \"one_hot\", mask_token", "outputmode = \"one_hot\", mask_token"), ["--adapt", "train-0.csv"],
        "inputs.city layer 0 (StringLookup): config key(s) 'outputmode' are not arguments of StringLookup",
    ),
    "input absent from data": (
        SPEC.replace("[inputs.code]", "[inputs.zip]"), ["--adapt", "train-0.csv"],
        "train-0.csv has no column(s) 'zip' for the input(s) of that name",
    ),
    "empty data file": (SPEC, ["--adapt", "empty.csv"], "empty.csv: cannot read it as CSV (Empty CSV file)"),
    "malformed data file": (SPEC, ["--adapt", "bad.csv"], "bad.csv: malformed CSV ("),
    "needs adapting without data": (
        SPEC, [], "inputs.amount/amount_normalization (Normalization), inputs.income/income_discretization (Discretization)",
    ),
    "no rows": (SPEC, ["--adapt", "header.csv"], "no rows; pass data with at least one example"),
    "out is not .keras": (SPEC, ["--adapt", "train-0.csv", "--out", "pre.h5"], "use a path ending in .keras"),
}


@pytest.mark.parametrize("case", list(BAD), ids=lambda c: c.replace(" ", "-"))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(case, workdir, tmp_path):
    spec_text, flags, expected = BAD[case]
    (tmp_path / "spec.toml").write_text(spec_text)
    (tmp_path / "train-0.csv").write_bytes((workdir / "train-0.csv").read_bytes())
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("amount,income,city,code\n")
    (tmp_path / "bad.csv").write_text("amount,income,city,code\n1.0,2.0,paris,3\nnot-a-number,2.0,rome,7\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    out = [] if "--out" in flags else ["--out", "pre.keras"]
    result = cli_in_process("build", "--preprocess", "spec.toml", *flags, *out, cwd=tmp_path)  # refusals: no TensorFlow start-up each
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temporary left
