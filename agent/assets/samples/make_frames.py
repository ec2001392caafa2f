#!/usr/bin/env python3
"""Build the demo frame folder agent/assets/samples/frames/ (0001.jpg ...) from the public-domain sample images.

The frames play like a short 640x480 video: the astronaut's face with a slow hand-held drift and zoom, then a
stretch with no face (a blurred pan over the background of camera.png), then the camera man's face. Deterministic:
running it twice writes identical files.

  python3 agent/assets/samples/make_frames.py                  # frames from astronaut.jpg / camera.jpg here
  python3 agent/assets/samples/make_frames.py --import DIR     # first refresh those copies from skimage/data in DIR
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TypedDict

from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
W, H = 640, 480
QUALITY = 80



class ClipSpec(TypedDict):
    file: str
    centre: tuple[float, float]
    crop_w: float
    frames: int


# Face centres and crop widths measured on the 512x512 originals (CenterFace boxes, checked visually).
ASTRONAUT: ClipSpec = {'file': 'astronaut.jpg', 'centre': (226.0, 150.0), 'crop_w': 400.0, 'frames': 12}
CAMERA: ClipSpec = {'file': 'camera.jpg', 'centre': (228.0, 150.0), 'crop_w': 320.0, 'frames': 12}
NO_FACE_FRAMES = 8


def import_originals(src: Path) -> None:
    """Reduced copies of the originals: same 512x512 pixels, JPEG instead of PNG (much smaller)."""
    for name in ('astronaut', 'camera'):
        im = Image.open(src / f'{name}.png').convert('RGB')
        im.save(HERE / f'{name}.jpg', quality=92, optimize=True)


def crop(im: Image.Image, cx: float, cy: float, cw: float) -> Image.Image:
    """A 4:3 crop centred on (cx, cy), shifted to stay inside the image, resized to W x H."""
    ch = cw * H / W
    x0 = min(max(cx - cw / 2, 0.0), im.width - cw)
    y0 = min(max(cy - ch / 2, 0.0), im.height - ch)
    return im.resize((W, H), Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))


def face_clip(spec: ClipSpec, phase: float) -> list[Image.Image]:
    im = Image.open(HERE / spec['file']).convert('RGB')
    cx, cy = spec['centre']
    out = []
    for i in range(spec['frames']):
        t = i + phase
        # Slow drift of a few pixels and +-4 % zoom, like a hand-held camera.
        dx = 9.0 * math.sin(0.55 * t)
        dy = 5.0 * math.sin(0.8 * t + 1.0)
        zoom = 1.0 + 0.04 * math.sin(0.45 * t)
        out.append(crop(im, cx + dx, cy + dy, spec['crop_w'] / zoom))
    return out


def no_face_clip() -> list[Image.Image]:
    """A blurred pan over the sky, buildings and grass on the right of camera.png: scenery, no people."""
    im = Image.open(HERE / CAMERA['file']).convert('RGB')
    out = []
    for i in range(NO_FACE_FRAMES):
        cw = 170.0
        frame = crop(im, 420.0 + 3.0 * i, 190.0 + 1.5 * i, cw)
        out.append(frame.filter(ImageFilter.GaussianBlur(3)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--import', dest='import_dir', type=Path, help='skimage/data folder holding astronaut.png and camera.png')
    args = ap.parse_args()
    if args.import_dir:
        import_originals(args.import_dir)

    frames = face_clip(ASTRONAUT, 0.0) + no_face_clip() + face_clip(CAMERA, 2.0)
    out_dir = HERE / 'frames'
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.glob('*.jpg'):
        old.unlink()
    total = 0
    for i, frame in enumerate(frames, start=1):
        path = out_dir / f'{i:04d}.jpg'
        frame.save(path, quality=QUALITY, optimize=True)
        total += path.stat().st_size
    print(f'{len(frames)} frames, {total / 1024:.0f} KiB in {out_dir}')


if __name__ == '__main__':
    main()
