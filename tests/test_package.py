"""Atomic publishing: a failed write leaves the previous export directory untouched."""

from __future__ import annotations

import pytest

from edgeprep.errors import OutputError
from edgeprep.package import check_output_dir, publish
from helpers import tree


def test_publish_replaces_the_directory_whole(tmp_path):
    out = tmp_path / "dist"
    publish(out, {"a.txt": b"1", "sub/b.txt": b"2"})
    publish(out, {"c.txt": b"3"})
    assert tree(out) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".dist.lock")] == ["dist"]


def test_a_failing_write_leaves_the_previous_directory_intact(tmp_path, monkeypatch):
    out = tmp_path / "dist"
    publish(out, {"model.onnx": b"old"})
    import builtins

    real_open = builtins.open

    def failing_open(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith("second.bin"):
            raise OSError(28, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    with pytest.raises(OutputError, match="disk is full"):
        publish(out, {"first.bin": b"new", "second.bin": b"new"})
    monkeypatch.undo()
    assert tree(out) == ["model.onnx"] and (out / "model.onnx").read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_output_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_output_dir(tmp_path / "f")
