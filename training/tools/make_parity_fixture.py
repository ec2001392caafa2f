#!/usr/bin/env python3
"""Writes a small engine-parity fixture: OUTDIR/bundle (a complete fer-edge bundle of a tiny ExpressionNet) and
OUTDIR/parity.json ({"inputs_b64": [48x48 uint8 images], "expected": [[probabilities]]}). The bundle also carries
an int8 model (engines.onnx_int8) calibrated on generated images.

Usage: python3 training/tools/make_parity_fixture.py OUTDIR

The net (widths 8-16, seed 0) has randomised BatchNorm statistics and affine parameters, so a wrong or missing BN
fold in either exported engine shows up as a mismatch. `expected` is PyTorch float32 eval mode on the unfolded net,
after the manifest's preprocessing; the agent's tests compare onnxruntime-node and tfjs against it at 1e-4.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fer_train import FER2013_LABELS  # noqa: E402
from fer_train.bundle import write_bundle  # noqa: E402
from fer_train.model import ExpressionNet, NetConfig  # noqa: E402
from fer_train.selftest import preprocess, selftest_images, torch_probabilities  # noqa: E402

MEAN, STD = 0.5077, 0.2550


def tiny_net(seed: int = 0) -> ExpressionNet:
    torch.manual_seed(seed)
    net = ExpressionNet(NetConfig(widths=(8, 16), convs_per_stage=2, in_channels=1, num_classes=len(FER2013_LABELS)))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.6 - 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.25)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
        net.classifier.weight.mul_(15)  # spread the probabilities so parity is not checked on near-uniform outputs
    return net.eval()


def parity_images() -> list[np.ndarray]:
    """The bundle's 4 self-test drawings plus 4 more: dark, bright, a horizontal ramp and different noise."""
    rng = np.random.default_rng(7)
    ramp = np.tile(np.linspace(0, 255, 48), (48, 1))
    extra = [rng.integers(0, 60, (48, 48)), rng.integers(190, 256, (48, 48)), ramp, rng.integers(0, 256, (48, 48))]
    return selftest_images(48, 1) + [np.rint(e).astype(np.uint8)[:, :, None] for e in extra]


def calibration_images() -> np.ndarray:
    """Generated stand-ins for Training faces, so the fixture also carries an int8 model (agent int8 paths)."""
    rng = np.random.default_rng(11)
    blocks = rng.integers(0, 256, (64, 8, 8))
    return np.stack([np.kron(b, np.ones((6, 6))) for b in blocks]).astype(np.uint8)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    net = tiny_net()
    write_bundle(net, out / "bundle", name="parity-fixture", version="0.0.0", mean=MEAN, std=STD,
                 labels=list(FER2013_LABELS), dataset="none: random weights for engine parity tests",
                 created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), force=True, calib_images=calibration_images(),
                 calib_source="64 generated images (blocky noise)")
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    pre = manifest["preprocessing"]
    images = parity_images()
    expected = torch_probabilities(net, preprocess(images, pre["mean"], pre["std"], pre["scale"]))
    fixture = {
        "width": 48, "height": 48, "channels": 1,
        "inputs_b64": [base64.b64encode(im.tobytes()).decode("ascii") for im in images],
        "expected": [[float(v) for v in row] for row in expected],
    }
    (out / "parity.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote {out / 'bundle'} and {out / 'parity.json'} ({len(images)} inputs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
