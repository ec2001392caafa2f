"""Smoke test of the training loop on a tiny generated CSV: checkpoints, resume, determinism."""
import json

import pytest
import torch

import fer_train.train as train_mod
from conftest import synthetic_faces, write_fer_csv
from fer_train.augment import AugmentConfig
from fer_train.checkpoint import load_checkpoint
from fer_train.model import NetConfig
from fer_train.train import TrainConfig, train


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory):
    imgs, labels = synthetic_faces(56, seed=5)
    return write_fer_csv(tmp_path_factory.mktemp("traindata") / "tiny.csv.gz", imgs, labels,
                         ["Training"] * 40 + ["PublicTest"] * 16)


def _cfg(csv, epochs=3):
    return TrainConfig(data_csv=str(csv), ferplus_csv=None, cache=None, epochs=epochs, batch_size=16, lr=0.05,
                       warmup_epochs=0.5, seed=7, net=NetConfig(widths=(4, 8)), aug=AugmentConfig())


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_resume_continues_at_epoch_3_and_matches_an_uninterrupted_run(tmp_path, train_csv, monkeypatch):
    full = train(_cfg(train_csv), tmp_path / "full", device_name="cpu")
    assert [h["epoch"] for h in full["history"]] == [1, 2, 3]
    assert {"train_loss", "train_acc", "val_acc", "val_acc_ema", "lr"} <= set(full["history"][0])

    real_progress = train_mod.Progress

    class CrashAtEpoch3(real_progress):
        def __init__(self, total, label, *a, **k):
            if label.startswith("epoch 3/"):
                raise Interrupted(label)
            super().__init__(total, label, *a, **k)

    monkeypatch.setattr(train_mod, "Progress", CrashAtEpoch3)
    with pytest.raises(Interrupted):
        train(_cfg(train_csv), tmp_path / "cut", device_name="cpu")
    last = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)
    assert last["epoch"] == 1  # 0-based: two epochs done
    monkeypatch.setattr(train_mod, "Progress", real_progress)

    resumed = train(_cfg(train_csv), tmp_path / "cut", resume=True, device_name="cpu")
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    # Same seed, same data: the interrupted-and-resumed run ends exactly where the uninterrupted one does.
    assert _strip(resumed["history"]) == _strip(full["history"])
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    hist = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert len(hist) == 3
    ck = load_checkpoint(tmp_path / "cut" / "best.pt")  # the export/evaluate loader reads what train wrote
    assert ck.model.cfg.widths == (4, 8) and 0 < ck.mean < 1 and 0 < ck.std < 1 and ck.history
