"""Batched augmentation on tensors, suited to faces cut out by a detector.

One affine warp per sample (scale jitter, small rotation, shift, horizontal flip) via affine_grid/grid_sample,
then brightness/contrast and random erasing. Doing it per batch keeps the 2-core CPU busy with the network
rather than with per-image Python.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    scale: tuple[float, float] = (0.85, 1.15)  # zoom: a detector's box is never exactly the training crop
    max_rotate_deg: float = 12.0
    max_shift: float = 0.08  # fraction of the side
    flip: bool = True
    brightness: float = 0.25
    contrast: float = 0.25
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None = None) -> torch.Tensor:
    """x: (N, 1, H, W) float in [0, 1]. Returns a new tensor of the same shape."""
    n, _, h, w = x.shape
    dev = x.device

    def u(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return torch.rand(size, generator=gen, device=dev) * (hi - lo) + lo

    s = u(*cfg.scale)
    a = u(-cfg.max_rotate_deg, cfg.max_rotate_deg) * math.pi / 180
    tx, ty = u(-cfg.max_shift, cfg.max_shift) * 2, u(-cfg.max_shift, cfg.max_shift) * 2
    flip = torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n, device=dev)
    cos, sin = torch.cos(a) / s, torch.sin(a) / s
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    c = u(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    b = u(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1) * 0.5
    y = ((y - mean) * c + mean + b).clamp(0, 1)

    if cfg.erase_p > 0:
        area = u(*cfg.erase_area) * h * w
        ratio = torch.exp(u(math.log(0.3), math.log(3.3)))
        eh = (area * ratio).sqrt().clamp(1, h).long()
        ew = (area / ratio).sqrt().clamp(1, w).long()
        y0 = (torch.rand(n, generator=gen, device=dev) * (h - eh + 1)).long()
        x0 = (torch.rand(n, generator=gen, device=dev) * (w - ew + 1)).long()
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        box = (rows >= y0.view(n, 1, 1)) & (rows < (y0 + eh).view(n, 1, 1)) & (cols >= x0.view(n, 1, 1)) & (cols < (x0 + ew).view(n, 1, 1))
        apply = (torch.rand(n, generator=gen, device=dev) < cfg.erase_p).view(n, 1, 1)
        noise = torch.rand(y.shape, generator=gen, device=dev)
        y = torch.where((box & apply).unsqueeze(1), noise, y)
    return y
