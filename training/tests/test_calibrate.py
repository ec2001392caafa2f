"""Output calibration: the offsets undo a known shift of the class balance and nothing else, cross-fitting says how
much that gains on rows the fit did not see (and nothing where there is no shift), and the offsets travel from the
checkpoint into every engine of the bundle and into its manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import synthetic_faces, tiny_net, write_fer_csv
from fer_train.bundle import onnx_probabilities
from fer_train.calibrate import KEY, apply_offsets, cross_fitted_gain, fit_offsets, main, predict, softmax
from fer_train.checkpoint import load_checkpoint
from fer_train.export import main as export_main
from fer_train.selftest import preprocess


def shifted_logits(n: int, shift: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model that is right about the evidence but whose class balance is off by `shift`."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(shift), n)
    evidence = rng.normal(0, 1.0, (n, len(shift)))
    evidence[np.arange(n), y] += 1.2
    return evidence + shift, y


SHIFT = np.array([-0.5, 0.0, -0.6, 0.3, 0.0, 0.1, 0.7])


def test_offsets_undo_a_shift_of_the_class_balance():
    z, y = shifted_logits(20000, SHIFT, seed=1)
    b = fit_offsets(z, y)
    assert abs(b.sum()) < 1e-9
    assert np.allclose(b, -(SHIFT - SHIFT.mean()), atol=0.08), b
    zero = np.zeros(7)
    assert (predict([z], b) == y).mean() > (predict([z], zero) == y).mean() + 0.01


def test_no_shift_no_offsets_and_no_gain():
    z, y = shifted_logits(20000, np.zeros(7), seed=2)
    assert np.abs(fit_offsets(z, y)).max() < 0.06
    g = cross_fitted_gain(z[:3000], [z[:3000]], y[:3000], repeats=3)
    assert abs(g["mean"]) < 0.5 and g["halves"] == 6


def test_cross_fitting_sees_the_gain_of_a_real_shift_and_scores_each_view_set():
    z, y = shifted_logits(3000, SHIFT, seed=3)
    zf = z + np.random.default_rng(4).normal(0, 0.3, z.shape)  # a second, noisy view (flip TTA)
    g = cross_fitted_gain(z, [z], y, repeats=3)
    g2 = cross_fitted_gain(z, [z, zf], y, repeats=3)
    assert g["mean"] > 1.0 and g2["mean"] > 1.0
    assert len(g["gains"]) == 6 and g["sd"] >= 0
    with pytest.raises(ValueError, match="at least 4 rows"):
        cross_fitted_gain(z[:3], [z[:3]], y[:3])
    with pytest.raises(ValueError, match="at least 1 repeat"):  # not a mean of nothing (NaN) in the report
        cross_fitted_gain(z, [z], y, repeats=0)


def test_predict_averages_probabilities_over_views():
    a = np.array([[2.0, 0.0], [0.0, 0.1]])
    b = np.array([[0.0, 3.0], [0.0, 0.1]])
    want = ((softmax(a) + softmax(b)) / 2).argmax(1)
    assert predict([a, b], np.zeros(2)).tolist() == want.tolist()


def test_apply_offsets_moves_the_logits_by_exactly_the_offsets_in_every_weight_set():
    net = tiny_net()
    sd = {k: v.clone() for k, v in net.state_dict().items()}  # not the net's own tensors, which load_state_dict overwrites
    ck = {"model": sd, "raw": {k: v.clone() for k, v in sd.items()}, "mean": 0.5, "std": 0.25}
    offsets = np.linspace(-0.6, 0.6, 7)
    out = apply_offsets(ck, offsets, {"offsets": "x"})
    x = torch.randn(5, 1, 48, 48)
    with torch.no_grad():
        before = net(x)
        net.load_state_dict(out["model"])
        after = net(x)
    assert torch.allclose(after - before, torch.as_tensor(offsets, dtype=torch.float32).expand(5, 7), atol=1e-5)
    assert torch.allclose(out["raw"]["classifier.bias"] - sd["classifier.bias"], torch.as_tensor(offsets, dtype=torch.float32))
    assert torch.equal(ck["model"]["classifier.bias"], sd["classifier.bias"])  # the input is left alone
    with pytest.raises(ValueError, match="already calibrated"):
        apply_offsets(out, offsets, {})
    with pytest.raises(ValueError, match="3 offsets for a classifier of 7"):
        apply_offsets(ck, np.zeros(3), {})


def test_cli_calibrates_on_validation_and_the_bundle_carries_it(tmp_path):
    # 280 Training rows: the Validation tenth (about 28 rows) is what the fit sees; PublicTest is never read.
    imgs, labels = synthetic_faces(300, seed=21)
    csv = write_fer_csv(tmp_path / "d.csv.gz", imgs, labels, ["Training"] * 280 + ["PublicTest"] * 20)
    net = tiny_net(seed=4)
    with torch.no_grad():
        net.classifier.bias.add_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0]))  # leans hard toward "neutral"
    cfg = {"data_csv": str(csv), "ferplus_csv": None, "train_usage": "Training", "val_usage": "Validation",
           "net": {"widths": [4, 8], "convs_per_stage": 2, "num_classes": 7, "in_channels": 1, "dropout": 0.3}}
    torch.save({"model": net.state_dict(), "config": cfg, "mean": 0.48, "std": 0.23, "epoch": 2}, tmp_path / "in.pt")
    out, report = tmp_path / "cal.pt", tmp_path / "cal.json"
    assert main(["--checkpoint", str(tmp_path / "in.pt"), "--data", str(csv), "--out", str(out), "--repeats", "2",
                 "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["fitted_on"] == "Validation" and 20 <= r["rows"] <= 36
    assert r["offsets"]["neutral"] < -0.5  # it pushes back against the lean
    assert set(r["cross_fitted_gain_points"]) == {"float32", "float32_flip_tta"}
    ck = load_checkpoint(out)
    assert ck.output_calibration is not None and ck.output_calibration["offsets"] == r["offsets"]
    assert main(["--checkpoint", str(out), "--data", str(csv), "--out", str(tmp_path / "twice.pt")]) == 1

    bundle = tmp_path / "bundle"
    assert export_main(["--checkpoint", str(out), "--out", str(bundle), "--name", "tiny-cal", "--version", "1.0.1",
                        "--int8-data", str(csv)]) == 0
    m = json.loads((bundle / "manifest.json").read_text())
    assert m["training"][KEY]["offsets"] == r["offsets"]
    # every engine runs the offsets: the float and int8 models answer softmax(logits + offsets) of the input net
    x = preprocess(imgs[:16, ..., None], [0.48], [0.23])
    with torch.no_grad():
        want = softmax(net(torch.from_numpy(x)).double().numpy() + np.array(list(r["offsets"].values())))
    assert np.abs(onnx_probabilities(bundle / "model.onnx", x) - want).max() < 1e-4
    assert (onnx_probabilities(bundle / "model.int8.onnx", x).argmax(1) == want.argmax(1)).mean() >= 0.8


def test_cli_says_when_there_are_no_validation_rows(tmp_path, tiny_checkpoint, capsys):
    imgs, labels = synthetic_faces(10, seed=5)
    csv = write_fer_csv(tmp_path / "t.csv", imgs, labels, ["PublicTest"] * 10)
    assert main(["--checkpoint", str(tiny_checkpoint), "--data", str(csv), "--out", str(tmp_path / "o.pt")]) == 1
    assert "0 Validation rows" in capsys.readouterr().err
