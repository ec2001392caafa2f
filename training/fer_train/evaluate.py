"""Evaluate a checkpoint (and optionally its exported bundle) on one Usage split of a FER2013 CSV.

python -m fer_train.evaluate --checkpoint RUN/best.pt [--bundle DIR] --data CSV --usage PublicTest --out REPORT_DIR

Writes REPORT_DIR/summary.json (accuracy with and without horizontal-flip TTA, per-class precision/recall/F1,
confusion matrix, and with --bundle the ONNX accuracy on the same rows), confusion.png and curves.png (from the
checkpoint's training history). PyTorch runs in float32 here, like the exported model, so the two are comparable.
Exits 1 when the bundle's ONNX accuracy is more than 0.5 points from PyTorch's or the bundle does not verify.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import MANIFEST, onnx_probabilities, verify_bundle
from .checkpoint import load_checkpoint
from .data import load_fer, read_fer2013
from .selftest import preprocess, torch_probabilities

MAX_ONNX_GAP_POINTS = 0.5


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class(cm: np.ndarray, labels: list[str]) -> dict[str, dict[str, float | int]]:
    tp = np.diag(cm).astype(np.float64)
    pred, support = cm.sum(0).astype(np.float64), cm.sum(1).astype(np.float64)
    out = {}
    for i, name in enumerate(labels):
        p = tp[i] / pred[i] if pred[i] else 0.0
        r = tp[i] / support[i] if support[i] else 0.0
        out[name] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": int(support[i])}
    return out


def macro_f1(cm: np.ndarray, labels: list[str]) -> float:
    """Mean F1 over the classes present in the data (a class with no rows would only add a meaningless 0)."""
    pc = per_class(cm, labels)
    vals = [v["f1"] for v in pc.values() if v["support"] > 0]
    return float(np.mean(vals)) if vals else 0.0


def metric_prefix(usage: str) -> str:
    """'PublicTest' -> 'public_test' (key prefix of the manifest's training metrics)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", usage).lower().replace("__", "_")


def plot_confusion(cm: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{norm[i, j]:.2f}\n{cm[i, j]}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    if history:
        ep = [h["epoch"] for h in history]
        for key, style in (("train_acc", "-"), ("val_acc", "--"), ("val_acc_ema", "-"), ("test_acc", "--"), ("test_acc_ema", "-")):
            if all(key in h for h in history):
                a1.plot(ep, [h[key] for h in history], style, label=key)
        a1.set_xlabel("epoch")
        a1.set_ylabel("accuracy")
        a1.legend()
        a1.grid(alpha=0.3)
        a2.plot(ep, [h["train_loss"] for h in history], label="train_loss")
        a2.set_xlabel("epoch")
        a2.set_ylabel("loss")
        a2.grid(alpha=0.3)
        if all("lr" in h for h in history):
            ax_lr = a2.twinx()
            ax_lr.plot(ep, [h["lr"] for h in history], ":", color="gray", label="lr")
            ax_lr.set_ylabel("learning rate (end of epoch)")
            h1, l1 = a2.get_legend_handles_labels()
            h2, l2 = ax_lr.get_legend_handles_labels()
            a2.legend(h1 + h2, l1 + l2, loc="upper right")
        else:
            a2.legend(loc="upper right")
    else:
        for a in (a1, a2):
            a.text(0.5, 0.5, "no training history in the checkpoint", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(checkpoint: str | Path, data: str | Path, usage: str, out: str | Path,
             bundle: str | Path | None = None, cache: str | Path | None = None) -> dict[str, Any]:
    out = Path(out)
    ck = load_checkpoint(checkpoint)
    # With a cache (the training run's, keyed to the CSV it was made from) the ~20 s CSV parse is skipped.
    fs = load_fer(data, None, cache, read_only_cache=True) if cache else read_fer2013(data)
    rows = fs.select(usage)
    if len(rows) == 0:
        raise ValueError(f"{data}: no rows with Usage={usage!r}")
    labels = ck.labels
    y = rows.labels
    x = preprocess(rows.images[..., None], [ck.mean] * ck.model.cfg.in_channels, [ck.std] * ck.model.cfg.in_channels)
    p = torch_probabilities(ck.model, x)
    p_tta = (p + torch_probabilities(ck.model, np.ascontiguousarray(x[..., ::-1]))) / 2
    pred, pred_tta = p.argmax(1), p_tta.argmax(1)
    n = len(labels)
    cm, cm_tta = confusion_matrix(y, pred, n), confusion_matrix(y, pred_tta, n)
    acc, acc_tta = float((pred == y).mean()), float((pred_tta == y).mean())
    prefix = metric_prefix(usage)
    summary: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "epoch": ck.epoch,
        # Validation figures of a calibrated checkpoint are in-sample for its offsets (fer_train/calibrate.py).
        "output_calibration": ck.output_calibration,
        "data": str(data),
        "usage": usage,
        "rows": int(len(rows)),
        "skipped_rows": len(fs.problems),
        "labels": labels,
        "accuracy": acc,
        "accuracy_flip_tta": acc_tta,
        "macro_f1": macro_f1(cm, labels),
        "macro_f1_flip_tta": macro_f1(cm_tta, labels),
        "per_class": per_class(cm, labels),
        "confusion": cm.tolist(),
        "onnx": None,
        "onnx_int8": None,
        "metrics": {},
    }
    failures: list[str] = []
    if bundle is not None:
        bundle = Path(bundle)
        m = json.loads((bundle / MANIFEST).read_text())
        problems = verify_bundle(bundle)
        if m["labels"] != labels:
            problems.append(f"bundle labels {m['labels']} differ from the checkpoint's {labels}")
        pre = m["preprocessing"]
        xb = preprocess(rows.images[..., None], pre["mean"], pre["std"], pre["scale"])
        po = onnx_probabilities(bundle / m["engines"]["onnx"]["file"], xb)
        acc_onnx = float((po.argmax(1) == y).mean())
        gap = abs(acc_onnx - acc) * 100
        summary["onnx"] = {"bundle": str(bundle), "name": m["name"], "version": m["version"], "accuracy": acc_onnx,
                           "gap_points": gap, "argmax_agreement": float((po.argmax(1) == pred).mean()),
                           "max_abs_diff": float(np.abs(po - p).max()), "bundle_problems": problems}
        if gap > MAX_ONNX_GAP_POINTS:
            failures.append(f"ONNX accuracy {acc_onnx:.4f} is {gap:.2f} points from PyTorch's {acc:.4f}")
        int8 = m["engines"].get("onnx_int8")
        if int8 is not None:
            p8 = onnx_probabilities(bundle / int8["file"], xb)
            acc8 = float((p8.argmax(1) == y).mean())
            # The agent's model.flip_tta: auto reads this (with the plain int8 figure) to decide flip TTA for int8.
            p8_tta = (p8 + onnx_probabilities(bundle / int8["file"], np.ascontiguousarray(xb[..., ::-1]))) / 2
            acc8_tta = float((p8_tta.argmax(1) == y).mean())
            gap8 = (acc8 - acc_onnx) * 100
            summary["onnx_int8"] = {"accuracy": acc8, "accuracy_flip_tta": acc8_tta, "points_vs_fp32": gap8,
                                    "argmax_agreement": float((p8.argmax(1) == po.argmax(1)).mean()),
                                    "max_abs_diff": float(np.abs(p8 - po).max())}
            if gap8 < -MAX_ONNX_GAP_POINTS:
                failures.append(f"int8 accuracy {acc8:.4f} is {-gap8:.2f} points below the float model's {acc_onnx:.4f}")
        failures.extend(problems)
    summary["metrics"] = {f"{prefix}_accuracy": acc, f"{prefix}_accuracy_flip_tta": acc_tta,
                          f"{prefix}_macro_f1": summary["macro_f1"], f"{prefix}_rows": int(len(rows))}
    if summary["onnx"] is not None:
        summary["metrics"][f"{prefix}_accuracy_onnx"] = summary["onnx"]["accuracy"]
    if summary["onnx_int8"] is not None:
        summary["metrics"][f"{prefix}_accuracy_int8"] = summary["onnx_int8"]["accuracy"]
        summary["metrics"][f"{prefix}_accuracy_int8_flip_tta"] = summary["onnx_int8"]["accuracy_flip_tta"]
    summary["failures"] = failures

    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(cm, labels, out / "confusion.png", f"{usage}: accuracy {acc:.4f} ({len(rows)} faces)")
    plot_curves(ck.history, out / "curves.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="best.pt written by fer_train.train")
    ap.add_argument("--bundle", help="bundle directory exported from this checkpoint: also evaluate its model.onnx")
    ap.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz)")
    ap.add_argument("--usage", action="append",
                    help="Usage of the rows to evaluate; repeat for several (default: Validation, which decides, then "
                         "PublicTest, which is reported). The first one's report is OUT, the others' OUT/<usage>; "
                         "OUT/summary.json's metrics hold every usage's")
    ap.add_argument("--out", required=True, help="report directory (summary.json, confusion.png, curves.png)")
    ap.add_argument("--cache", help=".npz cache of the CSV (made and checked as in training; used only for that CSV)")
    a = ap.parse_args(argv)
    usages = a.usage or ["Validation", "PublicTest"]
    rc = 0
    merged: dict[str, Any] = {}
    for i, usage in enumerate(usages):
        out = Path(a.out) if i == 0 else Path(a.out) / usage.lower()
        try:
            s = evaluate(a.checkpoint, a.data, usage, out, a.bundle, a.cache)
        except (FileNotFoundError, ValueError) as e:
            print(f"evaluate failed: {e}", file=sys.stderr)
            return 1
        rc = max(rc, _print_summary(usage, s, out))
        merged.update(s["metrics"])
    if len(usages) > 1:  # the exporter copies OUT/summary.json's metrics into the manifest: every usage's
        first = Path(a.out) / "summary.json"
        s = json.loads(first.read_text())
        s["metrics"] = merged
        first.write_text(json.dumps(s, indent=2) + "\n")
    return rc


def _print_summary(usage: str, s: dict[str, Any], out: Path) -> int:
    line = f"{usage}: {s['rows']} faces, accuracy {s['accuracy']:.4f}, with flip TTA {s['accuracy_flip_tta']:.4f}, " \
           f"macro F1 {s['macro_f1']:.4f}"
    if s["onnx"] is not None:
        line += f", ONNX {s['onnx']['accuracy']:.4f} (gap {s['onnx']['gap_points']:.2f} points)"
    if s["onnx_int8"] is not None:
        line += f", int8 {s['onnx_int8']['accuracy']:.4f} ({s['onnx_int8']['points_vs_fp32']:+.2f} points vs float)"
    print(line + f"; report in {out}", file=sys.stderr)
    for f in s["failures"]:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
