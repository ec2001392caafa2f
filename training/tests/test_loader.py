"""The training loop's feed: batches in the epoch's order whatever the number of workers, targets as before, and no
device sync per step for logging."""
import numpy as np
import pytest
import torch

from conftest import synthetic_faces, write_fer_csv
from fer_train.augment import AugmentConfig
from fer_train.data import FaceSet, iter_batches
from fer_train.loader import BatchStream, soft_targets
from fer_train.model import NetConfig
from fer_train.train import TrainConfig, train


def _faces(n=50, seed=1, votes=True):
    imgs, labels = synthetic_faces(n, seed=seed)
    v = None
    if votes:
        rng = np.random.default_rng(seed)
        v = rng.random((n, 7)).astype(np.float32)
        v /= v.sum(1, keepdims=True)
        v[::4] = 0  # rows without usable FER+ votes keep their one-hot target
    return FaceSet(images=imgs, labels=labels, usage=["Training"] * n, votes=v)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_come_in_the_epoch_order_with_their_targets(workers):
    fs = _faces()
    steps = list(iter_batches(len(fs), 8, np.random.default_rng(4)))
    got = list(BatchStream(fs, steps, 7, 0.3, torch.device("cpu"), workers))
    assert len(got) == len(steps) == 7
    for b, idx in zip(got, steps):
        assert b.images.shape == (len(idx), 1, 48, 48) and b.images.dtype == torch.float32
        assert torch.equal(b.images, torch.from_numpy(fs.images[idx]).unsqueeze(1).float() / 255.0)
        assert torch.equal(b.labels, torch.from_numpy(fs.labels[idx]).long())
        assert torch.equal(b.rows, torch.from_numpy(idx).long())  # what cached teacher answers are looked up by
        assert torch.equal(b.targets, soft_targets(fs.labels[idx], fs.votes[idx], 7, 0.3))


def test_soft_targets_mix_votes_only_where_there_are_votes():
    labels = np.array([2, 5])
    votes = np.array([[0, 0, 0, 0, 0, 0, 1], [0] * 7], np.float32)
    y = soft_targets(labels, votes, 7, 0.25).numpy()
    assert y[0, 2] == pytest.approx(0.75) and y[0, 6] == pytest.approx(0.25)
    assert y[1].tolist() == [0, 0, 0, 0, 0, 1, 0]  # no votes: the FER2013 label alone
    assert np.allclose(y.sum(1), 1)


def test_negative_workers_is_an_error_naming_the_flag():
    with pytest.raises(ValueError, match="--workers"):
        BatchStream(_faces(8), [np.arange(8)], 7, 0.0, torch.device("cpu"), -1)


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    imgs, labels = synthetic_faces(200, seed=9)
    return write_fer_csv(tmp_path_factory.mktemp("loaderdata") / "tiny.csv.gz", imgs, labels,
                         ["Training"] * 184 + ["PublicTest"] * 16)


def _cfg(csv):
    return TrainConfig(data_csv=str(csv), ferplus_csv=None, cache=None, epochs=2, batch_size=4, lr=0.05,
                       warmup_epochs=0.5, seed=3, net=NetConfig(widths=(4, 8)), aug=AugmentConfig())


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_workers_do_not_change_the_curve(tmp_path, csv):
    a = train(_cfg(csv), tmp_path / "w0", device_name="cpu", workers=0)
    b = train(_cfg(csv), tmp_path / "w2", device_name="cpu", workers=2)
    assert _strip(a["history"]) == _strip(b["history"])


def test_logging_does_not_sync_with_the_device_every_step(tmp_path, csv, monkeypatch):
    """92 steps an epoch: reading a loss or a prediction back to the host each step (`.item()`, `.cpu()`, `float()`)
    would stall a GPU's queue every step. The loop may read its running sums when it prints (about 11 times an
    epoch) and at the end of the epoch, and evaluation reads predictions per batch of 512."""
    reads = {"n": 0}
    for name in ("item", "cpu", "tolist", "__float__", "__int__"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, **k):
            reads["n"] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    cfg = _cfg(csv)
    cfg.batch_size = 2
    out = train(cfg, tmp_path / "run", device_name="cpu")
    steps = 2 * (184 // 2)
    assert len(out["history"]) == 2
    # Per epoch: 11 progress lines x 2 sums, 2 at the end, a few for evaluation; independent of the step count.
    assert reads["n"] <= 30 * 2 < steps, f"{reads['n']} host reads in {steps} steps"
