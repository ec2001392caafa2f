#!/usr/bin/env python3
"""Builds a labelled set of whole camera-like frames from FER2013 PublicTest faces, for `fer-agent eval --frames`.

python3 training/tools/make_frame_set.py --data FER2013.csv.gz --out DIR [--count 1000] [--seed 1] [--size 640x480]
    [--usage PublicTest|Validation] [--exclude SEED:COUNT] [--roll DEG]

Each frame is DIR/<label>/<n>_b<x>-<y>-<w>-<h>.jpg: one PublicTest face (or, with --usage Validation, one face of
the tenth carved from Training that no model since 1.4.0 trains on; never another Training row) scaled to 40-200
pixels (log-uniform, as faces 1-5 m from a home camera), placed anywhere in the frame on a generated background
(gradients, soft blobs, furniture-like boxes, sensor noise), its edges feathered into the background, with the
frame's brightness and contrast changed (dim room to backlight), sometimes blurred (focus, motion), and saved as
JPEG at camera-like quality. The file name carries the true face box (the pasted 48x48 crop), so the evaluation can
tell a found face from a false positive and measure where the detector's box falls on the face. `--roll DEG` tilts
each face in the image plane by up to DEG degrees either way (head roll: someone leaning or lying on a sofa), turned
about its centre inside the same square (mirror-padded, so no blank corners), so the file name's box still holds it;
the tilts have their own random stream, so the set is the one made without --roll, faces tilted.

What it cannot show: FER2013 crops are tightly framed grayscale faces, so the detector never sees hair, ears, neck,
shoulders or colour, and the face is a flat picture in the scene (no pose, lighting or occlusion that is not already
in the crop). Absolute detection rates are therefore lower than on real frames of people, and the numbers are for
ranking settings (detector size, threshold, crop margin) against each other, not for promising an accuracy at home.
The images come from FER2013: never commit them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fer_train import FER2013_LABELS  # noqa: E402
from fer_train.data import load_fer  # noqa: E402
from fer_train.roll import rolled  # noqa: E402


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, 3).astype(np.float32)
    tilt = rng.uniform(-60, 60, (2, 3)).astype(np.float32)
    img = base + tilt[0] * (xx / w)[..., None] + tilt[1] * (yy / h)[..., None]
    for _ in range(rng.integers(2, 7)):  # soft blobs: lamps, windows, walls in shade
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(30, 250)
        img += rng.uniform(-70, 70, 3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
    for _ in range(rng.integers(1, 6)):  # boxes: furniture, doors, pictures
        x0, y0 = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        x1, y1 = x0 + int(rng.uniform(20, w / 2)), y0 + int(rng.uniform(20, h / 2))
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * 0.4 + rng.uniform(20, 230, 3) * 0.6
    return img


def feather_mask(s: int) -> np.ndarray:
    """1 inside, falling to 0 over the outer ~12% of the square, so the face has no hard rectangular edge."""
    r = np.minimum(np.arange(s), np.arange(s)[::-1]).astype(np.float32) / max(1.0, 0.12 * s)
    m = np.clip(np.minimum(r[None, :], r[:, None]), 0, 1)
    return m * m * (3 - 2 * m)


def make_frame(face: np.ndarray, rng: np.random.Generator, w: int, h: int,
               roll_deg: float = 0.0) -> tuple[Image.Image, tuple[int, int, int]]:
    s = int(round(np.exp(rng.uniform(np.log(40), np.log(200)))))
    x, y = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
    img = background(rng, w, h)
    face = rolled(face, roll_deg)
    f = np.asarray(Image.fromarray(face).resize((s, s), Image.Resampling.BICUBIC), dtype=np.float32)
    m = feather_mask(s)[..., None]
    img[y : y + s, x : x + s] = img[y : y + s, x : x + s] * (1 - m) + f[..., None] * m
    gain, offset = rng.uniform(0.45, 1.3), rng.uniform(-30, 30)  # dim room .. bright, backlight
    img = img * gain + offset + rng.normal(0, rng.uniform(1, 7), img.shape)  # sensor noise
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.4:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.8)))
    return out, (x, y, s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz); only its --usage rows are used")
    ap.add_argument("--usage", default="PublicTest", choices=["PublicTest", "Validation"],
                    help="PublicTest (to report on) or Validation (the tenth carved from Training, to decide on)")
    ap.add_argument("--out", required=True, help="folder to write (one subfolder per label)")
    ap.add_argument("--count", type=int, default=0, help="frames to make (a fixed random choice of rows; 0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude", default="", metavar="SEED:COUNT",
                    help="leave out the rows that --seed SEED --count COUNT draws (a set to check a fit made on that one); "
                         "the other frames are the ones this seed makes without it")
    ap.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    ap.add_argument("--roll", type=float, default=0.0, metavar="DEG", help="tilt each face by up to DEG degrees either way")
    a = ap.parse_args(argv)
    if not 0 <= a.roll <= 90:
        print(f"make_frame_set: --roll {a.roll:g} is outside 0-90 degrees", file=sys.stderr)
        return 2
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        print(f"make_frame_set: --size {a.size!r} is not WxH", file=sys.stderr)
        return 2
    if w < 200 or h < 200:
        print(f"make_frame_set: --size {a.size} is too small for 200-pixel faces", file=sys.stderr)
        return 2
    if not Path(a.data).is_file():
        print(f"make_frame_set: {a.data} does not exist", file=sys.stderr)
        return 1
    te = load_fer(a.data).select(a.usage)
    if len(te) == 0:
        print(f"make_frame_set: {a.data} has no {a.usage} rows", file=sys.stderr)
        return 1
    excluded: set[int] = set()
    if a.exclude:
        try:
            ex_seed, ex_count = (int(v) for v in a.exclude.split(":"))
        except ValueError:
            print(f"make_frame_set: --exclude {a.exclude!r} is not SEED:COUNT", file=sys.stderr)
            return 2
        excluded = set(np.random.default_rng(ex_seed).permutation(len(te))[:ex_count].tolist())
    rng = np.random.default_rng(a.seed)
    # Tilts come from their own stream: a set made with --roll has the same faces, boxes and scenes as without it.
    roll_rng = np.random.default_rng([a.seed, 1])
    rows = rng.permutation(len(te))[: a.count] if a.count else np.arange(len(te))
    out = Path(a.out)
    for lab in FER2013_LABELS:
        (out / lab).mkdir(parents=True, exist_ok=True)
    written = 0
    for n, i in enumerate(rows):
        roll_deg = float(roll_rng.uniform(-a.roll, a.roll)) if a.roll else 0.0
        img, (x, y, s) = make_frame(te.images[i], rng, w, h, roll_deg)  # made even when left out, so the others stay the same
        if int(i) in excluded:
            continue
        img.save(out / FER2013_LABELS[te.labels[i]] / f"{n:05d}_b{x}-{y}-{s}-{s}.jpg", quality=a.quality)
        written += 1
    left_out = f" ({len(rows) - written} rows of --exclude {a.exclude} left out)" if a.exclude else ""
    print(f"make_frame_set: wrote {written} frames of {w}x{h} to {out}{left_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
