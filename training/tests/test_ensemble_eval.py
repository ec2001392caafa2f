"""tools/ensemble_eval.py: each member's accuracy and the ensemble's (mean of probabilities), as the training README
uses it to size up a distillation teacher."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from fer_train.checkpoint import load_checkpoint
from fer_train.data import load_fer
from fer_train.train import predict_proba

TOOL = Path(__file__).resolve().parents[1] / "tools" / "ensemble_eval.py"


def test_members_and_ensemble_match_a_direct_computation(tiny_checkpoint, eval_csv):
    r = subprocess.run([sys.executable, str(TOOL), "--data", str(eval_csv), "--checkpoint", str(tiny_checkpoint),
                        "--checkpoint", str(tiny_checkpoint), "--usage", "PublicTest"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    j = json.loads(r.stdout.strip().splitlines()[-1])
    te = load_fer(str(eval_csv), None, None).select("PublicTest")
    ck = load_checkpoint(tiny_checkpoint)
    p = predict_proba(ck.model, te.images, ck.mean, ck.std, torch.device("cpu"), precision="fp32")
    acc = round(float((p.argmax(1) == te.labels).mean()), 4)
    assert j["n"] == len(te) and [m["accuracy"] for m in j["members"]] == [acc, acc]
    # Two copies of one net: the ensemble is that net.
    assert j["ensemble_accuracy"] == acc and np.isfinite(acc)


def test_views_are_averaged_as_the_teacher_cache_averages_them(tiny_checkpoint, eval_csv):
    def run(*views):
        args = [sys.executable, str(TOOL), "--data", str(eval_csv), "--checkpoint", str(tiny_checkpoint)]
        for v in views:
            args += ["--view", v]
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        return json.loads(r.stdout.strip().splitlines()[-1])

    te = load_fer(str(eval_csv), None, None).select("PublicTest")
    ck = load_checkpoint(tiny_checkpoint)
    flip = predict_proba(ck.model, te.images, ck.mean, ck.std, torch.device("cpu"), flip_tta=True, precision="fp32")
    # plain + flip is flip TTA; one zoomed view is its own answer (a different number is allowed, not required).
    assert run("plain", "flip")["ensemble_accuracy"] == round(float((flip.argmax(1) == te.labels).mean()), 4)
    zoom = run("zoom")
    assert zoom["views"] == ["zoom"] and zoom["flip_tta"] is False
    bad = subprocess.run([sys.executable, str(TOOL), "--data", str(eval_csv), "--checkpoint", str(tiny_checkpoint),
                          "--view", "sideways"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "unknown view 'sideways'" in bad.stderr


def test_a_missing_data_file_is_one_line(tmp_path, tiny_checkpoint):
    r = subprocess.run([sys.executable, str(TOOL), "--data", str(tmp_path / "none.csv"), "--checkpoint", str(tiny_checkpoint)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("ensemble_eval: ") and "Traceback" not in r.stderr
