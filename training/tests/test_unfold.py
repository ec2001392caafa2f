"""Unfolding a bundle gives back its network (the same answers in eval mode) and the account of how it was trained,
which a bundle exported again from it keeps (with where it came from)."""
from __future__ import annotations

import json

import numpy as np
import torch

from conftest import synthetic_faces, tiny_net, write_fer_csv
from fer_train.bundle import onnx_probabilities, write_bundle
from fer_train.export import main as export_main
from fer_train.selftest import preprocess, torch_probabilities
from fer_train.unfold import main as unfold_main


def test_unfolded_net_answers_as_the_bundle_and_a_new_export_keeps_its_provenance(tmp_path):
    imgs, labels = synthetic_faces(120, seed=8)
    csv = write_fer_csv(tmp_path / "d.csv", imgs, labels, ["Training"] * 120)
    net = tiny_net(seed=6)
    config = {"train_usage": "Training", "val_usage": "Validation", "ferplus_csv": "votes.csv", "ferplus_weight": 0.2,
              "teachers": ["a.pt", "b.pt"]}
    src = tmp_path / "src"
    write_bundle(net, src, name="tiny-src", version="2.0.0", mean=0.5, std=0.25, labels=[str(i) for i in range(7)],
                 config=config, epoch=42)
    before = json.loads((src / "manifest.json").read_text())["training"]
    assert before["epochs"] == 42 and before["distilled_from_teachers"] == 2

    pt = tmp_path / "u.pt"
    unfold_main(["--bundle", str(src), "--data", str(csv), "--out", str(pt), "--rows", "100"])
    ck = torch.load(pt, weights_only=True)
    assert ck["unfolded_from"] == "tiny-src 2.0.0" and ck["provenance"]["epochs"] == 42

    x = preprocess(imgs[:20, ..., None], [0.5], [0.25])
    from fer_train.checkpoint import load_checkpoint

    got = torch_probabilities(load_checkpoint(pt).model, x)
    assert np.abs(got - onnx_probabilities(src / "model.onnx", x)).max() < 1e-4

    again = tmp_path / "again"
    assert export_main(["--checkpoint", str(pt), "--out", str(again), "--name", "tiny-src", "--version", "2.0.1",
                        "--no-int8"]) == 0
    after = json.loads((again / "manifest.json").read_text())["training"]
    assert after["derived_from"] == "tiny-src 2.0.0"
    assert {k: after[k] for k in ("dataset", "epochs", "distilled_from_teachers")} == \
        {k: before[k] for k in ("dataset", "epochs", "distilled_from_teachers")}
    assert np.abs(onnx_probabilities(again / "model.onnx", x) - onnx_probabilities(src / "model.onnx", x)).max() < 1e-4
