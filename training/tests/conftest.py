"""Shared fixtures: tiny generated FER2013-style CSVs, a tiny ExpressionNet with randomised BatchNorm, its checkpoint
and bundle. Nothing here reads the real dataset."""
from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_train import FER2013_LABELS
from fer_train.model import ExpressionNet, NetConfig

TINY_NET = {"widths": [4, 8], "convs_per_stage": 2, "num_classes": 7, "in_channels": 1, "dropout": 0.3}


def synthetic_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose brightness pattern depends on the label, so a net can learn something from them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    yy, xx = np.mgrid[0:48, 0:48]
    imgs = []
    for y in labels:
        base = 40 + 25 * y + 20 * np.sin(xx / (3 + y)) + 15 * np.cos(yy / 5)
        imgs.append(np.clip(base + rng.normal(0, 12, (48, 48)), 0, 255).astype(np.uint8))
    return np.stack(imgs), labels


def write_fer_csv(path: Path, images: np.ndarray, labels: np.ndarray, usages: list[str],
                  extra_lines: list[str] | None = None) -> Path:
    lines = ["emotion,pixels,Usage"]
    lines += [f"{y},{' '.join(map(str, im.ravel()))},{u}" for im, y, u in zip(images, labels, usages)]
    lines += extra_lines or []
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def opinionated_teacher(path, favourite: int):
    """A wider net than the student that answers `favourite` whatever it sees."""
    net = ExpressionNet(NetConfig(widths=(8, 16)))
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.fill_(-5.0)
        net.classifier.bias[favourite] = 5.0
    torch.save({"model": net.state_dict(), "config": {"net": asdict(net.cfg)}, "mean": 0.5, "std": 0.25}, path)
    return str(path)


def tiny_split_csv(directory: Path, seed: int) -> Path:
    """56 synthetic faces: 40 Training rows, 16 PublicTest rows."""
    imgs, labels = synthetic_faces(56, seed=seed)
    return write_fer_csv(directory / "tiny.csv.gz", imgs, labels, ["Training"] * 40 + ["PublicTest"] * 16)


def tiny_train_config(csv: Path, **overrides):
    """A two-epoch run of a 4-8 net on `csv`: what the distillation tests train."""
    from fer_train.augment import AugmentConfig
    from fer_train.train import TrainConfig

    base = dict(data_csv=str(csv), ferplus_csv=None, cache=None, epochs=2, batch_size=16, lr=0.05, warmup_epochs=0.5,
                seed=3, net=NetConfig(widths=(4, 8)), aug=AugmentConfig())
    base.update(overrides)
    return TrainConfig(**base)


def random_bn(net: torch.nn.Module, seed: int = 3) -> torch.nn.Module:
    """Non-trivial BN statistics and affine parameters, so skipping or botching the fold changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return net


def tiny_net(seed: int = 0, **overrides) -> ExpressionNet:
    torch.manual_seed(seed)
    cfg = dict(TINY_NET, **overrides)
    cfg["widths"] = tuple(cfg["widths"])
    net = random_bn(ExpressionNet(NetConfig(**cfg)), seed + 3)
    with torch.no_grad():
        net.classifier.weight.mul_(10)  # spread the probabilities
    return net.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A best.pt in the format train.py writes (EMA weights under "model")."""
    d = tmp_path_factory.mktemp("ckpt")
    net = tiny_net()
    history = [{"epoch": e, "train_loss": 2.0 - 0.2 * e, "train_acc": 0.2 + 0.05 * e, "lr": 0.01, "seconds": 1.0,
                "test_acc": 0.2 + 0.04 * e, "test_acc_ema": 0.21 + 0.04 * e} for e in (1, 2, 3)]
    config = {"data_csv": "x.csv", "ferplus_csv": None, "train_usage": "Training", "net": dict(TINY_NET)}
    torch.save({"model": net.state_dict(), "config": config, "mean": 0.48, "std": 0.23, "epoch": 3,
                "history": history}, d / "best.pt")
    return d / "best.pt"


@pytest.fixture(scope="session")
def eval_csv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("evaldata")
    imgs, labels = synthetic_faces(60, seed=11)
    usages = ["PublicTest"] * 40 + ["Training"] * 20
    return write_fer_csv(d / "eval.csv", imgs, labels, usages)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_checkpoint) -> Path:
    from fer_train.bundle import write_bundle
    from fer_train.checkpoint import load_checkpoint

    ck = load_checkpoint(tiny_checkpoint)
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    write_bundle(ck.model, out, name="tiny-net", version="1.2.3", mean=ck.mean, std=ck.std, labels=ck.labels,
                 config=ck.config, epoch=ck.epoch)
    return out


def node_with_tfjs() -> str | None:
    """The node binary when it and @tensorflow/tfjs-layers (repo node_modules) are available, else None."""
    node = shutil.which("node")
    root = Path(__file__).resolve().parents[2]
    if node and (root / "node_modules" / "@tensorflow" / "tfjs-layers").is_dir():
        return node
    return None


LABELS = list(FER2013_LABELS)
