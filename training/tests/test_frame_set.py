"""training/tools/make_frame_set.py: whole frames from PublicTest rows only, the true box in each name."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import write_fer_csv

_spec = importlib.util.spec_from_file_location("make_frame_set", Path(__file__).resolve().parents[1] / "tools" / "make_frame_set.py")
mfs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mfs)  # type: ignore[union-attr]


def test_frames_come_from_publictest_rows_with_their_box(tmp_path):
    # PublicTest faces are white squares, Training faces black: a frame built from a Training row would show it.
    imgs = np.concatenate([np.full((6, 48, 48), 255, np.uint8), np.zeros((4, 48, 48), np.uint8)])
    labels = np.array([3, 3, 4, 0, 6, 5, 1, 1, 1, 1])
    csv = write_fer_csv(tmp_path / "d.csv", imgs, labels, ["PublicTest"] * 6 + ["Training"] * 4)
    out = tmp_path / "frames"
    assert mfs.main(["--data", str(csv), "--out", str(out), "--seed", "3", "--size", "320x240"]) == 0
    files = sorted(out.rglob("*.jpg"))
    assert len(files) == 6
    assert sorted(f.parent.name for f in files) == sorted(["happy", "happy", "sad", "angry", "neutral", "surprise"])
    for f in files:
        x, y, w, h = map(int, re.search(r"_b(\d+)-(\d+)-(\d+)-(\d+)\.jpg$", f.name).groups())
        img = np.asarray(Image.open(f).convert("L"), dtype=np.float32)
        assert img.shape == (240, 320) and w == h and 40 <= w <= 200 and x + w <= 320 and y + h <= 240
        core = img[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
        assert core.std() < 25  # one flat face (plus noise), not background detail
        # brighter than its surroundings: a PublicTest (white) face, scaled by the frame's gain
        assert core.mean() > img.mean()


def test_bad_arguments_are_named(tmp_path, capsys):
    assert mfs.main(["--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")]) == 1
    assert "none.csv does not exist" in capsys.readouterr().err
    assert mfs.main(["--data", "x", "--out", "o", "--size", "big"]) == 2
    assert mfs.main(["--data", "x", "--out", "o", "--size", "100x100"]) == 2


def test_validation_frames_come_from_the_carved_tenth_only(tmp_path):
    from fer_train.data import load_fer
    # 40 Training rows (10 per class) and 6 PublicTest rows: Validation is one Training row per class.
    imgs = np.stack([np.full((48, 48), 10 + i, np.uint8) for i in range(46)])
    labels = np.array([c for c in (0, 3, 4, 6) for _ in range(10)] + [3, 3, 4, 0, 6, 5])
    csv = write_fer_csv(tmp_path / "d.csv", imgs, labels, ["Training"] * 40 + ["PublicTest"] * 6)
    val = load_fer(str(csv)).select("Validation")
    assert len(val) == 4
    out = tmp_path / "frames"
    assert mfs.main(["--data", str(csv), "--out", str(out), "--usage", "Validation", "--size", "320x240"]) == 0
    files = sorted(out.rglob("*.jpg"))
    assert sorted(f.parent.name for f in files) == sorted(["angry", "happy", "sad", "neutral"])


def test_exclude_leaves_out_another_draws_rows_and_keeps_the_rest(tmp_path):
    # 12 PublicTest faces, each its own grey level, so a frame tells which row it came from.
    imgs = np.stack([np.full((48, 48), 20 + 18 * i, np.uint8) for i in range(12)])
    csv = write_fer_csv(tmp_path / "d.csv", imgs, np.arange(12) % 7, ["PublicTest"] * 12)
    full, part = tmp_path / "full", tmp_path / "part"
    assert mfs.main(["--data", str(csv), "--out", str(full), "--seed", "3", "--count", "8", "--size", "320x240"]) == 0
    assert mfs.main(["--data", str(csv), "--out", str(part), "--seed", "3", "--count", "8", "--size", "320x240", "--exclude", "2:5"]) == 0
    drawn = np.random.default_rng(3).permutation(12)[:8]
    excluded = set(np.random.default_rng(2).permutation(12)[:5].tolist())
    kept = {n for n, i in enumerate(drawn) if int(i) not in excluded}
    assert 0 < len(kept) < 8
    names = {f.relative_to(part) for f in part.rglob("*.jpg")}
    assert {int(n.name[:5]) for n in names} == kept
    for n in names:  # the frames kept are byte for byte those of the set without --exclude
        assert (part / n).read_bytes() == (full / n).read_bytes()
    assert mfs.main(["--data", str(csv), "--out", str(part), "--exclude", "2"]) == 2


def test_roll_tilts_the_face_inside_the_same_box_and_leaves_other_frames_alone(tmp_path):
    # A face with a horizontal bar above its centre: tilted, the bar's rows spread; untilted it stays flat.
    face = np.full((48, 48), 60, np.uint8)
    face[12:16, 8:40] = 250
    csv = write_fer_csv(tmp_path / "d.csv", np.stack([face] * 4), np.array([3, 3, 3, 3]), ["PublicTest"] * 4)

    def frames(*extra):
        out = tmp_path / ("f" + "".join(extra).replace(" ", ""))
        assert mfs.main(["--data", str(csv), "--out", str(out), "--seed", "5", "--size", "320x240", "--quality", "100", *extra]) == 0
        return {f.name: f for f in out.rglob("*.jpg")}

    plain, zero, tilted = frames(), frames("--roll", "0"), frames("--roll", "40")
    assert sorted(plain) == sorted(zero) == sorted(tilted), "the same boxes and scenes: tilts have their own random stream"
    for name in plain:
        assert np.array_equal(np.asarray(Image.open(plain[name])), np.asarray(Image.open(zero[name])))
    spreads = []
    for name, f in tilted.items():
        x, y, w, h = map(int, re.search(r"_b(\d+)-(\d+)-(\d+)-(\d+)\.jpg$", name).groups())
        crop = np.asarray(Image.open(f).convert("L").crop((x, y, x + w, y + h)).resize((48, 48)), dtype=np.float32)
        flat = np.asarray(Image.open(plain[name]).convert("L").crop((x, y, x + w, y + h)).resize((48, 48)), dtype=np.float32)
        rows = lambda im: np.nonzero(im[:, 16:32].max(axis=1) > im.mean() + 60)[0]  # noqa: E731
        spreads.append((np.ptp(rows(crop)) if len(rows(crop)) else 0, np.ptp(rows(flat))))
    assert any(t > f + 3 for t, f in spreads), spreads
    assert mfs.main(["--data", str(csv), "--out", str(tmp_path / "x"), "--roll", "120"]) == 2
