"""Scale-out training with PyTorch DistributedDataParallel under torchrun, on CPUs with the gloo backend, two processes
on tiny generated data: it trains, rank 0 alone writes the checkpoints, a job stopped after an epoch resumes to exactly
the result of an uninterrupted job, and the loss curve matches the single-process equivalent (batch_size x 2)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import synthetic_faces, write_fer_csv

TRAINING = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    imgs, labels = synthetic_faces(48, seed=5)
    return write_fer_csv(tmp_path_factory.mktemp("ddp") / "d.csv", imgs, labels, ["Training"] * 32 + ["PublicTest"] * 16)


def _sets(csv, batch, *extra):
    out = ["--device", "cpu", "--set", f"data_csv={csv}", "--set", "ferplus_csv=null", "--set", "cache=null",
           "--set", 'net={"widths": [4, 8]}', "--set", "epochs=3", "--set", "lr=0.05", "--set", "warmup_epochs=0.5",
           "--set", "seed=7", "--set", "threads=1", "--set", "train_usage=TrainingAll", "--set", "val_usage=", "--set", f"batch_size={batch}"]
    for e in extra:
        out += ["--set", e]
    return out


def _run(args, nproc):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TRAINING)}
    head = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "fer_train.train"] \
        if nproc > 1 else [sys.executable, "-m", "fer_train.train"]
    r = subprocess.run(head + args, cwd=TRAINING, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _losses(out):
    return [h["train_loss"] for h in json.loads((Path(out) / "history.json").read_text())]


def test_two_processes_train_checkpoint_resume_and_match_one_process(data, tmp_path):
    full, cut, single = tmp_path / "full", tmp_path / "cut", tmp_path / "single"
    r = _run(["--out", str(full), *_sets(data, 8)], 2)
    assert "world=2" in r.stderr
    assert sorted(p.name for p in full.iterdir()) == ["best.pt", "config.json", "final.pt", "history.json", "last.pt"]
    assert [h["epoch"] for h in json.loads((full / "history.json").read_text())] == [1, 2, 3]

    # A job stopped after epoch 2 (a time limit) and resumed ends exactly where the uninterrupted job does.
    _run(["--out", str(cut), *_sets(data, 8, "stop_after=2")], 2)
    assert [h["epoch"] for h in json.loads((cut / "history.json").read_text())] == [1, 2]
    _run(["--out", str(cut), "--resume", "--device", "cpu", "--set", "stop_after=0"], 2)
    assert _losses(cut) == _losses(full)

    # The single-process equivalent takes the same 16 faces per step from the same starting weights. What differs:
    # BatchNorm statistics over each rank's 8 faces instead of all 16, and each rank's own augmentation draws. Both
    # are unbiased noise, so the curves agree closely at first and drift apart slowly (measured: 1.9% after epoch 1,
    # 1.9% after 2, 7.2% after 3); the bounds are about twice that. They show the two-process job learns what the
    # one-process job learns; at this scale they cannot tell a small learning-rate error (a doubled rate moves epoch 1
    # by 1.4%), which is why the exact-resume comparison above is the precise check of the distributed loop.
    _run(["--out", str(single), *_sets(data, 16)], 1)
    ddp, one = _losses(full), _losses(single)
    assert abs(ddp[0] - one[0]) / one[0] <= 0.04, (ddp, one)
    assert all(abs(d - s) / s <= 0.15 for d, s in zip(ddp, one)), (ddp, one)
    assert ddp[-1] < ddp[0] and one[-1] < one[0]
