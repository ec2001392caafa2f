"""How many faces of a split have a near-duplicate among the Training rows (FER2013 holds many crops of one photo):
the check that a validation split is not flattered by leaked near-copies of its faces.

    python3 training/tools/near_duplicates.py --data ../shared/datasets/fer2013/fer2013.csv.gz [--usage Validation --usage PublicTest]

Each face is pooled to 24x24, centred and scaled to unit length, so that a copy with other brightness or contrast
still matches; a row's score is its cosine similarity with its nearest Training row (fer_train's "Training": what
remains after Validation is carved out). Prints, per split and threshold, the share of rows at or above it and how
often the nearest Training row carries the same label. No model is involved. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_train.data import read_fer2013  # noqa: E402

THRESHOLDS = (0.90, 0.95, 0.98, 0.995)


def signatures(images: np.ndarray) -> torch.Tensor:
    """(N, 48, 48) uint8 faces -> (N, 576) unit vectors, invariant to brightness and contrast."""
    x = torch.from_numpy(images.astype(np.float32)).reshape(len(images), 1, *images.shape[1:])
    x = torch.nn.functional.avg_pool2d(x, 2).reshape(len(images), -1)
    x = x - x.mean(1, keepdim=True)
    return x / (x.norm(dim=1, keepdim=True) + 1e-6)


def nearest(query: torch.Tensor, base: torch.Tensor, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: the highest cosine similarity with a base row, and that row's index."""
    sims, idx = [], []
    for i in range(0, len(query), chunk):
        best = (query[i:i + chunk] @ base.T).max(dim=1)
        sims.append(best.values)
        idx.append(best.indices)
    return torch.cat(sims).numpy(), torch.cat(idx).numpy()


def summarise(sim: np.ndarray, same_label: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict]:
    rows = []
    for th in thresholds:
        hit = sim >= th
        rows.append({"threshold": th, "rows": int(hit.sum()), "share": float(hit.mean()) if len(sim) else 0.0,
                     "same_label": float(same_label[hit].mean()) if hit.any() else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz)")
    ap.add_argument("--usage", action="append", default=[], help="split to check against Training (repeatable)")
    a = ap.parse_args(argv)
    faces = read_fer2013(a.data, report=False)
    base = faces.select("Training")
    if len(base) == 0:
        raise SystemExit(f"near_duplicates: {a.data} has no Training rows")
    sig = signatures(base.images)
    out: dict[str, object] = {"training_rows": len(base)}
    for usage in a.usage or ["Validation", "PublicTest"]:
        q = faces.select(usage)
        if len(q) == 0:
            raise SystemExit(f"near_duplicates: {a.data} has no {usage} rows")
        sim, idx = nearest(signatures(q.images), sig)
        rows = summarise(sim, q.labels == base.labels[idx])
        out[usage] = {"rows": len(q), "thresholds": rows}
        for r in rows:
            agree = "-" if r["same_label"] is None else f"{r['same_label'] * 100:.1f} %"
            print(f"{usage}: {r['rows']:5d} of {len(q)} rows ({r['share'] * 100:.1f} %) at cosine >= {r['threshold']}; "
                  f"same label as that Training row: {agree}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
