"""The GPU path, end to end in a few minutes: train 2 epochs on a CUDA device (interrupted after the first and
resumed, so the RNG-state restore on CUDA runs), evaluate the final weights on the GPU and on the CPU, and, when
`onnx` is installed, export the bundle and compare onnxruntime's CPU outputs with PyTorch's.

    python3 training/tools/gpu_check.py --out /tmp/gpu-check [--data compact.csv.gz] [--device cuda] [--workers 2]

Without --data it trains on generated faces (no dataset needed on the GPU machine). The last line is JSON; the exit
status is 0 only when every comparison is within tolerance. It runs on a CPU too (`--device cpu`): that is how the
test suite keeps it working on machines without a GPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_train.checkpoint import load_checkpoint  # noqa: E402
from fer_train.data import load_fer  # noqa: E402
from fer_train.train import choose_precision, load_config, predict_proba, train  # noqa: E402

# bf16/fp16 autocast on the GPU against fp32 on the CPU: probabilities differ by a few 1e-3 on a trained net.
PROB_TOL = 0.02


def _synthetic_csv(path: Path, n: int, seed: int = 5) -> Path:
    import gzip

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    lines = ["emotion,pixels,Usage"]
    for i in range(n):
        y = int(rng.integers(0, 7))
        img = np.clip(40 + 25 * y + 20 * np.sin(xx / (3 + y)) + 15 * np.cos(yy / 5) + rng.normal(0, 12, (48, 48)), 0, 255)
        lines.append(f"{y},{' '.join(map(str, img.astype(np.uint8).ravel()))},{'Training' if i < n * 3 // 4 else 'PublicTest'}")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the run, the bundle and result.json")
    ap.add_argument("--data", help="FER2013-style CSV(.gz) (default: 4,000 generated faces)")
    ap.add_argument("--device", default="cuda", help="training device (default cuda)")
    ap.add_argument("--workers", type=int, default=2, help="batch-preparing processes (default 2)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one training setting")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: --device {a.device} but torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    csv = Path(a.data) if a.data else _synthetic_csv(out / "synthetic.csv.gz", 4000)
    cfg = load_config(None, [f"data_csv={csv}", "ferplus_csv=null", "cache=null", "epochs=2", "stop_after=1",
                             *a.set])
    result: dict = {"device": str(device), "torch": torch.__version__, "precision": choose_precision(cfg.precision, device),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "data": str(csv)}
    run = out / "run"
    t0 = time.time()
    first = train(cfg, run, device_name=a.device, workers=a.workers)
    second = train(replace(cfg, stop_after=0), run, resume=True, device_name=a.device, workers=a.workers)
    result["train_seconds"] = round(time.time() - t0, 1)
    result["stopped_after_first"] = bool(first.get("stopped"))
    result["epochs"] = [h["epoch"] for h in second["history"]]
    result["history"] = second["history"]

    ck = load_checkpoint(run / "final.pt")
    te = load_fer(str(csv), None, None).select(cfg.test_usage)
    # The device as training runs it (its mixed precision) against the CPU in fp32, the reference.
    gpu = predict_proba(ck.model.to(device).to(memory_format=torch.channels_last), te.images, ck.mean, ck.std, device)
    cpu = predict_proba(ck.model.cpu(), te.images, ck.mean, ck.std, torch.device("cpu"), precision="fp32")
    result["test_accuracy_device"] = float((gpu.argmax(1) == te.labels).mean())
    result["test_accuracy_cpu_fp32"] = float((cpu.argmax(1) == te.labels).mean())
    result["max_prob_diff_device_vs_cpu_fp32"] = float(np.abs(gpu - cpu).max())
    ok = (result["stopped_after_first"] and result["epochs"] == [1, 2]
          and result["max_prob_diff_device_vs_cpu_fp32"] <= PROB_TOL)

    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ImportError as e:
        result["export"] = f"skipped: {e}"
    else:
        from fer_train.export import main as export_main

        bundle = out / "bundle"
        rc = export_main(["--checkpoint", str(run / "final.pt"), "--out", str(bundle), "--name", "gpu-check",
                          "--version", "0.0.1", "--force", "--int8-data", str(csv), "--int8-rows", "256"])
        manifest = json.loads((bundle / "manifest.json").read_text())
        sess = ort.InferenceSession(str(bundle / manifest["engines"]["onnx"]["file"]), providers=["CPUExecutionProvider"])
        x = ((te.images.astype(np.float32) / 255.0 - ck.mean) / ck.std)[:, None]
        onnx_probs = sess.run(None, {sess.get_inputs()[0].name: x})[0]  # the export appends the softmax
        result["export"] = "ok" if rc == 0 else f"export exited {rc}"
        result["max_prob_diff_onnx_vs_cpu_fp32"] = float(np.abs(onnx_probs - cpu).max())
        ok = ok and rc == 0 and result["max_prob_diff_onnx_vs_cpu_fp32"] <= 1e-3
    result["ok"] = bool(ok)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
