import json

import numpy as np

from conftest import LABELS
from fer_train.checkpoint import load_checkpoint
from fer_train.data import read_fer2013
from fer_train.evaluate import confusion_matrix, main, metric_prefix, per_class
from fer_train.selftest import preprocess, torch_probabilities


def test_per_class_metrics_by_hand():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0, 0])
    cm = confusion_matrix(y, p, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    pc = per_class(cm, ["a", "b", "c"])
    assert pc["a"] == {"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2}
    assert pc["b"]["precision"] == 2 / 3 and pc["b"]["recall"] == 2 / 3
    assert pc["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metric_prefix("PublicTest") == "public_test" and metric_prefix("Training") == "training"


def test_evaluate_report_with_bundle(tiny_checkpoint, tiny_bundle, eval_csv, tmp_path):
    out = tmp_path / "report"
    rc = main(["--checkpoint", str(tiny_checkpoint), "--bundle", str(tiny_bundle), "--data", str(eval_csv),
               "--usage", "PublicTest", "--out", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["confusion.png", "curves.png", "summary.json"]
    for png in ("confusion.png", "curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s = json.loads((out / "summary.json").read_text())
    # recompute accuracy independently
    ck = load_checkpoint(tiny_checkpoint)
    rows = read_fer2013(eval_csv, report=None).select("PublicTest")
    x = preprocess(rows.images[..., None], [ck.mean], [ck.std])
    pred = torch_probabilities(ck.model, x).argmax(1)
    assert s["rows"] == 40 and s["labels"] == LABELS
    assert s["accuracy"] == float((pred == rows.labels).mean())
    flip = torch_probabilities(ck.model, np.ascontiguousarray(x[..., ::-1]))
    tta = ((torch_probabilities(ck.model, x) + flip) / 2).argmax(1)
    assert s["accuracy_flip_tta"] == float((tta == rows.labels).mean())
    assert np.array(s["confusion"]).sum() == 40 and np.trace(s["confusion"]) == int((pred == rows.labels).sum())
    assert sum(v["support"] for v in s["per_class"].values()) == 40
    assert abs(s["onnx"]["accuracy"] - s["accuracy"]) * 100 <= 0.5 and s["onnx"]["bundle_problems"] == []
    assert s["metrics"]["public_test_accuracy"] == s["accuracy"] and s["failures"] == []


def test_evaluate_fails_when_the_bundle_disagrees_with_the_checkpoint(tiny_checkpoint, eval_csv, tmp_path):
    """A bundle whose model always answers one class: its ONNX accuracy must be flagged as off."""
    import copy

    import torch

    from fer_train.bundle import write_bundle

    ck = load_checkpoint(tiny_checkpoint)
    rows = read_fer2013(eval_csv, report=None).select("PublicTest")
    acc = float((torch_probabilities(ck.model, preprocess(rows.images[..., None], [ck.mean], [ck.std])).argmax(1)
                 == rows.labels).mean())
    k = max(range(7), key=lambda c: abs(float((rows.labels == c).mean()) - acc))
    other = copy.deepcopy(ck.model)
    with torch.no_grad():
        other.classifier.bias[k] += 1000.0
    write_bundle(other, tmp_path / "other", name="other", version="0.0.1", mean=ck.mean, std=ck.std, labels=LABELS)
    rc = main(["--checkpoint", str(tiny_checkpoint), "--bundle", str(tmp_path / "other"), "--data", str(eval_csv),
               "--usage", "PublicTest", "--out", str(tmp_path / "r")])
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["onnx"]["accuracy"] == float((rows.labels == k).mean())
    assert abs(s["onnx"]["accuracy"] - s["accuracy"]) * 100 > 0.5
    assert rc == 1 and "points from PyTorch" in s["failures"][0]
