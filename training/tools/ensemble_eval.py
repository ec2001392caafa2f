"""PublicTest accuracy of checkpoints and of their ensemble (mean of probabilities): how strong a distillation
teacher would be before hours are spent training a student on it.

    python3 training/tools/ensemble_eval.py --data ../shared/datasets/fer2013/fer2013.csv.gz \\
        --checkpoint runs/wide-a/final.pt --checkpoint runs/ban-1/final.pt [--flip] [--cache runs/cache/fer2013.npz]

Each checkpoint uses its own mean/std and width; `--flip` averages each net with its mirrored input (flip TTA).
`--view NAME` (repeatable; fer_train.teacher_cache's views: plain, flip, zoom, zoom+flip, right, left+flip, ...)
averages each net over exactly those views instead: `--view zoom` alone is one zoomed view, no plain face.
The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_train.checkpoint import load_checkpoint  # noqa: E402
from fer_train.data import load_fer  # noqa: E402
from fer_train.teacher_cache import checkpoint_logits, probs_from_logits, view  # noqa: E402
from fer_train.train import predict_proba  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz)")
    ap.add_argument("--checkpoint", action="append", required=True, help="a checkpoint (repeat for an ensemble)")
    ap.add_argument("--usage", default="PublicTest")
    ap.add_argument("--flip", action="store_true", help="flip TTA for every member")
    ap.add_argument("--view", action="append", default=[], help="a view (repeat to average several); overrides --flip")
    ap.add_argument("--cache", help=".npz cache of the CSV (read only)")
    a = ap.parse_args(argv)
    for v in a.view:
        try:
            view(torch.zeros(1, 1, 48, 48), v)
        except ValueError as e:
            print(f"ensemble_eval: {e}", file=sys.stderr)
            return 1
    try:
        te = load_fer(a.data, None, a.cache, read_only_cache=True).select(a.usage)
    except (FileNotFoundError, ValueError) as e:
        print(f"ensemble_eval: {e}", file=sys.stderr)
        return 1
    if len(te) == 0:
        print(f"ensemble_eval: no rows with Usage={a.usage!r} in {a.data}", file=sys.stderr)
        return 1
    cpu = torch.device("cpu")
    total: np.ndarray | None = None
    members = []
    for path in a.checkpoint:
        ck = load_checkpoint(path)
        if a.view:
            p = probs_from_logits(checkpoint_logits(ck, te.images, a.view)[:, None], 1.0).numpy()
        else:
            p = predict_proba(ck.model, te.images, ck.mean, ck.std, cpu, flip_tta=a.flip, precision="fp32")
        acc = float((p.argmax(1) == te.labels).mean())
        members.append({"checkpoint": path, "accuracy": round(acc, 4)})
        print(f"{path}: {acc:.4f}", file=sys.stderr)
        total = p if total is None else total + p
    assert total is not None
    ens = float((total.argmax(1) == te.labels).mean())
    how = f" over views {', '.join(a.view)}" if a.view else " with flip TTA" if a.flip else ""
    print(f"ensemble of {len(members)}{how}: {ens:.4f} on {len(te)} {a.usage} rows", file=sys.stderr)
    print(json.dumps({"usage": a.usage, "n": len(te), "flip_tta": a.flip and not a.view, "views": a.view or None,
                      "members": members, "ensemble_accuracy": round(ens, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
