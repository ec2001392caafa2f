"""Per-class output offsets fitted on the Validation rows and baked into the classifier's bias:
`python -m fer_train.calibrate --checkpoint IN.pt --data CSV --out OUT.pt [--bundle DIR] [--report FILE.json]`.

Why: runs that learn partly from FER+ votes (`ferplus_weight`), and from teachers that did, inherit FER+'s class balance
(far more neutral and less fear than FER2013's own labels), so their argmax leans toward neutral on FER2013 faces. One
offset per class added to the logits moves the decision boundary back without touching anything else: 7 numbers,
fitted by maximum likelihood (convex in the offsets) on the float32 logits of the Validation rows, never on PublicTest.

What that gains on faces the fit has not seen is estimated before anything ships, by repeated 2-fold cross-fitting:
fit on one half of Validation, score the other half, both ways, `--repeats` times over random halves. It is reported
for every form a bundle runs (float32 and, with `--bundle` (this checkpoint's export), int8; each with and without flip
TTA). Validation figures of the calibrated model are in-sample for these 7 numbers: decisions read the cross-fitted gain.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .data import load_fer
from .selftest import preprocess

METHOD = "per-class logit offsets, maximum likelihood on the float32 logits of the Validation rows"
KEY = "output_calibration"  # where a checkpoint (and the bundle's training block) records them


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_offsets(logits: np.ndarray, labels: np.ndarray, iterations: int = 50) -> np.ndarray:
    """The offsets b (summing to 0) that maximise the mean log-likelihood of softmax(logits + b). Newton's method:
    the objective is convex and the Hessian small (classes x classes); a ridge keeps it invertible along the all-ones
    direction (softmax ignores it) and for classes absent from `labels`, whose offset it keeps finite."""
    n, k = logits.shape
    if n == 0 or len(labels) != n:
        raise ValueError(f"fit_offsets: {n} rows of logits and {len(labels)} labels")
    onehot = np.eye(k)[labels]
    b = np.zeros(k)
    ridge = 1e-3
    for _ in range(iterations):
        p = softmax(logits + b)
        grad = (p - onehot).mean(0) + ridge * b
        hess = (np.einsum("ni,ij->ij", p, np.eye(k)) - p.T @ p) / n + ridge * np.eye(k)
        step = np.linalg.solve(hess, grad)
        b -= np.clip(step, -1.0, 1.0)  # a damped step: far from the optimum Newton can overshoot
        b -= b.mean()
        if np.abs(step).max() < 1e-7:
            break
    return b


def predict(views: list[np.ndarray], offsets: np.ndarray) -> np.ndarray:
    """The class the agent reports: argmax of the mean probabilities over the views (one view, or face + mirror)."""
    return np.mean([softmax(v + offsets) for v in views], axis=0).argmax(1)


def cross_fitted_gain(fit_logits: np.ndarray, views: list[np.ndarray], labels: np.ndarray, repeats: int = 10,
                      seed: int = 0) -> dict[str, Any]:
    """Accuracy points gained on the half of the rows the offsets were not fitted on (fitted on `fit_logits` of the
    other half, scored on `views`), over `repeats` random halvings, both ways: mean, sd, and each of the 2*repeats."""
    n = len(labels)
    if n < 4:
        raise ValueError(f"cross-fitting needs at least 4 rows (got {n})")
    if repeats < 1:
        raise ValueError(f"cross-fitting needs at least 1 repeat (got {repeats})")
    rng = np.random.default_rng(seed)
    zero = np.zeros(fit_logits.shape[1])
    gains = []
    for _ in range(repeats):
        order = rng.permutation(n)
        halves = (order[: n // 2], order[n // 2 :])
        for fit, score in (halves, halves[::-1]):
            b = fit_offsets(fit_logits[fit], labels[fit])
            part = [v[score] for v in views]
            y = labels[score]
            gains.append(100.0 * (float((predict(part, b) == y).mean()) - float((predict(part, zero) == y).mean())))
    return {"mean": float(np.mean(gains)), "sd": float(np.std(gains)), "halves": len(gains),
            "gains": [round(g, 3) for g in gains]}


def apply_offsets(ck: dict[str, Any], offsets: np.ndarray, record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checkpoint dict whose every weight set ("model" = EMA, and "raw"/"ema" where present) has `offsets`
    added to the classifier's bias, with `record` under KEY. Offsets are applied once: a calibrated checkpoint is refused."""
    if ck.get(KEY):
        raise ValueError("this checkpoint is already calibrated (its output_calibration says so); calibrate the one before it")
    out = dict(ck)
    for name in ("model", "raw", "ema"):
        if name in ck:
            sd = dict(ck[name])
            if "classifier.bias" not in sd:
                raise ValueError(f"checkpoint weights {name!r} have no classifier.bias")
            bias = sd["classifier.bias"]
            if bias.shape[0] != len(offsets):
                raise ValueError(f"{len(offsets)} offsets for a classifier of {bias.shape[0]} classes")
            sd["classifier.bias"] = bias + torch.as_tensor(offsets, dtype=bias.dtype)
            out[name] = sd
    out[KEY] = record
    return out


@torch.no_grad()
def _torch_logits(model: torch.nn.Module, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([model(torch.from_numpy(x[s : s + batch])).double().numpy() for s in range(0, len(x), batch)])


def _onnx_log_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    # log p differs from the logits by one constant per row, which softmax(. + b) ignores.
    from .bundle import onnx_probabilities

    return np.log(np.clip(onnx_probabilities(path, x).astype(np.float64), 1e-12, None))


def calibrate(checkpoint: str | Path, data: str | Path, out: str | Path, bundle: str | Path | None = None,
              cache: str | Path | None = None, repeats: int = 10) -> dict[str, Any]:
    """Fits the offsets on all Validation rows, writes the calibrated checkpoint to `out`, returns the report."""
    ck = load_checkpoint(checkpoint)
    raw = torch.load(checkpoint, map_location="cpu", weights_only=True)
    rows = load_fer(data, None, cache, log=False, read_only_cache=True).select("Validation")
    if len(rows) < 4:
        raise ValueError(f"{data}: {len(rows)} Validation rows; calibration needs the Validation split")
    y = rows.labels.astype(np.int64)
    channels = ck.model.cfg.in_channels
    x = preprocess(rows.images[..., None], [ck.mean] * channels, [ck.std] * channels)
    xf = np.ascontiguousarray(x[..., ::-1])
    z, zf = _torch_logits(ck.model, x), _torch_logits(ck.model, xf)
    forms: dict[str, list[np.ndarray]] = {"float32": [z], "float32_flip_tta": [z, zf]}
    if bundle is not None:
        m = json.loads((Path(bundle) / "manifest.json").read_text())
        if m["labels"] != ck.labels:
            raise ValueError(f"bundle {bundle} labels {m['labels']} differ from the checkpoint's {ck.labels}")
        pre = m["preprocessing"]
        xb = preprocess(rows.images[..., None], pre["mean"], pre["std"], pre["scale"])
        xbf = np.ascontiguousarray(xb[..., ::-1])
        onnx = _onnx_log_probabilities(Path(bundle) / m["engines"]["onnx"]["file"], xb)
        agree = float((onnx.argmax(1) == z.argmax(1)).mean())
        if agree < 0.99:
            raise ValueError(f"bundle {bundle} is not this checkpoint's export: its float model agrees on {agree:.1%} of rows")
        if "onnx_int8" in m["engines"]:
            f8 = Path(bundle) / m["engines"]["onnx_int8"]["file"]
            p8 = _onnx_log_probabilities(f8, xb)
            forms["int8"], forms["int8_flip_tta"] = [p8], [p8, _onnx_log_probabilities(f8, xbf)]
    offsets = fit_offsets(z, y)
    zero = np.zeros_like(offsets)
    report: dict[str, Any] = {
        "method": METHOD, "fitted_on": "Validation", "rows": int(len(y)),
        "offsets": {label: round(float(v), 6) for label, v in zip(ck.labels, offsets)},
        "validation_accuracy": {f: float((predict(v, zero) == y).mean()) for f, v in forms.items()},
        "validation_accuracy_calibrated_in_sample": {f: float((predict(v, offsets) == y).mean()) for f, v in forms.items()},
        "cross_fitted_gain_points": {f: cross_fitted_gain(z, v, y, repeats=repeats) for f, v in forms.items()},
        "predicted_per_class": {f: np.bincount(predict(v, zero), minlength=len(ck.labels)).tolist() for f, v in forms.items()},
        "true_per_class": np.bincount(y, minlength=len(ck.labels)).tolist(),
        "checkpoint": str(checkpoint),
    }
    record = {k: report[k] for k in ("method", "fitted_on", "rows", "offsets")}
    record["cross_fitted_gain_points"] = {f: round(g["mean"], 3) for f, g in report["cross_fitted_gain_points"].items()}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(apply_offsets(raw, offsets, record), out)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="final.pt (or an unfolded bundle's .pt)")
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz): Validation is carved from its Training rows")
    ap.add_argument("--cache", help=".npz cache of the CSV (as in training)")
    ap.add_argument("--out", required=True, help="the calibrated checkpoint to write (.pt)")
    ap.add_argument("--bundle", help="this checkpoint's exported bundle: also cross-fit its int8 form")
    ap.add_argument("--repeats", type=int, default=10, help="random halvings of Validation (default 10)")
    ap.add_argument("--report", help="also write the report as JSON here")
    a = ap.parse_args(argv)
    try:
        report = calibrate(a.checkpoint, a.data, a.out, a.bundle, a.cache, a.repeats)
    except (FileNotFoundError, ValueError) as e:
        print(f"calibrate failed: {e}", file=sys.stderr)
        return 1
    if a.report:
        Path(a.report).write_text(json.dumps(report, indent=2) + "\n")
    for f, g in report["cross_fitted_gain_points"].items():
        print(f"calibrate: {f}: Validation {report['validation_accuracy'][f] * 100:.2f} %, cross-fitted gain "
              f"{g['mean']:+.2f} ± {g['sd']:.2f} points over {g['halves']} halves", file=sys.stderr)
    print(f"calibrate: offsets {report['offsets']}; wrote {a.out}", file=sys.stderr)
    print(json.dumps({k: report[k] for k in ("offsets", "validation_accuracy", "validation_accuracy_calibrated_in_sample")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
