"""Replace a bundle's int8 model with another int8 form, in place: `python -m fer_train.requantize --bundle DIR
--data CSV [--form u8u8] [--rows 1024]`.

The float model, the TF.js model and the float self-test stay as they are; `model.int8.onnx` is quantized again from
the bundle's own `model.onnx` (calibrated as export does: a fixed random choice of Training rows, validation rows
excluded), its self-test expectations are recomputed, the manifest's hashes and int8 description updated, and the
bundle verified before anything is replaced. A signed bundle must be signed again afterwards.
"""
from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from .bundle import MANIFEST, BundleError, int8_description, onnx_probabilities, sha256_file, verify_bundle
from .export import calibration_rows
from .quantize import DEFAULT_FORM, FORMS, calibration_input, quantize_int8
from .selftest import preprocess


def requantize(bundle: str | Path, data: str, form: str = DEFAULT_FORM, rows: int = 1024) -> dict:
    bundle = Path(bundle)
    m = json.loads((bundle / MANIFEST).read_text())
    entry = m["engines"].get("onnx_int8")
    if entry is None:
        raise BundleError(f"{bundle} has no int8 model to replace (export with --int8-data instead)")
    pre = m["preprocessing"]
    calib, source = calibration_rows({}, data, rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = quantize_int8(bundle / m["engines"]["onnx"]["file"], Path(tmp) / "int8.onnx",
                            calibration_input(calib, pre["mean"][0], pre["std"][0]), form=form)
        cases = entry["selftest"]["cases"]
        size = m["input"]["width"]
        images = [np.frombuffer(base64.b64decode(c["pixels_b64"]), np.uint8).reshape(size, size, m["input"]["channels"])
                  for c in cases]
        got = onnx_probabilities(out, preprocess(images, pre["mean"], pre["std"], pre["scale"]))
        for c, row in zip(cases, got):
            c["expected"] = [float(v) for v in row]
        m["training"]["int8"] = {"quantization": int8_description(form), "calibration": source}
        m["files"][entry["file"]] = {"sha256": sha256_file(out), "bytes": out.stat().st_size}
        staged = Path(tmp) / "bundle"
        shutil.copytree(bundle, staged)
        shutil.copyfile(out, staged / entry["file"])
        (staged / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
        problems = verify_bundle(staged)
        if problems:
            raise BundleError("requantized bundle does not verify: " + "; ".join(problems))
        shutil.copyfile(out, bundle / entry["file"])
        (bundle / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.requantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz) whose Training rows calibrate the int8 model")
    ap.add_argument("--form", default=DEFAULT_FORM, choices=FORMS)
    ap.add_argument("--rows", type=int, default=1024)
    a = ap.parse_args(argv)
    try:
        m = requantize(a.bundle, a.data, a.form, a.rows)
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"requantize failed: {e}", file=sys.stderr)
        return 1
    print(f"requantize: {a.bundle}: {m['training']['int8']['quantization']}; {m['training']['int8']['calibration']}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
