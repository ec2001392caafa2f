"""How a bundle's accuracy falls as faces tilt in the image plane (head roll), on a split's faces: how far a camera
may see a tilted head before the expression net, which trains on faces rotated by up to 12 degrees, loses accuracy.

    python3 training/tools/roll_sensitivity.py --bundle agent/assets/models/fer-default \\
        --data ../shared/datasets/fer2013/fer2013.csv.gz [--usage Validation] [--degrees 0,10,20,30] [--int8]

Each face is mirror-padded by half its size, rotated about its centre (every other face the other way) and cut back
to its own size, so no blank corners come in; then scored by the bundle's ONNX model (float32, or int8 with
--int8) with the bundle's own preprocessing. The last line is JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_train.bundle import MANIFEST, onnx_probabilities  # noqa: E402
from fer_train.data import read_fer2013  # noqa: E402
from fer_train.roll import rolled  # noqa: E402
from fer_train.selftest import preprocess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz)")
    ap.add_argument("--usage", default="Validation")
    ap.add_argument("--degrees", default="0,10,20,30", help="comma-separated roll angles")
    ap.add_argument("--int8", action="store_true", help="score the bundle's int8 model")
    a = ap.parse_args(argv)
    bundle = Path(a.bundle)
    m = json.loads((bundle / MANIFEST).read_text())
    engine = m["engines"]["onnx_int8" if a.int8 else "onnx"]
    try:
        degrees = [float(d) for d in a.degrees.split(",")]
    except ValueError:
        raise SystemExit(f"roll_sensitivity: --degrees {a.degrees!r} is not a comma-separated list of numbers") from None
    faces = read_fer2013(a.data, report=False).select(a.usage)
    if len(faces) == 0:
        raise SystemExit(f"roll_sensitivity: {a.data} has no {a.usage} rows")
    pre = m["preprocessing"]
    rows = []
    for deg in degrees:
        imgs = np.stack([rolled(f, deg if i % 2 else -deg) for i, f in enumerate(faces.images)])
        p = onnx_probabilities(bundle / engine["file"], preprocess(imgs[..., None], pre["mean"], pre["std"], pre["scale"]))
        acc = float((p.argmax(1) == faces.labels).mean())
        rows.append({"degrees": deg, "accuracy": acc})
        print(f"{m['name']} {m['version']} {'int8' if a.int8 else 'float32'}, {a.usage} ({len(faces)} faces) rolled "
              f"{deg:g} degrees: {acc * 100:.2f} %")
    print(json.dumps({"bundle": m["name"] + "@" + m["version"], "usage": a.usage, "rows": len(faces), "int8": a.int8, "rolls": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
