"""Warm starts (`init`) and knowledge distillation (`teachers`) in the training loop, on tiny generated data."""
from dataclasses import asdict

import numpy as np
import pytest
import torch

from conftest import opinionated_teacher, tiny_split_csv, tiny_train_config
from fer_train.data import load_fer
from fer_train.model import ExpressionNet, NetConfig
from fer_train.train import predict_proba, train


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    return tiny_split_csv(tmp_path_factory.mktemp("distill"), seed=11)


def _cfg(csv, **kw):
    return tiny_train_config(csv, **kw)


def _weights(path, key="model"):
    return torch.load(path, map_location="cpu", weights_only=True)[key]


def test_init_starts_from_the_given_weights(tmp_path, data_csv):
    train(_cfg(data_csv), tmp_path / "a", device_name="cpu")
    start = _weights(tmp_path / "a" / "final.pt")
    # With a vanishing learning rate the run cannot move: what it ends with is what it started from.
    train(_cfg(data_csv, epochs=1, lr=1e-12, init=str(tmp_path / "a" / "final.pt")), tmp_path / "b", device_name="cpu")
    end = _weights(tmp_path / "b" / "last.pt")
    convs = [k for k in start if k.endswith("weight") and start[k].ndim == 4]
    assert convs and all(torch.allclose(start[k], end[k], atol=1e-6) for k in convs)
    # ...and a fresh run with the same seed does not start there, so the check above can fail.
    train(_cfg(data_csv, epochs=1, lr=1e-12), tmp_path / "c", device_name="cpu")
    fresh = _weights(tmp_path / "c" / "last.pt")
    assert not all(torch.allclose(start[k], fresh[k], atol=1e-6) for k in convs)


def test_init_with_another_net_shape_names_both(tmp_path, data_csv):
    train(_cfg(data_csv, epochs=1), tmp_path / "a", device_name="cpu")
    with pytest.raises(SystemExit, match=r"init checkpoint .*final\.pt has net .*widths.*4, 8.*this run has .*8, 16"):
        train(_cfg(data_csv, net=NetConfig(widths=(8, 16)), init=str(tmp_path / "a" / "final.pt")), tmp_path / "b",
              device_name="cpu")
    with pytest.raises(SystemExit, match="init checkpoint .*missing.pt does not exist"):
        train(_cfg(data_csv, init=str(tmp_path / "missing.pt")), tmp_path / "c", device_name="cpu")


@pytest.mark.parametrize("favourite", [2, 5])
def test_the_student_learns_what_its_teacher_says(tmp_path, data_csv, favourite):
    teacher = opinionated_teacher(tmp_path / "teacher.pt", favourite)
    cfg = _cfg(data_csv, epochs=6, teachers=[teacher], distill_weight=1.0, distill_temperature=1.0)
    train(cfg, tmp_path / "run", device_name="cpu")
    student = ExpressionNet(cfg.net)
    student.load_state_dict(_weights(tmp_path / "run" / "last.pt"))
    ck = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    te = load_fer(data_csv, None, None).select("PublicTest")
    pred = predict_proba(student, te.images, ck["mean"], ck["std"], torch.device("cpu")).argmax(1)
    # The labels are spread over all seven classes; only the teacher can make the student favour one of them.
    assert np.mean(pred == favourite) > 0.8, np.bincount(pred, minlength=7)


def test_a_missing_teacher_is_named(tmp_path, data_csv):
    with pytest.raises(SystemExit, match="teacher checkpoint .*nope.pt does not exist"):
        train(_cfg(data_csv, teachers=[str(tmp_path / "nope.pt")]), tmp_path / "run", device_name="cpu")
    # A plain string (`--set teachers=x.pt`) is one path, not a list of characters.
    with pytest.raises(SystemExit, match="teacher checkpoint .*nope.pt does not exist"):
        train(_cfg(data_csv, teachers=str(tmp_path / "nope.pt")), tmp_path / "run", device_name="cpu")


def test_bad_distillation_settings_are_named(tmp_path, data_csv):
    teacher = opinionated_teacher(tmp_path / "teacher.pt", 1)
    with pytest.raises(SystemExit, match=r"distill_weight = 1.5 is invalid: expected a number in \[0.0, 1.0\]"):
        train(_cfg(data_csv, teachers=[teacher], distill_weight=1.5), tmp_path / "a", device_name="cpu")
    other = ExpressionNet(NetConfig(widths=(8, 16), num_classes=8))
    torch.save({"model": other.state_dict(), "config": {"net": asdict(other.cfg)}, "mean": 0.5, "std": 0.25,
                "labels": [f"c{i}" for i in range(8)]}, tmp_path / "eight.pt")
    with pytest.raises(SystemExit, match="eight.pt has 8 outputs, the student 7"):
        train(_cfg(data_csv, teachers=[str(tmp_path / "eight.pt")]), tmp_path / "b", device_name="cpu")


@pytest.mark.parametrize("name", ["default.json", "teacher.json"])
def test_the_shipped_configs_load_and_build_their_nets(name):
    from pathlib import Path

    from fer_train.model import count_parameters
    from fer_train.train import load_config

    cfg = load_config(str(Path(__file__).resolve().parents[1] / "configs" / name), [])
    params = count_parameters(ExpressionNet(cfg.net))
    # The edge net has to stay small enough for the agent's speed target; the teacher is meant to be wider.
    assert (params < 1.5e6) if name == "default.json" else (params > 3e6), params
    assert cfg.epochs >= 50 and 0 < cfg.lr < 0.1


def test_manifest_counts_a_teacher_given_as_a_string_once():
    from fer_train.bundle import _training_block

    assert _training_block({"teachers": "runs/t.pt", "teacher_flip_tta": True}, 3, None, "x")["distilled_from_teachers"] == 1
    assert _training_block({"teachers": ["a.pt", "b.pt"]}, 3, None, "x")["distilled_from_teachers"] == 2
