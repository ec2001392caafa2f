"""A trainable checkpoint from a shipped bundle: `python -m fer_train.unfold --bundle DIR --out model.pt`.

A bundle's model.onnx has BatchNorm folded into the convolutions (fold.py), so its training checkpoint is not needed
to keep training it or to use it as a teacher: each folded Conv(W, b) becomes Conv(W) + BatchNorm whose running
statistics are the measured mean and std of W*x on training images, with gamma = std and beta = mean + b. In eval
mode that BatchNorm is exactly the identity plus b; in train mode, with batch statistics close to the measured
ones, it starts as nearly the identity, so a warm start does not begin by wrecking the net.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .data import load_fer
from .model import ExpressionNet, NetConfig, as_input

# The parts of a manifest's training block that describe how the weights were made (not their scores or int8 form).
PROVENANCE_KEYS = ("dataset", "epochs", "warm_start", "distilled_from_teachers", "teacher_flip_tta",
                   "distilled_from_teacher_cache")


def _conv_weights(model_path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray], int]:
    """(conv weight, bias) in graph order, the classifier (weight, bias), and the number of max-pools."""
    g = onnx.load(str(model_path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    convs, fc, pools = [], None, 0
    for n in g.node:
        if n.op_type == "Conv":
            if len(n.input) < 3:
                raise ValueError(f"{model_path}: Conv {n.name} has no bias; not a folded fer-edge model")
            convs.append((init[n.input[1]], init[n.input[2]]))
        elif n.op_type == "MaxPool":
            pools += 1
        elif n.op_type in ("Gemm", "MatMul"):
            fc = (init[n.input[1]], init[n.input[2]] if len(n.input) > 2 else np.zeros(init[n.input[1]].shape[0]))
    if fc is None or not convs or pools == 0 or len(convs) % pools:
        raise ValueError(f"{model_path}: not an ExpressionNet graph ({len(convs)} convs, {pools} pools)")
    return convs, fc, pools


def unfold_bundle(bundle: Path, images: np.ndarray, dropout: float = 0.3) -> dict:
    """The checkpoint dict (model, config.net, mean, std) of the bundle's network; `images`: (N, 48, 48) uint8."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    mean, std = float(manifest["preprocessing"]["mean"][0]), float(manifest["preprocessing"]["std"][0])
    convs, (fc_w, fc_b), pools = _conv_weights(bundle / manifest["engines"]["onnx"]["file"])
    per_stage = len(convs) // pools
    widths = tuple(int(w.shape[0]) for w, _ in convs[per_stage - 1 :: per_stage])
    cfg = NetConfig(widths=widths, convs_per_stage=per_stage, num_classes=int(fc_w.shape[0]),
                    in_channels=int(convs[0][0].shape[1]), dropout=dropout)
    net = ExpressionNet(cfg).eval()
    blocks = [m for m in net.features if not isinstance(m, torch.nn.MaxPool2d)]
    x = (as_input(torch.from_numpy(images)) - mean) / std
    with torch.no_grad():
        i = 0
        for m in net.features:
            if isinstance(m, torch.nn.MaxPool2d):
                x = m(x)
                continue
            conv, bn = m[0], m[1]  # type: ignore[index]  # a Sequential(conv, bn, relu) block
            w, b = convs[i]
            conv.weight.copy_(torch.from_numpy(w.copy()))
            z = conv(x)
            mu = z.mean(dim=(0, 2, 3)).double()
            var = z.var(dim=(0, 2, 3)).double().clamp_min(1e-6)
            bn.running_mean.copy_(mu)
            bn.running_var.copy_(var - bn.eps)
            bn.weight.copy_(torch.sqrt(var))
            bn.bias.copy_(mu + torch.from_numpy(b.copy()).double())
            x = torch.relu(bn(z))
            i += 1
        assert i == len(blocks)
        net.classifier.weight.copy_(torch.from_numpy(fc_w.copy()))
        net.classifier.bias.copy_(torch.from_numpy(fc_b.copy()))
    return {"model": net.state_dict(), "config": {"net": {"widths": list(widths), "convs_per_stage": per_stage,
            "num_classes": cfg.num_classes, "in_channels": cfg.in_channels, "dropout": dropout}},
            "mean": mean, "std": std, "epoch": 0, "history": [], "labels": list(manifest["labels"]),
            "unfolded_from": f"{manifest['name']} {manifest['version']}",
            # how the weights were trained, so a bundle exported again from them still says so (bundle._training_block)
            "provenance": {k: v for k, v in (manifest.get("training") or {}).items() if k in PROVENANCE_KEYS}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="bundle directory (manifest.json, model.onnx)")
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz) whose Training rows give the BatchNorm statistics")
    ap.add_argument("--cache", help=".npz cache of the CSV (as in training)")
    ap.add_argument("--rows", type=int, default=4096, help="Training rows used for the statistics (default 4096)")
    ap.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    a = ap.parse_args(argv)
    bundle = Path(a.bundle)
    if not (bundle / "manifest.json").is_file():
        raise SystemExit(f"unfold: {bundle} has no manifest.json")
    if not Path(a.data).is_file() and not (a.cache and Path(a.cache).is_file()):
        raise SystemExit(f"unfold: data file {a.data} does not exist")
    # read-only: unfolding needs no FER+ votes, and must not rewrite a training run's cache (which holds them) without
    tr = load_fer(a.data, None, a.cache, read_only_cache=True).select("Training")
    rows = np.random.default_rng(0).permutation(len(tr))[: a.rows]
    ck = unfold_bundle(bundle, tr.images[rows])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, a.out)
    print(f"unfold: wrote {a.out} ({ck['unfolded_from']}, net {ck['config']['net']})", file=sys.stderr)


if __name__ == "__main__":
    main()
