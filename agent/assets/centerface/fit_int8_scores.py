#!/usr/bin/env python3
"""Fits how CenterFace's int8 heat map scores faces against its float32 one, so that `detection.score_threshold`
means the same with either model.

The u8s8r int8 form (7-bit weights, the same integers on every x86 class) scores faces lower than float32: at the
agent's default 0.3 it finds about 7 points fewer faces on generated frames. This script runs both models on frames
with known face boxes (`training/tools/make_frame_set.py --usage Validation`: faces no decision is reported on),
takes each face's peak score in both heat maps, and fits logit(float32) = a * logit(int8) + b over the faces where
either peak is between 0.02 and 0.98 (where a threshold can fall). The agent compares int8 scores with the threshold
mapped back through the fit (`agent/vision/centerface-int8-scores.ts`); the sha256 printed ties the fit to the int8
file it was made for, and a test fails when the two part.

    python3 training/tools/make_frame_set.py --data ../shared/datasets/fer2013/fer2013.csv.gz --usage Validation \\
        --out /tmp/fer-frames-val --count 700 --seed 2
    python3 agent/assets/centerface/fit_int8_scores.py /tmp/fer-frames-val [--size 480x352]

Prints one JSON line: {"sha256", "a", "b", "faces", "size"}.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from prepare import letterboxed  # noqa: E402

STRIDE = 4


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def peak(heatmap: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The highest score among the heat-map cells over the central half of a face box (input pixels)."""
    x, y, w, h = box
    x0, x1 = int((x + w / 4) // STRIDE), int(np.ceil((x + 3 * w / 4) / STRIDE))
    y0, y1 = int((y + h / 4) // STRIDE), int(np.ceil((y + 3 * h / 4) / STRIDE))
    cells = heatmap[max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)]
    return float(cells.max()) if cells.size else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", help="folder of <label>/<n>_b<x>-<y>-<w>-<h>.jpg frames")
    ap.add_argument("--size", default="480x352", help="detector input WxH (the agent's default 480x352)")
    ap.add_argument("--float", default=str(HERE / "centerface.onnx"))
    ap.add_argument("--int8", default=str(HERE / "centerface.int8.onnx"))
    a = ap.parse_args(argv)
    import onnxruntime as ort
    from PIL import Image

    w, h = (int(v) for v in a.size.split("x"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    fp32, int8 = (ort.InferenceSession(p, so) for p in (a.float, a.int8))
    pairs = []
    files = sorted(Path(a.frames).glob("*/*_b*.jpg"))
    if not files:
        print(f"fit_int8_scores: no <label>/<n>_b<x>-<y>-<w>-<h>.jpg frames in {a.frames}", file=sys.stderr)
        return 1
    for f in files:
        m = re.search(r"_b(\d+)-(\d+)-(\d+)-(\d+)\.jpg$", f.name)
        assert m is not None
        bx, by, bw, bh = map(int, m.groups())
        with Image.open(f) as im:
            fw, fh = im.size
        # The letterbox's geometry, as letterboxed() draws it: the frame scaled to fit, centred.
        s = min(w / fw, h / fh)
        ox, oy = (w - round(fw * s)) // 2, (h - round(fh * s)) // 2
        box = (bx * s + ox, by * s + oy, bw * s, bh * s)
        x = letterboxed(str(f), w, h)
        hf = fp32.run(["heatmap"], {"input": x})[0][0, 0]
        hq = int8.run(["heatmap"], {"input": x})[0][0, 0]
        pairs.append((peak(hf, box), peak(hq, box)))
    p = np.array(pairs)
    keep = (p.max(axis=1) > 0.02) & (p.min(axis=1) < 0.98)
    lf, lq = logit(p[keep, 0]), logit(p[keep, 1])
    coef_a, coef_b = np.linalg.lstsq(np.vstack([lq, np.ones_like(lq)]).T, lf, rcond=None)[0]
    sha = hashlib.sha256(Path(a.int8).read_bytes()).hexdigest()
    print(json.dumps({"sha256": sha, "a": round(float(coef_a), 4), "b": round(float(coef_b), 4), "faces": int(keep.sum()), "size": a.size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
