"""Cached teacher answers (`fer_train.teacher_cache`) and distilling from them (`teacher_cache` in the trainer), on
tiny generated data."""
import json

import numpy as np
import pytest
import torch

from conftest import opinionated_teacher, synthetic_faces, tiny_split_csv, tiny_train_config, write_fer_csv
from fer_train.data import load_fer
from fer_train.model import ExpressionNet, NetConfig, as_input
from fer_train.teacher_cache import VIEW_SETS, load_teacher_cache, main, probs_from_logits, view
from fer_train.train import Teachers, normalise, predict_proba, train


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    return tiny_split_csv(tmp_path_factory.mktemp("cache"), seed=21)


def _cfg(csv, **kw):
    return tiny_train_config(csv, **kw)


def _random_teacher(path, seed):
    torch.manual_seed(seed)
    net = ExpressionNet(NetConfig(widths=(8, 16)))
    torch.save({"model": net.state_dict(), "config": {"net": {"widths": [8, 16]}}, "mean": 0.45, "std": 0.2}, path)
    return str(path)


def _make(tmp_path, csv, teachers, views="flip", extra=()):
    out = tmp_path / "targets.npz"
    args = ["--data", str(csv), "--views", views, "--out", str(out), "--precision", "fp32", "--test-usage", "PublicTest", *extra]
    for t in teachers:
        args += ["--checkpoint", t]
    assert main(args) == 0
    return out


def test_cached_answers_are_the_online_teachers_answers(tmp_path, data_csv, capsys):
    a, b = _random_teacher(tmp_path / "a.pt", 1), _random_teacher(tmp_path / "b.pt", 2)
    path = _make(tmp_path, data_csv, [a, b])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    tr = load_fer(data_csv, None, None).select("Training")  # the student's rows: Training less the validation rows
    assert 30 <= len(tr) < 40
    assert last["rows"] == len(tr) and last["views"] == ["plain", "flip"] and len(last["teachers"]) == 2
    st = load_teacher_cache(path)
    assert st.logits.shape == (len(tr), 2, 2, 7) and st.logits.dtype == np.float16
    raw = as_input(torch.from_numpy(tr.images))
    online = Teachers([a, b], torch.device("cpu"), 7, flip_tta=True)
    with torch.autocast("cpu", enabled=False):
        for temperature in (1.0, 3.0):
            want = torch.stack([torch.softmax(net(normalise(raw, m, s)) / temperature, 1) +
                                torch.softmax(net(torch.flip(normalise(raw, m, s), dims=[3])) / temperature, 1)
                                for net, m, s, _ in online.members]).sum(0) / 4
            assert torch.allclose(st.probs(temperature), want, atol=2e-3)
    # The teachers' own accuracy travels with the file, measured with the same views.
    te = load_fer(data_csv, None, None).select("PublicTest")
    p = sum(predict_proba(n, te.images, m, s, torch.device("cpu"), flip_tta=True, precision="fp32")
            for n, m, s, _ in online.members)
    assert st.meta["ensemble_test_acc"] == pytest.approx(float((p.argmax(1) == te.labels).mean()), abs=1e-4)
    assert st.meta["ensemble_test_acc_by_views"]["flip"] == st.meta["ensemble_test_acc"]
    assert set(st.meta["ensemble_test_acc_by_views"]) == {"plain", "flip"}


@pytest.mark.parametrize("favourite", [2, 5])
def test_the_student_learns_what_the_cached_teacher_says(tmp_path, data_csv, favourite):
    path = _make(tmp_path, data_csv, [opinionated_teacher(tmp_path / "t.pt", favourite)])
    cfg = _cfg(data_csv, epochs=6, teacher_cache=str(path), distill_weight=1.0, distill_temperature=1.0)
    train(cfg, tmp_path / "run", device_name="cpu")
    student = ExpressionNet(cfg.net)
    ck = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)
    student.load_state_dict(ck["model"])
    te = load_fer(data_csv, None, None).select("PublicTest")
    pred = predict_proba(student, te.images, ck["mean"], ck["std"], torch.device("cpu")).argmax(1)
    # The labels cover all seven classes; only the cached teacher can make the student favour one of them.
    assert np.mean(pred == favourite) > 0.8, np.bincount(pred, minlength=7)


def test_a_cache_made_for_other_rows_is_refused_by_name(tmp_path, data_csv):
    path = _make(tmp_path, data_csv, [_random_teacher(tmp_path / "a.pt", 1)], extra=["--max-train", "20"])
    n = len(load_fer(data_csv, None, None).select("Training"))
    with pytest.raises(SystemExit, match=rf"teacher_cache .*targets\.npz was made for other training rows \(20 rows.*\({n} rows\)"):
        train(_cfg(data_csv, teacher_cache=str(path)), tmp_path / "run", device_name="cpu")
    # The same file fits a run on the same 20 rows: the check above is about the rows, not the file.
    train(_cfg(data_csv, epochs=1, max_train=20, teacher_cache=str(path)), tmp_path / "ok", device_name="cpu")
    # Same count, other pixels: caught by the digest, not the count.
    imgs, labels = synthetic_faces(56, seed=99)
    other = write_fer_csv(tmp_path / "other.csv.gz", imgs, labels, ["Training"] * 30 + ["PublicTest"] * 26)
    with pytest.raises(SystemExit, match="made for other training rows"):
        train(_cfg(other, max_train=20, teacher_cache=str(path)), tmp_path / "other", device_name="cpu")


def test_bad_settings_and_files_name_what_is_wrong(tmp_path, data_csv):
    t = _random_teacher(tmp_path / "a.pt", 1)
    path = _make(tmp_path, data_csv, [t])
    with pytest.raises(SystemExit, match="teachers or teacher_cache, not both"):
        train(_cfg(data_csv, teacher_cache=str(path), teachers=[t]), tmp_path / "r1", device_name="cpu")
    with pytest.raises(SystemExit, match=r"teacher_cache .*missing\.npz does not exist"):
        train(_cfg(data_csv, teacher_cache=str(tmp_path / "missing.npz")), tmp_path / "r2", device_name="cpu")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(SystemExit, match=r"teacher_cache .*junk\.npz is not a teacher cache file"):
        load_teacher_cache(junk)
    assert main(["--data", str(data_csv), "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.npz")]) == 1
    assert main(["--data", str(data_csv), "--checkpoint", t, "--max-train", "-5", "--out", str(tmp_path / "y.npz")]) == 1
    assert not (tmp_path / "y.npz").exists()


def test_views_shift_and_mirror_the_face():
    x = torch.arange(2 * 48 * 48, dtype=torch.float32).reshape(2, 1, 48, 48)
    assert torch.equal(view(x, "plain"), x)
    assert torch.equal(view(x, "flip"), torch.flip(x, dims=[3]))
    r = view(x, "right")
    assert torch.equal(r[..., 2:], x[..., :-2]) and torch.equal(r[..., :2], x[..., :1].expand(-1, -1, -1, 2))
    u = view(x, "up")
    assert torch.equal(u[..., :-2, :], x[..., 2:, :]) and torch.equal(u[..., -2:, :], x[..., -1:, :].expand(-1, -1, 2, -1))
    assert torch.equal(view(x, "left+flip"), torch.flip(view(x, "left"), dims=[3]))
    assert all(view(x, v).shape == x.shape for v in VIEW_SETS["multi"])
    # The zoom keeps the centre and enlarges it: the middle column of a left-to-right ramp stays, the edges move in.
    ramp = torch.linspace(0, 1, 48).view(1, 1, 1, 48).expand(1, 1, 48, 48).contiguous()
    z = view(ramp, "zoom")
    assert abs(float(z[0, 0, 24, 23] + z[0, 0, 24, 24]) - float(ramp[0, 0, 24, 23] + ramp[0, 0, 24, 24])) < 1e-5
    assert float(z[0, 0, 24, 0]) > float(ramp[0, 0, 24, 0]) + 0.02 and float(z[0, 0, 24, 47]) < float(ramp[0, 0, 24, 47]) - 0.02
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        view(x, "sideways")


def test_probabilities_average_teachers_and_views():
    logits = np.zeros((1, 2, 2, 7), np.float32)
    logits[0, 0, :, 3] = 50.0  # teacher 0 is certain of class 3 in both views
    logits[0, 1, 0, 1] = 50.0  # teacher 1 says 1 in one view, nothing in the other
    p = probs_from_logits(logits, 1.0)[0]
    assert p[3] == pytest.approx(0.5 + 0.25 / 7, abs=1e-4) and p[1] == pytest.approx(0.25 + 0.25 / 7, abs=1e-4)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-5)


def test_the_bundle_says_which_cached_teachers_taught_it(tmp_path, data_csv):
    from fer_train.bundle import _training_block

    path = _make(tmp_path, data_csv, [_random_teacher(tmp_path / "a.pt", 1), _random_teacher(tmp_path / "b.pt", 2)])
    block = _training_block({"init": "x.pt", "teacher_cache": str(path)}, 45, None, None)
    st = load_teacher_cache(path)
    assert block["distilled_from_teacher_cache"] == {"file": "targets.npz", "teachers": 2, "views": ["plain", "flip"],
                                                     "ensemble_public_test_accuracy": st.meta["ensemble_test_acc"]}
    assert "distilled_from_teachers" not in block
    # Exported where the cache file is not: its name only.
    gone = _training_block({"teacher_cache": str(tmp_path / "elsewhere.npz")}, 45, None, None)
    assert gone["distilled_from_teacher_cache"] == {"file": "elsewhere.npz"}
