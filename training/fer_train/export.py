"""Export a checkpoint as a fer-edge model bundle (agent/models/BUNDLE.md).

python -m fer_train.export --checkpoint RUN/best.pt --out DIR --name NAME --version X.Y.Z
       [--margin 0.05] [--tfjs-float16] [--report REPORT_DIR] [--archive FILE.tar.gz] [--force]
       [--int8-data FER2013.csv.gz] [--int8-rows 1024] [--no-int8]

The bundle carries the float model and, unless --no-int8, its int8 form (fer_train/quantize.py) calibrated on
Training rows of the checkpoint's own data (or --int8-data).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .bundle import BundleError, write_archive, write_bundle
from .checkpoint import load_checkpoint


def calibration_rows(config: dict, data: str | None, rows: int) -> tuple[np.ndarray, str]:
    """`rows` Training faces (a fixed random choice) to calibrate the int8 model on, and where they came from."""
    from .data import load_fer

    path = data or config.get("data_csv")
    if not path or not Path(path).is_file():
        raise FileNotFoundError(f"int8 calibration data {path} does not exist (pass --int8-data FILE or --no-int8)")
    if rows < 1:
        raise ValueError(f"--int8-rows must be at least 1 (got {rows})")
    tr = load_fer(path).select("Training")
    if len(tr) == 0:
        raise ValueError(f"{path} has no Training rows to calibrate the int8 model on")
    pick = np.sort(np.random.default_rng(0).permutation(len(tr))[:rows])
    return tr.images[pick], f"{len(pick)} FER2013 Training rows of {Path(path).name} (fixed random choice, seed 0)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="best.pt (or last.pt) written by fer_train.train")
    ap.add_argument("--out", required=True, help="bundle directory to create (must not exist or be empty)")
    ap.add_argument("--name", required=True, help="bundle name, [a-z0-9._-]+")
    ap.add_argument("--version", required=True, help="semver, e.g. 1.0.0")
    ap.add_argument("--margin", type=float, default=0.05,
                    help="face_crop margin (0.05: where CenterFace boxes match FER2013 framing; training/README.md)")
    ap.add_argument("--tfjs-float16", action="store_true", help="store TF.js weights as float16 (half the size)")
    ap.add_argument("--report", help="evaluation report directory from fer_train.evaluate (copied into report/)")
    ap.add_argument("--archive", help="also write the bundle as FILE.tar.gz (or .tar / .fer)")
    ap.add_argument("--force", action="store_true", help="replace an existing bundle directory at --out")
    ap.add_argument("--int8-data", help="FER2013 CSV(.gz) whose Training rows calibrate the int8 model "
                                        "(default: the checkpoint's data_csv, through its cache when present)")
    ap.add_argument("--int8-rows", type=int, default=1024, help="Training rows to calibrate on (default 1024)")
    ap.add_argument("--no-int8", action="store_true", help="float model only")
    ap.add_argument("--flip-tta", choices=("auto", "off"), default="auto",
                    help="off: the manifest says runtime.flip_tta off, so the agent's model.flip_tta auto never mirrors "
                         "with this net (when the release bench puts two passes under the speed target)")
    ap.add_argument("--raw-weights", action="store_true",
                    help="from last.pt, export the latest SGD weights instead of their moving average (EMA, the default)")
    a = ap.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint, raw=a.raw_weights)
        print(f"export: {a.checkpoint}: {'EMA' if ck.weights == 'ema' else 'raw SGD'} weights of epoch {ck.epoch}", file=sys.stderr)
        calib, source = (None, "") if a.no_int8 else calibration_rows(ck.config, a.int8_data, a.int8_rows)
        manifest = write_bundle(ck.model, a.out, name=a.name, version=a.version, mean=ck.mean, std=ck.std,
                                labels=ck.labels, margin=a.margin, tfjs_float16=a.tfjs_float16, report_dir=a.report,
                                config=ck.config, epoch=ck.epoch, force=a.force, calib_images=calib,
                                calib_source=source, flip_tta=a.flip_tta,
                                output_calibration=ck.output_calibration, unfolded_from=ck.unfolded_from,
                                provenance=ck.provenance)
        if a.archive:
            write_archive(a.out, a.archive)
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"export failed: {e}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{k} {v['bytes']} B" for k, v in manifest["files"].items())
    print(f"wrote bundle {a.out} ({manifest['name']} {manifest['version']}): {sizes}; self-test tolerance "
          f"{manifest['selftest']['tolerance']}" + (f"; archive {a.archive}" if a.archive else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
