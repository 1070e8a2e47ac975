"""examples/07_keras2_seed runs end to end: the seed's three Keras 2 blocks under tf_keras, saved in
.h5 / SavedModel / .keras, exported with ``edgeprep export --data`` and verified."""

from __future__ import annotations

import json

from helpers import run_example


def test_keras2_seed_example_exports_and_verifies_all_three_models(tmp_path):
    result = run_example("07_keras2_seed/seed_keras2.py", "--out", tmp_path, "--epochs", "2", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = {}
    for name, samples in (("digits", 360), ("augmented", 360), ("reviews", 120)):
        assert f"verify dist/{name}: passed on {samples} samples" in result.stdout
        manifest = json.loads((tmp_path / "dist" / name / "manifest.json").read_text())
        assert manifest["passed"] and all(entry["samples"] == samples for entry in manifest["parity"])
        kinds[name] = manifest["source"]["kind"]
        if name == "augmented":
            stripped = [e["class"] for e in manifest["transforms"] if e["action"] == "stripped"]
            assert stripped == ["RandomFlip", "RandomRotation", "RandomZoom"]
            assert all(not any("random" in op.lower() for op in a["ops"]) for a in manifest["artifacts"])
        if name == "reviews":
            assert all(a["host_steps"] for a in manifest["artifacts"])  # TextVectorization on the host
    assert kinds == {"digits": "keras2_h5", "augmented": "keras2_keras", "reviews": "keras2_saved_model"}
