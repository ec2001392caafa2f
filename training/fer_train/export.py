"""Export a checkpoint as a fer-edge model bundle (agent/models/BUNDLE.md).

python -m fer_train.export --checkpoint RUN/best.pt --out DIR --name NAME --version X.Y.Z
       [--margin 0.15] [--tfjs-float16] [--report REPORT_DIR] [--archive FILE.tar.gz] [--force]
"""
from __future__ import annotations

import argparse
import sys

from .bundle import BundleError, write_archive, write_bundle
from .checkpoint import load_checkpoint


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.export", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="best.pt (or last.pt) written by fer_train.train")
    ap.add_argument("--out", required=True, help="bundle directory to create (must not exist or be empty)")
    ap.add_argument("--name", required=True, help="bundle name, [a-z0-9._-]+")
    ap.add_argument("--version", required=True, help="semver, e.g. 1.0.0")
    ap.add_argument("--margin", type=float, default=0.15, help="face_crop margin the model was trained for")
    ap.add_argument("--tfjs-float16", action="store_true", help="store TF.js weights as float16 (half the size)")
    ap.add_argument("--report", help="evaluation report directory from fer_train.evaluate (copied into report/)")
    ap.add_argument("--archive", help="also write the bundle as FILE.tar.gz (or .tar / .fer)")
    ap.add_argument("--force", action="store_true", help="replace an existing bundle directory at --out")
    a = ap.parse_args(argv)
    try:
        ck = load_checkpoint(a.checkpoint)
        manifest = write_bundle(ck.model, a.out, name=a.name, version=a.version, mean=ck.mean, std=ck.std,
                                labels=ck.labels, margin=a.margin, tfjs_float16=a.tfjs_float16, report_dir=a.report,
                                config=ck.config, epoch=ck.epoch, force=a.force)
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
