"""The int8 model: quantization keeps the float model's answers, the bundle carries it with its own self-test, and
the export CLI calibrates it on Training rows or says clearly why it cannot."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from conftest import synthetic_faces, write_fer_csv
from fer_train.bundle import INT8_TOLERANCE, onnx_probabilities, verify_bundle, write_bundle
from fer_train.checkpoint import load_checkpoint
from fer_train.export import main as export_main
from fer_train.quantize import calibration_input, quantize_int8


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory, tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    imgs, _ = synthetic_faces(64, seed=5)
    out = tmp_path_factory.mktemp("int8") / "b"
    write_bundle(ck.model, out, name="tiny-int8", version="1.0.0", mean=ck.mean, std=ck.std, labels=ck.labels,
                 config=ck.config, epoch=ck.epoch, calib_images=imgs, calib_source="64 generated faces")
    return out


def test_int8_model_agrees_with_float_on_unseen_faces(int8_bundle):
    m = json.loads((int8_bundle / "manifest.json").read_text())
    imgs, _ = synthetic_faces(200, seed=99)  # not the calibration faces
    x = calibration_input(imgs, m["preprocessing"]["mean"][0], m["preprocessing"]["std"][0])
    p32 = onnx_probabilities(int8_bundle / "model.onnx", x)
    p8 = onnx_probabilities(int8_bundle / "model.int8.onnx", x)
    assert (p32.argmax(1) == p8.argmax(1)).mean() >= 0.9
    assert np.abs(p32 - p8).max() < 0.2
    # it really is a different (quantized) graph, not a copy of the float one
    assert (int8_bundle / "model.int8.onnx").read_bytes() != (int8_bundle / "model.onnx").read_bytes()
    assert np.abs(p32 - p8).max() > 0


def test_int8_entry_in_manifest_has_its_own_selftest(int8_bundle):
    m = json.loads((int8_bundle / "manifest.json").read_text())
    e = m["engines"]["onnx_int8"]
    assert e["file"] == "model.int8.onnx" and e["layout"] == "NCHW" and e["selftest"]["tolerance"] == INT8_TOLERANCE
    assert [c["pixels_b64"] for c in e["selftest"]["cases"]] == [c["pixels_b64"] for c in m["selftest"]["cases"]]
    assert m["training"]["int8"]["calibration"] == "64 generated faces"
    assert verify_bundle(int8_bundle) == []


def test_tampered_int8_selftest_is_caught(int8_bundle, tmp_path):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(int8_bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    exp = m["engines"]["onnx_int8"]["selftest"]["cases"][0]["expected"]
    i = int(np.argmax(exp))
    exp[i] = max(0.0, exp[i] - 0.2)
    (b / "manifest.json").write_text(json.dumps(m))
    assert any("onnx_int8" in p for p in verify_bundle(b))


def test_quantize_rejects_bad_settings(int8_bundle, tmp_path):
    x = np.zeros((1, 1, 48, 48), np.float32)
    with pytest.raises(ValueError, match="calibration method"):
        quantize_int8(int8_bundle / "model.onnx", tmp_path / "q.onnx", x, method="magic")
    with pytest.raises(ValueError, match="at least one image"):
        quantize_int8(int8_bundle / "model.onnx", tmp_path / "q.onnx", x[:0])


def test_export_cli_int8_needs_calibration_data(tiny_checkpoint, tmp_path, capsys):
    # the checkpoint's data_csv (x.csv) does not exist: a one-line error naming it, not a traceback
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"), "--name", "t", "--version", "1.0.0"])
    assert rc == 1
    assert "int8 calibration data x.csv does not exist" in capsys.readouterr().err
    test_only = write_fer_csv(tmp_path / "t.csv", *synthetic_faces(4, seed=1), ["PublicTest"] * 4)
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"), "--name", "t", "--version",
                      "1.0.0", "--int8-data", str(test_only)])
    assert rc == 1 and "no Training rows" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"), "--name", "t", "--version",
                        "1.0.0", "--no-int8"]) == 0
    assert "onnx_int8" not in json.loads((tmp_path / "b" / "manifest.json").read_text())["engines"]


def test_evaluate_reports_the_int8_accuracy(tiny_checkpoint, eval_csv, tmp_path):
    from fer_train.data import read_fer2013
    from fer_train.evaluate import main as evaluate_main

    ck = load_checkpoint(tiny_checkpoint)
    calib = read_fer2013(eval_csv, report=None).select("Training").images
    write_bundle(ck.model, tmp_path / "b", name="t", version="1.0.0", mean=ck.mean, std=ck.std, labels=ck.labels,
                 calib_images=calib)
    rc = evaluate_main(["--checkpoint", str(tiny_checkpoint), "--bundle", str(tmp_path / "b"), "--data", str(eval_csv),
                        "--out", str(tmp_path / "r")])
    # By default: Validation (which decides) in OUT, PublicTest (reported) in OUT/publictest, both in OUT's metrics.
    root = json.loads((tmp_path / "r" / "summary.json").read_text())
    s = json.loads((tmp_path / "r" / "publictest" / "summary.json").read_text())
    assert root["usage"] == "Validation" and s["usage"] == "PublicTest"
    assert root["metrics"]["validation_accuracy_int8"] == root["onnx_int8"]["accuracy"]
    assert root["metrics"]["public_test_accuracy_int8"] == s["onnx_int8"]["accuracy"]
    rows = read_fer2013(eval_csv, report=None).select("PublicTest")
    p8 = onnx_probabilities(tmp_path / "b" / "model.int8.onnx", calibration_input(rows.images, ck.mean, ck.std))
    assert s["onnx_int8"]["accuracy"] == float((p8.argmax(1) == rows.labels).mean())
    assert s["metrics"]["public_test_accuracy_int8"] == s["onnx_int8"]["accuracy"]
    # Flip TTA for the int8 form (what the agent's model.flip_tta: auto reads on Validation): int8 on each face and its
    # mirror, averaged.
    x = calibration_input(rows.images, ck.mean, ck.std)
    p8f = (p8 + onnx_probabilities(tmp_path / "b" / "model.int8.onnx", np.ascontiguousarray(x[..., ::-1]))) / 2
    assert s["metrics"]["public_test_accuracy_int8_flip_tta"] == float((p8f.argmax(1) == rows.labels).mean())
    assert root["metrics"]["validation_accuracy_int8_flip_tta"] == root["onnx_int8"]["accuracy_flip_tta"]
    assert rc == (1 if min(s["onnx_int8"]["points_vs_fp32"], root["onnx_int8"]["points_vs_fp32"]) < -0.5 else 0)


def test_requantize_replaces_the_int8_form_in_place_and_the_bundle_still_verifies(tiny_checkpoint, eval_csv, tmp_path):
    from fer_train.requantize import main as requantize_main

    out = tmp_path / "b"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--name", "t", "--version", "1.0.0",
                        "--int8-data", str(eval_csv)]) == 0
    before = json.loads((out / "manifest.json").read_text())
    assert "form u8s8r" in before["training"]["int8"]["quantization"]  # the default: exact on every x86 class
    onnx_before = (out / "model.onnx").read_bytes()
    assert requantize_main(["--bundle", str(out), "--data", str(eval_csv), "--form", "u8u8"]) == 0
    after = json.loads((out / "manifest.json").read_text())
    assert "uint8 weights" in after["training"]["int8"]["quantization"] and "form u8u8" in after["training"]["int8"]["quantization"]
    assert after["files"]["model.int8.onnx"] != before["files"]["model.int8.onnx"]
    assert after["files"]["model.onnx"] == before["files"]["model.onnx"] and (out / "model.onnx").read_bytes() == onnx_before
    assert verify_bundle(out) == []
    # The self-test expectations are the new model's own outputs.
    m = after["engines"]["onnx_int8"]
    x = np.stack([np.frombuffer(base64.b64decode(c["pixels_b64"]), np.uint8).reshape(48, 48) for c in m["selftest"]["cases"]])
    got = onnx_probabilities(out / "model.int8.onnx", calibration_input(x, after["preprocessing"]["mean"][0], after["preprocessing"]["std"][0]))
    np.testing.assert_allclose(got, [c["expected"] for c in m["selftest"]["cases"]], atol=1e-6)
    # A bundle without an int8 model is refused by name.
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "f"), "--name", "t", "--version", "1.0.0", "--no-int8"]) == 0
    assert requantize_main(["--bundle", str(tmp_path / "f"), "--data", str(eval_csv)]) == 1


def _conv_weight_sources(path) -> list[str]:
    """For each Conv in graph order, what makes its weight: an initializer ("float") or a DequantizeLinear ("int8")."""
    import onnx

    g = onnx.load(str(path)).graph
    made_by = {o: n.op_type for n in g.node for o in n.output}
    return ["int8" if made_by.get(n.input[1]) == "DequantizeLinear" else "float" for n in g.node if n.op_type == "Conv"]


def test_the_first_convolution_stays_float_unless_asked(int8_bundle, tmp_path):
    imgs, _ = synthetic_faces(32, seed=6)
    m = json.loads((int8_bundle / "manifest.json").read_text())
    x = calibration_input(imgs, m["preprocessing"]["mean"][0], m["preprocessing"]["std"][0])
    kept = _conv_weight_sources(int8_bundle / "model.int8.onnx")
    assert kept[0] == "float" and set(kept[1:]) == {"int8"}, kept
    assert "first convolution in float32" in m["training"]["int8"]["quantization"]
    every = quantize_int8(int8_bundle / "model.onnx", tmp_path / "all.onnx", x, float_first_conv=False)
    assert set(_conv_weight_sources(every)) == {"int8"}


def test_requantize_scores_the_new_int8_model_again_and_can_set_a_version(tiny_checkpoint, eval_csv, tmp_path):
    """The int8 figures a bundle carries decide flip TTA on the agent: stale ones from the old int8 bytes must not stay."""
    from fer_train.bundle import sha256_file
    from fer_train.data import load_fer
    from fer_train.requantize import main as requantize_main

    out = tmp_path / "b"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--name", "t", "--version", "1.0.0",
                        "--int8-data", str(eval_csv)]) == 0
    m = json.loads((out / "manifest.json").read_text())
    stale = {"public_test_accuracy": 0.5, "public_test_accuracy_int8": 0.123, "public_test_accuracy_int8_flip_tta": 0.456}
    m["training"]["metrics"] = dict(stale)
    (out / "report").mkdir()
    (out / "report" / "summary.json").write_text(json.dumps({"usage": "PublicTest", "metrics": dict(stale),
                                                             "onnx_int8": {"accuracy": 0.123, "accuracy_flip_tta": 0.456}}))
    m["files"]["report/summary.json"] = {"sha256": sha256_file(out / "report" / "summary.json"),
                                         "bytes": (out / "report" / "summary.json").stat().st_size}
    (out / "manifest.json").write_text(json.dumps(m))
    assert verify_bundle(out) == []
    assert requantize_main(["--bundle", str(out), "--data", str(eval_csv), "--form", "u8u8", "--version", "1.0.1"]) == 0
    after = json.loads((out / "manifest.json").read_text())
    assert after["version"] == "1.0.1" and verify_bundle(out) == []
    # The figures are the new int8 model's own, scored here independently on the CSV's PublicTest rows.
    rows = load_fer(eval_csv, log=False).select("PublicTest")
    x = calibration_input(rows.images, after["preprocessing"]["mean"][0], after["preprocessing"]["std"][0])
    p8 = onnx_probabilities(out / "model.int8.onnx", x)
    flip = (p8 + onnx_probabilities(out / "model.int8.onnx", np.ascontiguousarray(x[..., ::-1]))) / 2
    got = after["training"]["metrics"]
    assert got["public_test_accuracy_int8"] == pytest.approx(float((p8.argmax(1) == rows.labels).mean()))
    assert got["public_test_accuracy_int8_flip_tta"] == pytest.approx(float((flip.argmax(1) == rows.labels).mean()))
    assert got["public_test_accuracy"] == 0.5, "float figures stay as they were"
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["metrics"]["public_test_accuracy_int8"] == got["public_test_accuracy_int8"]
    assert summary["onnx_int8"]["accuracy_flip_tta"] == got["public_test_accuracy_int8_flip_tta"]
    assert requantize_main(["--bundle", str(out), "--data", str(eval_csv), "--version", "1.0"]) == 1
