"""Teachers for distillation and the student's view of a net: normalisation, batched softmax predictions (optionally
with flip TTA), online teacher ensembles and cached teacher probabilities."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint
from .config import TrainConfig
from .data import FaceSet
from .model import as_input
from .precision import autocast_ctx
from .teacher_cache import load_teacher_cache


def normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return (x - mean) / std


@torch.no_grad()
def predict_proba(model: torch.nn.Module, images: np.ndarray, mean: float, std: float, device: torch.device,
                  flip_tta: bool = False, batch: int = 512, precision: str | None = None) -> np.ndarray:
    """Softmax outputs; `precision` (default: the training run's) may force "fp32" for a reference."""
    model.eval()
    out = []
    for s in range(0, len(images), batch):
        x = as_input(torch.from_numpy(images[s : s + batch]).to(device))
        x = normalise(x, mean, std).contiguous(memory_format=torch.channels_last)
        with autocast_ctx(device, precision):
            p = F.softmax(model(x).float(), dim=1)
            if flip_tta:
                p = (p + F.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(p.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


class Teachers:
    """One or more trained checkpoints whose averaged, temperature-softened predictions the student learns from.

    Each teacher normalises the augmented batch with its own mean/std and may have any width: the usual set-up is a
    wider net (or an ensemble) trained on a workstation, distilled into the edge net that has to run at camera speed.
    """

    def __init__(self, paths: list[str] | str, device: torch.device, num_classes: int, flip_tta: bool = False) -> None:
        self.flip_tta = flip_tta
        # `--set teachers=one.pt` arrives as a plain string: one teacher, not one per character.
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.members = []
        for p in paths:
            if not Path(p).is_file():
                raise SystemExit(f"config: teacher checkpoint {p} does not exist")
            ck = load_checkpoint(p)
            if ck.model.cfg.num_classes != num_classes:
                raise SystemExit(f"config: teacher checkpoint {p} has {ck.model.cfg.num_classes} outputs, the student {num_classes}")
            net = ck.model.to(device).to(memory_format=torch.channels_last).eval()
            for q in net.parameters():
                q.requires_grad_(False)
            self.members.append((net, ck.mean, ck.std, p))

    def __len__(self) -> int:
        return len(self.members)

    @torch.no_grad()
    def probs(self, raw: torch.Tensor, temperature: float) -> torch.Tensor:
        """raw: the augmented batch in [0, 1], before normalisation."""
        total = None
        for net, mean, std, _ in self.members:
            x = normalise(raw, mean, std).contiguous(memory_format=torch.channels_last)
            with autocast_ctx(raw.device):
                p = F.softmax(net(x).float() / temperature, dim=1)
                if self.flip_tta:  # a mirrored face has the same expression: a cheap, stronger teacher
                    p = (p + F.softmax(net(torch.flip(x, dims=[3])).float() / temperature, dim=1)) / 2
            total = p if total is None else total + p
        assert total is not None, "probs() needs at least one teacher"
        return total / len(self.members)

    def report(self, te: FaceSet, device: torch.device) -> None:
        """Each teacher's test accuracy and the ensemble's, so a weak teacher is seen before hours are spent on it."""
        if not len(te):
            return
        ens: np.ndarray | None = None
        for net, mean, std, p in self.members:
            pr = predict_proba(net, te.images, mean, std, device, flip_tta=self.flip_tta)
            ens = pr if ens is None else ens + pr
            print(f"teacher {p}: accuracy {(pr.argmax(1) == te.labels).mean():.4f}", file=sys.stderr)
        if len(self.members) > 1 and ens is not None:
            print(f"teacher ensemble: accuracy {(ens.argmax(1) == te.labels).mean():.4f}", file=sys.stderr)


def cached_teacher_probs(cfg: TrainConfig, tr: FaceSet, temperature: float, device: torch.device,
                         report: bool) -> torch.Tensor | None:
    """(rows, classes) teacher probabilities at `temperature` from `teacher_cache`, checked against the training rows."""
    if not cfg.teacher_cache:
        return None
    st = load_teacher_cache(cfg.teacher_cache)
    st.check_rows(tr, cfg.teacher_cache)
    if st.logits.shape[-1] != cfg.net.num_classes:
        raise SystemExit(f"config: teacher_cache {cfg.teacher_cache} has {st.logits.shape[-1]} classes, the student {cfg.net.num_classes}")
    if report:
        for m in st.meta.get("teachers", []):
            print(f"cached teacher {m.get('checkpoint')}: test acc {m.get('test_acc')}", file=sys.stderr)
        print(f"cached teacher ensemble ({len(st.meta.get('views', []))} views): test acc {st.meta.get('ensemble_test_acc')}",
              file=sys.stderr)
    return st.probs(temperature).to(device)
