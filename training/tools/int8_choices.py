"""Which int8 form to ship: accuracy on PublicTest and speed on one thread for each format, calibration method and
number of calibration rows, beside the float32 model, in one run.

python training/tools/int8_choices.py --bundle agent/assets/models/fer-default --data DATA.csv.gz [--cache X.npz]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fer_train.data import load_fer  # noqa: E402
from fer_train.quantize import calibration_input, quantize_int8  # noqa: E402


def session(path: Path):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    s = session(path)
    name = s.get_inputs()[0].name
    p = np.concatenate([s.run(None, {name: x[i : i + 256]})[0] for i in range(0, len(x), 256)])
    return float((p.argmax(1) == y).mean())


def faces_per_s(path: Path, x64: np.ndarray, seconds: float = 3.0) -> float:
    s = session(path)
    name = s.get_inputs()[0].name
    s.run(None, {name: x64})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s.run(None, {name: x64})
        n += len(x64)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache")
    a = ap.parse_args()
    m = json.loads((Path(a.bundle) / "manifest.json").read_text())
    mean, std = m["preprocessing"]["mean"][0], m["preprocessing"]["std"][0]
    fs = load_fer(a.data, None, a.cache)
    tr, te = fs.select("Training"), fs.select("PublicTest")
    xt = calibration_input(te.images, mean, std)
    fp32 = Path(a.bundle) / m["engines"]["onnx"]["file"]
    rows = []
    base = accuracy(fp32, xt, te.labels)
    rows.append(("fp32", "-", 0, base, faces_per_s(fp32, xt[:64])))
    order = np.random.default_rng(0).permutation(len(tr))
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, method, n in [("qdq", "minmax", 512), ("qdq", "minmax", 1024), ("qdq", "minmax", 4096),
                               ("qdq", "percentile", 1024), ("qdq", "entropy", 1024), ("qoperator", "minmax", 1024)]:
            out = Path(tmp) / f"{fmt}-{method}-{n}.onnx"
            quantize_int8(fp32, out, calibration_input(tr.images[order[:n]], mean, std), method=method, fmt=fmt)
            rows.append((fmt, method, n, accuracy(out, xt, te.labels), faces_per_s(out, xt[:64])))
            print(rows[-1], file=sys.stderr, flush=True)
    print("| format | calibration | rows | PublicTest | vs fp32 (points) | faces/s @64, 1 thread |")
    print("|---|---|---:|---:|---:|---:|")
    for fmt, method, n, acc, fps in rows:
        print(f"| {fmt} | {method} | {n or '-'} | {100 * acc:.2f} % | {100 * (acc - base):+.2f} | {fps:.0f} |")


if __name__ == "__main__":
    main()
