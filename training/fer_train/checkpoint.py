"""Loading the checkpoints written by train.py (`best.pt`: model (EMA weights), config, mean, std, epoch, history)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import FER2013_LABELS
from .model import ExpressionNet, NetConfig


@dataclass
class Checkpoint:
    model: ExpressionNet  # float32, eval mode, on CPU
    mean: float  # of pixel/255 over the training rows
    std: float
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    labels: list[str] = field(default_factory=lambda: list(FER2013_LABELS))
    path: str = ""
    #: Which weights `model` holds: "ema" (the moving average: final.pt, best.pt, or last.pt's "ema") or "raw"
    #: (last.pt's latest SGD step, only when asked for).
    weights: str = "ema"
    #: Per-class output offsets baked into the classifier's bias by fer_train.calibrate (what, fitted on what), if any.
    output_calibration: dict[str, Any] | None = None
    #: For weights unfolded from a bundle (fer_train.unfold): that bundle ("name version") and how it was trained.
    unfolded_from: str = ""
    provenance: dict[str, Any] | None = None


def net_config_from(raw: dict[str, Any] | NetConfig | None) -> NetConfig:
    if isinstance(raw, NetConfig):
        return raw
    raw = dict(raw or {})
    known = set(NetConfig.__dataclass_fields__)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
    return NetConfig(**fields)


def load_checkpoint(path: str | Path, raw: bool = False) -> Checkpoint:
    """The EMA weights: every checkpoint's "model" holds them (last.pt also keeps the raw SGD weights as "raw", which
    `raw=True` asks for), so exporting or evaluating any checkpoint never silently ships the noisier raw weights.
    last.pt files from before that layout ("model" raw, "ema" EMA) read the same way."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    # Only tensors, dicts, lists, tuples and numbers: the safe unpickler is enough.
    ck = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "mean", "std"):
        if key not in ck:
            raise ValueError(f"checkpoint {path} has no {key!r} entry (keys: {sorted(ck)})")
    config = dict(ck.get("config") or {})
    model = ExpressionNet(net_config_from(config.get("net")))
    weights, has_raw = raw_and_ema(ck)
    model.load_state_dict(weights["raw"] if raw and has_raw else weights["ema"])
    model = model.float().eval().to(memory_format=torch.contiguous_format)
    n_classes = model.cfg.num_classes
    labels = list(ck.get("labels") or FER2013_LABELS)
    if len(labels) != n_classes:
        raise ValueError(f"checkpoint {path}: {n_classes} outputs but {len(labels)} labels")
    return Checkpoint(model=model, mean=float(ck["mean"]), std=float(ck["std"]), config=config,
                      history=list(ck.get("history") or []), epoch=int(ck.get("epoch") or 0), labels=labels,
                      path=str(path), weights="raw" if (has_raw and raw) else "ema",
                      output_calibration=ck.get("output_calibration") or None,
                      unfolded_from=str(ck.get("unfolded_from") or ""), provenance=ck.get("provenance") or None)


def raw_and_ema(ck: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """{"ema": ..., "raw": ...} state dicts of a checkpoint in either layout, and whether it has raw weights at all.
    One shape (format 2): "model" = EMA, "raw" = SGD (last.pt only). The earlier last.pt: "model" = SGD, "ema" = EMA."""
    if "raw" in ck:
        return {"ema": ck["model"], "raw": ck["raw"]}, True
    if "ema" in ck:
        return {"ema": ck["ema"], "raw": ck["model"]}, True
    return {"ema": ck["model"], "raw": ck["model"]}, False
