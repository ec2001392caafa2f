"""Replace a bundle's int8 model with another int8 form, in place: `python -m fer_train.requantize --bundle DIR
--data CSV [--form u8u8] [--rows 1024] [--version X.Y.Z]`.

The float model, the TF.js model and the float self-test stay as they are; `model.int8.onnx` is quantized again from
the bundle's own `model.onnx` (calibrated as export does: a fixed random choice of Training rows, validation rows
excluded), its self-test expectations are recomputed, the manifest's hashes and int8 description updated, and the
bundle verified before anything is replaced. The int8 figures the bundle carries (`training.metrics`'
`*_accuracy_int8[_flip_tta]` for Validation and PublicTest, and `report/summary.json`'s) are scored again on the new
model from the same CSV, since the agent's `model.flip_tta: auto` decides on them. New int8 bytes deserve a new
version (`--version`). A signed bundle must be signed again afterwards.
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

from .bundle import MANIFEST, SEMVER_RE, BundleError, int8_description, onnx_probabilities, sha256_file, verify_bundle
from .data import load_fer
from .export import calibration_rows
from .quantize import DEFAULT_FORM, FORMS, calibration_input, quantize_int8
from .selftest import preprocess

# The splits whose int8 figures a bundle may carry, as fer_train.evaluate names them.
METRIC_USAGES = (("validation", "Validation"), ("public_test", "PublicTest"))
SUMMARY = "report/summary.json"


def _int8_scores(bundle: Path, m: dict, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """fer_train.evaluate's int8 figures for these rows: accuracy, with flip TTA, and against the float model."""
    pre = m["preprocessing"]
    x = preprocess(images[..., None], pre["mean"], pre["std"], pre["scale"])
    po = onnx_probabilities(bundle / m["engines"]["onnx"]["file"], x)
    int8 = bundle / m["engines"]["onnx_int8"]["file"]
    p8 = onnx_probabilities(int8, x)
    p8_flip = (p8 + onnx_probabilities(int8, np.ascontiguousarray(x[..., ::-1]))) / 2
    acc, acc_onnx = float((p8.argmax(1) == labels).mean()), float((po.argmax(1) == labels).mean())
    return {"accuracy": acc, "accuracy_flip_tta": float((p8_flip.argmax(1) == labels).mean()),
            "points_vs_fp32": (acc - acc_onnx) * 100, "argmax_agreement": float((p8.argmax(1) == po.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(p8 - po).max())}


def refresh_int8_metrics(staged: Path, m: dict, data: str) -> dict[str, float]:
    """Scores the staged bundle's new int8 model on each split whose int8 figures `m` carries and writes them into `m`
    (and into its report's summary.json, rehashed); returns the figures changed."""
    metrics = m.get("training", {}).get("metrics") or {}
    wanted = [(prefix, usage) for prefix, usage in METRIC_USAGES if f"{prefix}_accuracy_int8" in metrics]
    if not wanted:
        return {}
    fs = load_fer(data, log=False)
    changed: dict[str, float] = {}
    scores: dict[str, dict[str, float]] = {}
    for prefix, usage in wanted:
        rows = fs.select(usage)
        if len(rows) == 0:
            raise BundleError(f"{data} has no {usage} rows to score the new int8 model on (the bundle carries its figures)")
        scores[usage] = _int8_scores(staged, m, rows.images, rows.labels)
        changed[f"{prefix}_accuracy_int8"] = scores[usage]["accuracy"]
        changed[f"{prefix}_accuracy_int8_flip_tta"] = scores[usage]["accuracy_flip_tta"]
    metrics.update(changed)
    summary_path = staged / SUMMARY
    if SUMMARY in m["files"] and summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        summary["metrics"].update({k: v for k, v in changed.items() if k in summary.get("metrics", {})})
        if summary.get("onnx_int8") is not None and summary.get("usage") in scores:
            summary["onnx_int8"].update(scores[summary["usage"]])
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        m["files"][SUMMARY] = {"sha256": sha256_file(summary_path), "bytes": summary_path.stat().st_size}
    return changed


def requantize(bundle: str | Path, data: str, form: str = DEFAULT_FORM, rows: int = 1024,
               version: str | None = None) -> dict:
    bundle = Path(bundle)
    if version is not None and not SEMVER_RE.match(version):
        raise BundleError(f"bundle version {version!r} is not semver (X.Y.Z)")
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
        if version is not None:
            m["version"] = version
        staged = Path(tmp) / "bundle"
        shutil.copytree(bundle, staged)
        shutil.copyfile(out, staged / entry["file"])
        refresh_int8_metrics(staged, m, data)
        (staged / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
        problems = verify_bundle(staged)
        if problems:
            raise BundleError("requantized bundle does not verify: " + "; ".join(problems))
        # Everything staged is verified: put it in place, the manifest last.
        for rel in (entry["file"], SUMMARY):
            if (staged / rel).is_file():
                shutil.copyfile(staged / rel, bundle / rel)
        (bundle / MANIFEST).write_text(json.dumps(m, indent=2) + "\n")
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.requantize", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz) whose Training rows calibrate the int8 model")
    ap.add_argument("--form", default=DEFAULT_FORM, choices=FORMS)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--version", help="the new int8 bytes' version (semver), e.g. 1.5.1; default: unchanged")
    a = ap.parse_args(argv)
    try:
        m = requantize(a.bundle, a.data, a.form, a.rows, a.version)
    except (BundleError, FileNotFoundError, ValueError) as e:
        print(f"requantize failed: {e}", file=sys.stderr)
        return 1
    print(f"requantize: {a.bundle} ({m['name']} {m['version']}): {m['training']['int8']['quantization']}; "
          f"{m['training']['int8']['calibration']}; int8 figures scored again: "
          f"{sorted(k for k in m.get('training', {}).get('metrics', {}) if '_int8' in k)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
