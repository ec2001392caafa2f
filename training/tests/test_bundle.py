import base64
import gzip
import hashlib
import json
import tarfile

import numpy as np
import pytest

from conftest import LABELS
from fer_train.bundle import ALLOWED_FILES, BundleError, extract_archive, onnx_probabilities, verify_bundle, write_archive, write_bundle
from fer_train.checkpoint import load_checkpoint
from fer_train.data import read_fer2013
from fer_train.export import main as export_main
from fer_train.selftest import preprocess, torch_probabilities


def _files(d):
    return {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}


def test_manifest_matches_bundle_md(tiny_bundle, tiny_checkpoint):
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    assert list(m) == ["format", "name", "version", "created", "labels", "input", "preprocessing", "output",
                       "face_crop", "engines", "files", "training", "selftest"]
    assert m["format"] == "fer-edge-bundle/1" and m["name"] == "tiny-net" and m["version"] == "1.2.3"
    assert m["created"].endswith("Z") and m["labels"] == LABELS and m["output"] == "probabilities"
    assert m["input"] == {"width": 48, "height": 48, "channels": 1}
    assert m["preprocessing"] == {"scale": 1 / 255, "mean": [0.48], "std": [0.23]}  # from the checkpoint
    assert m["face_crop"] == {"margin": 0.05, "square": True}
    assert m["engines"] == {"onnx": {"file": "model.onnx", "input": "input", "output": "probabilities", "layout": "NCHW"},
                            "tfjs": {"file": "tfjs/model.json", "layout": "NHWC"}}
    assert m["training"] == {"dataset": "FER2013 Training", "epochs": 3}
    from fer_train.bundle import _training_block
    assert _training_block({"init": "runs/a/final.pt", "teachers": ["t1.pt", "t2.pt"]}, 40, None, None) == \
        {"dataset": "FER2013 Training", "epochs": 40, "warm_start": True, "distilled_from_teachers": 2}
    # A run that held Validation out says so: a reader must not think it saw every Training row.
    assert _training_block({"train_usage": "Training", "val_usage": "Validation"}, 1, None, None)["dataset"] == \
        "FER2013 Training less its Validation tenth"
    assert _training_block({"train_usage": "TrainingAll", "val_usage": "PublicTest"}, 1, None, None)["dataset"] == \
        "FER2013 TrainingAll"
    # nothing in the directory that BUNDLE.md does not allow, and every model file is listed with size and hash
    assert _files(tiny_bundle) == {"manifest.json", "model.onnx", "tfjs/model.json", "tfjs/group1-shard1of1.bin"}
    assert set(m["files"]) == _files(tiny_bundle) - {"manifest.json"}
    for rel, info in m["files"].items():
        data = (tiny_bundle / rel).read_bytes()
        assert info == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def test_selftest_cases_are_synthetic_and_reproduced_by_torch_and_onnx(tiny_bundle, tiny_checkpoint):
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    st = m["selftest"]
    assert st["tolerance"] == 0.001 and len(st["cases"]) == 4
    imgs = [np.frombuffer(base64.b64decode(c["pixels_b64"]), np.uint8) for c in st["cases"]]
    assert all(i.size == 48 * 48 for i in imgs)
    assert len({i.tobytes() for i in imgs}) == 4
    x = preprocess([i.reshape(48, 48, 1) for i in imgs], m["preprocessing"]["mean"], m["preprocessing"]["std"])
    expected = np.array([c["expected"] for c in st["cases"]])
    np.testing.assert_allclose(expected.sum(1), 1, atol=1e-5)
    ck = load_checkpoint(tiny_checkpoint)
    np.testing.assert_allclose(torch_probabilities(ck.model, x), expected, atol=1e-6)
    np.testing.assert_allclose(onnx_probabilities(tiny_bundle / "model.onnx", x), expected, atol=1e-4)
    assert np.abs(expected - 1 / 7).max() > 0.05  # the cases actually discriminate
    assert verify_bundle(tiny_bundle) == []


def test_verify_catches_tampering_and_extra_files(tiny_bundle, tmp_path):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    shard = b / "tfjs" / "group1-shard1of1.bin"
    raw = bytearray(shard.read_bytes())
    raw[10] ^= 0xFF
    shard.write_bytes(bytes(raw))
    (b / "notes.txt").write_text("hi")
    problems = verify_bundle(b)
    assert "notes.txt: not a file BUNDLE.md allows in a bundle" in problems
    assert "tfjs/group1-shard1of1.bin: sha256 differs from manifest.json" in problems


def test_archive_round_trip(tiny_bundle, tmp_path):
    arch = write_archive(tiny_bundle, tmp_path / "tiny.tar.gz")
    again = write_archive(tiny_bundle, tmp_path / "again.tar.gz")
    assert arch.read_bytes() == again.read_bytes()  # reproducible
    raw = gzip.decompress(arch.read_bytes())
    assert raw[257:263] == b"ustar\x00"  # POSIX ustar header
    with tarfile.open(arch) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and set(names) == _files(tiny_bundle)
    out = extract_archive(arch, tmp_path / "x")
    for rel in _files(tiny_bundle):
        assert (out / rel).read_bytes() == (tiny_bundle / rel).read_bytes()
    assert verify_bundle(out) == []
    plain = write_archive(tiny_bundle, tmp_path / "tiny.tar")
    assert plain.read_bytes() == raw


def test_extract_refuses_archives_without_manifest_first(tmp_path):
    import io

    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("model.onnx")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BundleError, match="first member"):
        extract_archive(bad, tmp_path / "out")


def test_export_cli_with_report_float16_and_archive(tiny_checkpoint, eval_csv, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    metrics = {"public_test_accuracy": 0.61, "public_test_macro_f1": 0.5}
    (report / "summary.json").write_text(json.dumps({"metrics": metrics}))
    (report / "confusion.png").write_bytes(b"\x89PNG fake")
    (report / "other.txt").write_text("not copied")
    out = tmp_path / "bundle"
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--name", "fer-tiny", "--version",
                      "2.0.0-rc.1", "--margin", "0.2", "--tfjs-float16", "--report", str(report),
                      "--archive", str(tmp_path / "b.tar.gz"), "--int8-data", str(eval_csv)])
    assert rc == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["training"]["metrics"] == metrics and m["face_crop"]["margin"] == 0.2
    assert m["engines"]["onnx_int8"]["file"] == "model.int8.onnx" and "model.int8.onnx" in m["files"]
    # Calibration takes Training rows less the validation rows (which decide the int8 form, so never calibrate it).
    n = len(read_fer2013(eval_csv, report=None).select("Training"))
    assert n < 20 and m["training"]["int8"]["calibration"].startswith(f"{n} FER2013 Training rows of eval.csv")
    assert _files(out) <= ALLOWED_FILES
    assert {"report/summary.json", "report/confusion.png"} <= set(m["files"]) and "report/other.txt" not in m["files"]
    mj = json.loads((out / "tfjs" / "model.json").read_text())
    assert all(w["quantization"] == {"dtype": "float16"} for w in mj["weightsManifest"][0]["weights"])
    assert verify_bundle(out) == []
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert tar.getnames()[0] == "manifest.json"
    # refuses to overwrite, and rejects bad names, without leaving temporary directories behind
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--name", "x", "--version", "1.0.0",
                        "--no-int8"]) == 1
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b2"), "--name", "Bad Name",
                        "--version", "1.0.0", "--no-int8"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz", "bundle", "report"]


def test_write_bundle_rejects_bad_version(tmp_path, tiny_checkpoint):
    ck = load_checkpoint(tiny_checkpoint)
    with pytest.raises(BundleError, match="semver"):
        write_bundle(ck.model, tmp_path / "b", name="ok", version="1.0", mean=0.5, std=0.2, labels=LABELS)


def test_rgb_bundle(tmp_path):
    from conftest import tiny_net

    net = tiny_net(seed=8, in_channels=3)
    m = write_bundle(net, tmp_path / "rgb", name="rgb", version="0.1.0", mean=[0.5, 0.45, 0.4], std=[0.2, 0.21, 0.22],
                     labels=LABELS, dataset="synthetic")
    assert m["input"]["channels"] == 3 and m["training"] == {"dataset": "synthetic"}
    case = base64.b64decode(m["selftest"]["cases"][0]["pixels_b64"])
    assert len(case) == 48 * 48 * 3
    mj = json.loads((tmp_path / "rgb" / "tfjs" / "model.json").read_text())
    assert mj["modelTopology"]["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 48, 48, 3]
    assert verify_bundle(tmp_path / "rgb") == []


def test_flip_tta_off_is_written_checked_and_refused_when_unknown(tiny_checkpoint, tmp_path):
    """`--flip-tta off` writes runtime.flip_tta off (the agent's auto then never mirrors); the default writes nothing."""
    out = tmp_path / "off"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--name", "fer-tiny", "--version",
                        "1.0.0", "--no-int8", "--flip-tta", "off"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["runtime"] == {"flip_tta": "off"} and verify_bundle(out) == []
    m["runtime"] = {"flip_tta": "on"}
    (out / "manifest.json").write_text(json.dumps(m))
    assert any("runtime" in p and "flip_tta" in p for p in verify_bundle(out, run_selftest=False))
    ck = load_checkpoint(tiny_checkpoint)
    assert "runtime" not in write_bundle(ck.model, tmp_path / "auto", name="ok", version="1.0.0", mean=0.5, std=0.2,
                                         labels=LABELS)
    with pytest.raises(BundleError, match="flip_tta 'sometimes'"):
        write_bundle(ck.model, tmp_path / "bad", name="ok", version="1.0.0", mean=0.5, std=0.2, labels=LABELS,
                     flip_tta="sometimes")
