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


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_next_publish_removes_stale_temporaries_of_killed_runs_only(tmp_path):
    """Hole 11: SIGKILL during a write left .dist.tmp-XXXX (and .dist.old-XXXX, .dist.lock) for good."""
    import os

    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f".dist.tmp-{dead}-abcd1234", tmp_path / f".dist.old-{dead}-efgh5678", tmp_path / ".dist.tmp-k2j4h6g8"]
    live = [tmp_path / f".dist.tmp-{alive}-live0000", tmp_path / f".other.tmp-{dead}-notmine0"]
    for path in stale + live:
        path.mkdir()
        (path / "model.onnx").write_bytes(b"half")
    (tmp_path / ".dist.lock").write_text("")
    publish(tmp_path / "dist", {"a.txt": b"1"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dist"] + [p.name for p in live])


@pytest.mark.parametrize(
    "make_out, message",
    [
        (lambda tmp, model: "", "empty path"),
        (lambda tmp, model: ".", "current directory"),
        (lambda tmp, model: "/", "current directory or one of its parents"),
        (lambda tmp, model: model.parent, "holds the model"),
        (lambda tmp, model: model.parent.parent, "holds the model"),
        (lambda tmp, model: tmp / "photos", "--force"),
    ],
    ids=["empty", "dot", "root", "model-directory", "model-parent", "non-export"],
)
def test_outputs_that_would_delete_data_are_refused(tmp_path, make_out, message):
    model = tmp_path / "models" / "m.keras"
    model.parent.mkdir()
    model.write_bytes(b"a model")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"a cat")
    before = tree(tmp_path)
    with pytest.raises(OutputError, match=message):
        check_output_dir(make_out(tmp_path, model), model)
    assert tree(tmp_path) == before


def test_an_earlier_export_an_empty_directory_and_force_are_accepted(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"a model")
    publish(tmp_path / "earlier", {"manifest.json": b"{}"})
    (tmp_path / "empty").mkdir()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"a cat")
    for out in ("earlier", "empty", "new"):
        assert check_output_dir(tmp_path / out, model) == tmp_path / out
    assert check_output_dir(tmp_path / "photos", model, force=True) == tmp_path / "photos"


def test_output_files_are_checked_without_writing_anything(tmp_path):
    from edgeprep.package import check_output_file

    (tmp_path / "dir.xml").mkdir()
    (tmp_path / "file").write_text("x")
    for path, message in ((tmp_path / "dir.xml", "is a directory"), (tmp_path / "file" / "j.xml", "is a file"), ("/proc/edgeprep/j.xml", "writable")):
        with pytest.raises(OutputError, match=message):
            check_output_file(path, f"--junit {path}")
    assert check_output_file(tmp_path / "missing" / "deeper" / "j.xml", "--junit") == tmp_path / "missing" / "deeper" / "j.xml"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.xml", "file"]
