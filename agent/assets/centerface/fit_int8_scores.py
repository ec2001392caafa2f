#!/usr/bin/env python3
"""Fits how CenterFace's int8 heat map scores faces against its float32 one, so that `detection.score_threshold`
means the same with either model at any detector input size.

The u8s8r int8 form (7-bit weights, the same integers on every x86 class) scores faces lower than float32, and by
how much depends on the input size: one mapping fit at 480x352 left int8 finding 3.4 points more faces than float32
at 320x256 and 3.0 points fewer at 640x480. This script runs both models at several input sizes on frames with known
face boxes (`training/tools/make_frame_set.py --usage Validation`: faces no decision is reported on) and scores each
face in both as `fer-agent eval --frames` finds it: the best cell whose decoded box overlaps the true box. Per size
and per float32 threshold T (0.15-0.6) it finds the int8 threshold t that passes the same share of faces (quantile
matching: the threshold decides which faces are found, so it is their share that must agree), and fits
logit(T) = a * logit(t) + b to that size's pairs. The agent interpolates a and b between the sizes fitted, linearly in ln(width x
height), and takes the nearest end's outside them. (One formula linear in ln(width x height) over all sizes lagged
the measured thresholds by up to 0.02, about 2 points of faces at 480x352, and face size in input pixels does not
explain the differences: binned by it, the sizes still disagree.) The agent compares int8 scores with the threshold
mapped back through the fit (`agent/vision/centerface-int8-scores.ts`); the sha256 printed ties the fit to the int8
file it was made for, and a test fails when the two part.

    python3 training/tools/make_frame_set.py --data ../shared/datasets/fer2013/fer2013.csv.gz --usage Validation \\
        --out /tmp/fer-frames-valall --seed 4
    python3 agent/assets/centerface/fit_int8_scores.py /tmp/fer-frames-valall [--sizes 256x192,...,800x608]

Prints each size's quantile-matched thresholds and the share of faces each model passes in follow regions, then one
JSON line: {"sha256", "sizes": [{"pixels", "a", "b"}...], "faces"}.
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
MATCH_IOU = 0.3  # evaluation/frame-score.ts
MIN_FACE_PX = 24  # detection.min_face_px's default, in frame pixels
OUTPUTS = ["heatmap", "scale", "offset"]


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def match_score(out: list[np.ndarray], box: tuple[float, float, float, float], min_side: float) -> float:
    """The face's score as `fer-agent eval --frames` would find it: the highest heat-map score among the cells whose
    decoded box (agent/vision/centerface-decode.ts) overlaps the true box by IoU >= 0.3 (evaluation/frame-score.ts)
    and is at least min_side on its shorter side (detection.min_face_px); 0 when none does."""
    heat, scale, offset = out[0][0, 0], out[1][0], out[2][0]
    ys, xs = np.nonzero(heat > 0.01)
    if ys.size == 0:
        return 0.0
    bh, bw = np.exp(scale[0, ys, xs]) * STRIDE, np.exp(scale[1, ys, xs]) * STRIDE
    cy, cx = (ys + offset[0, ys, xs] + 0.5) * STRIDE, (xs + offset[1, ys, xs] + 0.5) * STRIDE
    x0, y0 = cx - bw / 2, cy - bh / 2
    tx, ty, tw, th = box
    iw = np.clip(np.minimum(x0 + bw, tx + tw) - np.maximum(x0, tx), 0, None)
    ih = np.clip(np.minimum(y0 + bh, ty + th) - np.maximum(y0, ty), 0, None)
    inter = iw * ih
    iou = inter / (bw * bh + tw * th - inter)
    ok = (iou >= MATCH_IOU) & (np.minimum(bw, bh) >= min_side)
    return float(heat[ys, xs][ok].max()) if ok.any() else 0.0


SIZES = "256x192,320x256,416x320,480x352,640x480,800x608"
THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


def face_scores(fp32, int8, files: list[Path], w: int, h: int) -> np.ndarray:
    """Each face's (float32, int8) score at input size w x h, as the agent's evaluation would match it."""
    from PIL import Image
    out = []
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
        out.append((match_score(fp32.run(OUTPUTS, {"input": x}), box, MIN_FACE_PX * s), match_score(int8.run(OUTPUTS, {"input": x}), box, MIN_FACE_PX * s)))
    return np.array(out)


def matched_thresholds(p: np.ndarray) -> list[tuple[float, float]]:
    """(T, t) pairs: the int8 threshold t that passes the same share of faces as float32's T."""
    return [(t_float, float(np.quantile(p[:, 1], 1 - float((p[:, 0] > t_float).mean())))) for t_float in THRESHOLDS]


def region_scores(fp32, int8, files: list[Path], side: int) -> np.ndarray:
    """Each face's (float32, int8) score in a follow region: a square twice the face's size around it, resized to
    side x side (agent/vision/centerface-detector.ts, detectRegions), scored over the central half of the face."""
    from PIL import Image
    out = []
    for f in files:
        m = re.search(r"_b(\d+)-(\d+)-(\d+)-(\d+)\.jpg$", f.name)
        assert m is not None
        bx, by, bw, _ = map(int, m.groups())
        cx, cy, half = bx + bw / 2, by + bw / 2, bw
        with Image.open(f) as im:
            crop = im.convert("RGB").crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
        x = np.ascontiguousarray(np.asarray(crop.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32).transpose(2, 0, 1)[None])
        box = (side / 4, side / 4, side / 2, side / 2)
        out.append(tuple(peak(sess.run(["heatmap"], {"input": x})[0][0, 0], box) for sess in (fp32, int8)))
    return np.array(out)


def peak(heatmap: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The highest score among the heat-map cells over the central half of a box (input pixels)."""
    x, y, w, h = box
    x0, x1 = int((x + w / 4) // STRIDE), int(np.ceil((x + 3 * w / 4) / STRIDE))
    y0, y1 = int((y + h / 4) // STRIDE), int(np.ceil((y + 3 * h / 4) / STRIDE))
    return float(heatmap[max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)].max())


def fit_size(pixels: int, pairs: list[tuple[float, float]]) -> dict[str, float]:
    """logit(T) = a * logit(t) + b over one input size's (T, t) pairs, least squares."""
    l_float, l_int8 = (logit(np.array(v, dtype=np.float64)) for v in zip(*pairs))
    coef_a, coef_b = np.linalg.lstsq(np.vstack([l_int8, np.ones_like(l_int8)]).T, l_float, rcond=None)[0]
    return {"pixels": pixels, "a": round(float(coef_a), 4), "b": round(float(coef_b), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("frames", help="folder of <label>/<n>_b<x>-<y>-<w>-<h>.jpg frames")
    ap.add_argument("--sizes", default=SIZES, help=f"detector input sizes WxH, multiples of 32 (default {SIZES})")
    ap.add_argument("--region-input", type=int, default=128,
                    help="also report faces passed in follow regions of this side (below the sizes fitted: the smallest size's fit applies)")
    ap.add_argument("--float", default=str(HERE / "centerface.onnx"))
    ap.add_argument("--int8", default=str(HERE / "centerface.int8.onnx"))
    a = ap.parse_args(argv)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    fp32, int8 = (ort.InferenceSession(p, so) for p in (a.float, a.int8))
    files = sorted(Path(a.frames).glob("*/*_b*.jpg"))
    if not files:
        print(f"fit_int8_scores: no <label>/<n>_b<x>-<y>-<w>-<h>.jpg frames in {a.frames}", file=sys.stderr)
        return 1
    table = []
    for size in a.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        pairs = matched_thresholds(face_scores(fp32, int8, files, w, h))
        print(f"{size}: " + ", ".join(f"{tf} -> {tq:.3f}" for tf, tq in pairs), file=sys.stderr)
        table.append(fit_size(w * h, pairs))
    if a.region_input:
        rs = region_scores(fp32, int8, files, a.region_input)
        smallest = min(table, key=lambda e: e["pixels"])
        for t_float in (0.3, 0.5):
            t_int8 = 1 / (1 + np.exp(-((logit(np.array(t_float)) - smallest["b"]) / smallest["a"])))
            print(f"regions {a.region_input}x{a.region_input}: at {t_float} float32 passes {(rs[:, 0] > t_float).mean():.1%} of the faces, "
                  f"int8 at {t_int8:.3f} (the smallest size's fit) {(rs[:, 1] > t_int8).mean():.1%}", file=sys.stderr)
    sha = hashlib.sha256(Path(a.int8).read_bytes()).hexdigest()
    print(json.dumps({"sha256": sha, "sizes": table, "faces": len(files)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
