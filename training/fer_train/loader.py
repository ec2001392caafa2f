"""Feeding the training loop: one batch of faces and targets per step, prepared off the training thread.

The epoch's batch order is decided up front (`iter_batches` with the epoch's seeded generator), so what a step sees
does not depend on how many workers prepare batches or in what order they finish: a run with workers gives exactly
the curve of a run without. Workers only gather rows and build the soft targets (cheap here: 48x48 uint8 faces);
augmentation runs on the training device, batched. On CUDA the batches come in pinned memory and are copied with
`non_blocking=True`, so the copy of step n+1 overlaps the kernels of step n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .data import FaceSet
from .model import as_input


@dataclass
class Batch:
    images: torch.Tensor  # (N, 1, H, W) float in [0, 1], on the device
    targets: torch.Tensor  # (N, classes) float: one-hot mixed with FER+ votes
    labels: torch.Tensor  # (N,) int64, on the device: the FER2013 label, for the running accuracy
    rows: torch.Tensor  # (N,) int64, on the device: the rows' indices in the training set (for cached soft targets)


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, n_classes: int, w: float) -> torch.Tensor:
    """(1 - w) * one-hot(label) + w * FER+ vote distribution, for rows that have votes; one-hot otherwise."""
    y = F.one_hot(torch.from_numpy(labels).long(), n_classes).float()
    if votes is not None and w > 0:
        v = torch.from_numpy(votes).float()
        has = (v.sum(1, keepdim=True) > 0).float()
        y = (1 - w * has) * y + w * has * v
    return y


class _Steps(Dataset):
    """Item i is step i's batch (already chosen): the DataLoader runs with batch_size=None and adds no batching."""

    def __init__(self, fs: FaceSet, steps: list[np.ndarray], n_classes: int, ferplus_weight: float) -> None:
        self.fs, self.steps, self.n_classes, self.w = fs, steps, n_classes, ferplus_weight

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = self.steps[i]
        images = torch.from_numpy(np.ascontiguousarray(self.fs.images[idx]))
        labels = torch.from_numpy(self.fs.labels[idx].astype(np.int64))
        votes = None if self.fs.votes is None else self.fs.votes[idx]
        rows = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        return images, soft_targets(self.fs.labels[idx], votes, self.n_classes, self.w), labels, rows


class BatchStream:
    """Iterates the given steps' batches on `device`; `workers` processes prepare them ahead (0: in this process)."""

    def __init__(self, fs: FaceSet, steps: list[np.ndarray], n_classes: int, ferplus_weight: float,
                 device: torch.device, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"--workers must be 0 or more (got {workers})")
        self.device = device
        self.loader = DataLoader(_Steps(fs, steps, n_classes, ferplus_weight), batch_size=None, shuffle=False,
                                 num_workers=workers, pin_memory=device.type == "cuda",
                                 prefetch_factor=4 if workers else None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        nb = self.device.type == "cuda"
        for images, targets, labels, rows in self.loader:
            x = as_input(images.to(self.device, non_blocking=nb))
            yield Batch(x, targets.to(self.device, non_blocking=nb), labels.to(self.device, non_blocking=nb),
                        rows.to(self.device, non_blocking=nb))
