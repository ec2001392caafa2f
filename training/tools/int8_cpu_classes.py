"""Which int8 form agrees with float32 on every CPU class: each form's top class and accuracy against the float model,
run natively and under qemu with the instruction sets of other CPU classes (x86 Nehalem = SSE4.2, Haswell = AVX2;
arm64 Cortex-A72 = no dot product, A76 = with it). Decides on the validation split; reports nothing on PublicTest.

    python3 training/tools/int8_cpu_classes.py --bundle agent/assets/models/fer-default \\
        --data ../shared/datasets/fer2013/fer2013.csv.gz --out /tmp/int8-classes [--rows 600] [--cpus Haswell,Nehalem]

The last line is JSON: per form and CPU class, top-1 agreement with float32 on the same host, accuracy, and the
largest probability difference from the same form on this host. An exact form gives the same outputs on every class.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_train.data import load_fer  # noqa: E402
from fer_train.quantize import FORMS, calibration_input, quantize_int8  # noqa: E402

QEMU = {"Haswell": "qemu-x86_64-static", "Nehalem": "qemu-x86_64-static"}


def run_models(models: dict[str, str], x: np.ndarray, threads: int = 1) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    out = {}
    for name, path in models.items():
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        out[name] = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i : i + 64]})[0] for i in range(0, len(x), 64)])
    return out


def timed(path: str, x: np.ndarray, seconds: float = 2.0) -> float:
    """Faces per second on one thread, batch 8, over about `seconds`."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feed = {s.get_inputs()[0].name: x[:8]}
    s.run(None, feed)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        s.run(None, feed)
        n += 8
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", help="bundle whose model.onnx is quantized")
    ap.add_argument("--data", help="FER2013 CSV(.gz)")
    ap.add_argument("--out", required=True, help="work folder (models, inputs, outputs)")
    ap.add_argument("--rows", type=int, default=600, help="Validation rows scored (emulation is slow)")
    ap.add_argument("--calib-rows", type=int, default=1024, help="Training rows (less Validation) for calibration")
    ap.add_argument("--cpus", default="Haswell,Nehalem", help="qemu CPU models to emulate, comma-separated ('' for none)")
    ap.add_argument("--first-conv", choices=("float32", "int8"), default="float32",
                    help="the first convolution's form (float32 since 1.5.1; int8 reproduces the 1.3.0 table in docs/model.md)")
    ap.add_argument("--run-only", action="store_true", help=argparse.SUPPRESS)  # the emulated child: run and save
    a = ap.parse_args(argv)
    out = Path(a.out)
    if a.run_only:
        models = json.loads((out / "models.json").read_text())
        probs = run_models(models, np.load(out / "x.npy"))
        np.savez(out / "probs-child.npz", **probs)  # type: ignore[arg-type]  # numpy stubs type **kwds as allow_pickle
        return 0
    if not a.bundle or not a.data:
        ap.error("--bundle and --data are needed")
    out.mkdir(parents=True, exist_ok=True)
    m = json.loads((Path(a.bundle) / "manifest.json").read_text())
    mean, std = m["preprocessing"]["mean"][0], m["preprocessing"]["std"][0]
    fs = load_fer(a.data, None, None, log=False)
    tr, va = fs.select("Training"), fs.select("Validation")
    rng = np.random.default_rng(0)
    calib = calibration_input(tr.images[rng.permutation(len(tr))[: a.calib_rows]], mean, std)
    pick = np.random.default_rng(1).permutation(len(va))[: a.rows]
    x, y = calibration_input(va.images[pick], mean, std), va.labels[pick]
    np.save(out / "x.npy", x)
    models = {"fp32": str(Path(a.bundle).resolve() / m["engines"]["onnx"]["file"])}
    for form in FORMS:
        models[form] = str(quantize_int8(models["fp32"], out / f"{form}.onnx", calib, form=form,
                                           float_first_conv=a.first_conv == "float32"))
    (out / "models.json").write_text(json.dumps(models))
    hosts = {"native": run_models(models, x)}
    for cpu in [c for c in a.cpus.split(",") if c]:
        qemu = shutil.which(QEMU.get(cpu, "qemu-x86_64-static"))
        if not qemu:
            print(f"int8_cpu_classes: {QEMU.get(cpu)} not found; skipping {cpu}", file=sys.stderr)
            continue
        t0 = time.time()
        subprocess.run([qemu, "-cpu", cpu, sys.executable, __file__, "--out", str(out), "--run-only"], check=True)
        hosts[cpu] = dict(np.load(out / "probs-child.npz"))
        print(f"{cpu}: {time.time() - t0:.0f} s under qemu", file=sys.stderr)
    report: dict = {"rows": int(len(y)), "usage": "Validation", "hosts": {}}
    for host, probs in hosts.items():
        f = probs["fp32"]
        rec = {"fp32": {"accuracy": round(float((f.argmax(1) == y).mean()), 4)}}
        for form in FORMS:
            p = probs[form]
            rec[form] = {"accuracy": round(float((p.argmax(1) == y).mean()), 4),
                         "top1_agreement_with_fp32": round(float((p.argmax(1) == f.argmax(1)).mean()), 4),
                         "max_diff_vs_native": round(float(np.abs(p - hosts["native"][form]).max()), 4)}
        report["hosts"][host] = rec
        print(host, json.dumps(rec), file=sys.stderr)
    report["faces_per_s_native_1thread"] = {k: round(timed(v, x)) for k, v in models.items()}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
