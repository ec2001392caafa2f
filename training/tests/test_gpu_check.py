"""tools/gpu_check.py is the script a session runs when it is lent a GPU; here it runs on the CPU so it keeps
working: interrupted and resumed training, device-vs-fp32 comparison, export and onnxruntime comparison."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def test_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    r = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path), "--device", "cpu", "--workers", "1",
                        "--set", 'net={"widths": [8, 16]}', "--set", "threads=1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    j = json.loads(r.stdout.strip().splitlines()[-1])
    assert j["ok"] and j["stopped_after_first"] and j["epochs"] == [1, 2] and j["export"] == "ok"
    assert j["max_prob_diff_onnx_vs_cpu_fp32"] <= 1e-3
    assert (tmp_path / "bundle" / "manifest.json").is_file() and (tmp_path / "result.json").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_gpu_check_says_when_there_is_no_cuda_device(tmp_path):
    r = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "sees no CUDA device" in r.stderr
