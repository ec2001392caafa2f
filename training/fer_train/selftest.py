"""Deterministic self-test inputs and the manifest's preprocessing, shared by bundle.py, evaluate.py and the tools.

Inputs are drawn here (two cartoon faces, blocky noise, uniform noise), never taken from a dataset, so a bundle
carries no FER2013 pixels. Images are uint8 [H, W, C] (channels interleaved, as an image buffer stores them).
"""
from __future__ import annotations

import numpy as np
import torch

SCALE = 1.0 / 255.0


def _cartoon_face(size: int, smile: float, mouth_open: float, brow_raise: float, light: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    img = 50 + 50 * yy  # background: vertical gradient
    face = ((xx - 0.5) / 0.36) ** 2 + ((yy - 0.52) / 0.46) ** 2 <= 1
    img = np.where(face, 165 + light * 70 * (xx - 0.5), img)
    for cx in (0.34, 0.66):
        eye = ((xx - cx) / 0.07) ** 2 + ((yy - 0.42) / 0.035 / (1 + brow_raise)) ** 2 <= 1
        img = np.where(eye, 35, img)
        brow_y = 0.33 - 0.05 * brow_raise + 0.04 * (xx - cx) * (1 if cx < 0.5 else -1) * (1 - brow_raise)
        brow = (np.abs(yy - brow_y) < 0.018) & (np.abs(xx - cx) < 0.09)
        img = np.where(brow, 60, img)
    nose = (np.abs(xx - 0.5) < 0.02) & (yy > 0.45) & (yy < 0.6)
    img = np.where(nose, img - 35, img)
    mouth_y = 0.74 - smile * 0.5 * (xx - 0.5) ** 2 / 0.04
    lips = (np.abs(yy - mouth_y) < 0.02 + 0.06 * mouth_open) & (np.abs(xx - 0.5) < 0.16)
    img = np.where(lips, 70 - 40 * mouth_open, img)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def selftest_images(size: int = 48, channels: int = 1, seed: int = 20261125) -> list[np.ndarray]:
    """Four uint8 [size, size, channels] images: smiling face, surprised side-lit face, blocky noise, noise."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(size // 6 + 1, size // 6 + 1))
    grays = [
        _cartoon_face(size, smile=0.12, mouth_open=0.0, brow_raise=0.0, light=0.0),
        _cartoon_face(size, smile=0.0, mouth_open=0.8, brow_raise=1.0, light=1.0),
        np.kron(blocks, np.ones((6, 6)))[:size, :size].astype(np.uint8),
        rng.integers(0, 256, size=(size, size), dtype=np.uint8),
    ]
    out = []
    for g in grays:
        if channels == 1:
            out.append(g[:, :, None].copy())
        else:  # a slight per-channel tint so the channels are not identical
            out.append(np.stack([np.clip(g.astype(int) + d, 0, 255).astype(np.uint8) for d in (12, 0, -12)][:channels], 2))
    return out


def preprocess(images_hwc: list[np.ndarray] | np.ndarray, mean: list[float], std: list[float],
               scale: float = SCALE) -> np.ndarray:
    """uint8 [N,H,W,C] (or a list of [H,W,C]) -> float32 NCHW, x = (pixel * scale - mean[c]) / std[c]."""
    x = np.stack(list(images_hwc)).astype(np.float32) if isinstance(images_hwc, list) else images_hwc.astype(np.float32)
    m = np.asarray(mean, dtype=np.float32).reshape(1, 1, 1, -1)
    s = np.asarray(std, dtype=np.float32).reshape(1, 1, 1, -1)
    x = (x * np.float32(scale) - m) / s
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@torch.no_grad()
def torch_probabilities(model: torch.nn.Module, x_nchw: np.ndarray, batch: int = 256) -> np.ndarray:
    """Float32, eval-mode softmax of an ExpressionNet (its own weights, BN unfolded)."""
    model = model.float().eval()
    out = [torch.softmax(model(torch.from_numpy(x_nchw[s : s + batch]).float()), dim=1).numpy()
           for s in range(0, len(x_nchw), batch)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
