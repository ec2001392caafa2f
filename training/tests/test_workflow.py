"""The README's "Training your own model", end to end on a tiny generated dataset: train, evaluate, export (float +
int8), evaluate the bundle, export again with the report, and the agent's own `eval` on it (both engines) when the
agent is built. Same commands as the README, smaller numbers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import synthetic_faces, write_fer_csv

TRAINING = Path(__file__).resolve().parents[1]
ROOT = TRAINING.parent
CLI = ROOT / "dist" / "agent" / "cli" / "main.js"


def _py(*args):
    r = subprocess.run([sys.executable, "-m", *args], cwd=TRAINING, env={**os.environ, "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{args[0]}: {r.stderr[-2000:]}"
    return r


def test_train_evaluate_export_and_the_agents_eval(tmp_path):
    imgs, labels = synthetic_faces(96, seed=21)
    csv = write_fer_csv(tmp_path / "fer.csv", imgs, labels, ["Training"] * 64 + ["PublicTest"] * 32)
    run, bundle, report = tmp_path / "runs" / "mine", tmp_path / "bundles" / "mine-1.0.0", tmp_path / "runs" / "mine" / "report"
    sets = ["--set", f"data_csv={csv}", "--set", "ferplus_csv=null", "--set", f"cache={tmp_path / 'cache.npz'}",
            "--set", "epochs=2", "--set", "batch_size=16", "--set", 'net={"widths": [8, 16]}', "--set", "threads=1"]
    _py("fer_train.train", "--config", "configs/default.json", "--out", str(run), "--device", "cpu", *sets)
    _py("fer_train.evaluate", "--checkpoint", str(run / "final.pt"), "--data", str(csv), "--usage", "PublicTest", "--out", str(report))
    _py("fer_train.export", "--checkpoint", str(run / "final.pt"), "--out", str(bundle), "--name", "mine", "--version", "1.0.0",
        "--report", str(report))
    _py("fer_train.evaluate", "--checkpoint", str(run / "final.pt"), "--data", str(csv), "--usage", "PublicTest", "--out", str(report),
        "--bundle", str(bundle))
    _py("fer_train.export", "--checkpoint", str(run / "final.pt"), "--out", str(bundle), "--name", "mine", "--version", "1.0.0",
        "--report", str(report), "--force")
    m = json.loads((bundle / "manifest.json").read_text())
    metrics = m["training"]["metrics"]
    assert {"public_test_accuracy", "public_test_accuracy_int8"} <= set(metrics) and "onnx_int8" in m["engines"]

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).returncode == 0 if CLI.is_file() else False
    if not node:
        if os.environ.get("CI"):
            pytest.fail(f"the agent is not built ({CLI}): npm test builds it before the Python tests")
        pytest.skip(f"the agent is not built ({CLI}); run npm run build")
    # int8 set explicitly: with `auto` the agent runs int8 only where it measures it 10 % faster, which a net this
    # small may not be.
    for engine, precision, metric in (("onnxruntime", "int8", "public_test_accuracy_int8"), ("tfjs-wasm", "fp32", "public_test_accuracy")):
        r = subprocess.run(["node", str(CLI), "eval", "--model", str(bundle), "--data", str(csv), "--engine", engine, "--log-level", "error",
                            "--set", f"model.precision={precision}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        j = json.loads(r.stdout.strip().splitlines()[-1])
        assert j["precision"] == precision and j["n"] == 32 and j["model"] == "mine@1.0.0"
        assert abs(j["accuracy"] - metrics[metric]) <= 1 / 32 + 1e-9, (engine, j["accuracy"], metrics[metric])
