import io

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_faces, write_fer_csv
from fer_train.data import load_fer, read_fer2013, read_ferplus_votes, read_image_folder


@pytest.mark.parametrize("name", ["faces.csv", "faces.csv.gz"])
def test_reads_plain_and_gzipped_csv(tmp_path, name):
    imgs, labels = synthetic_faces(5, seed=1)
    path = write_fer_csv(tmp_path / name, imgs, labels, ["Training", "Training", "PublicTest", "Training", "PublicTest"])
    fs = read_fer2013(path, report=None)
    assert len(fs) == 5 and fs.problems == []
    assert fs.images.dtype == np.uint8 and fs.images.shape == (5, 48, 48)
    np.testing.assert_array_equal(fs.images, imgs)
    np.testing.assert_array_equal(fs.labels, labels)
    test = fs.select("PublicTest")
    assert len(test) == 2
    np.testing.assert_array_equal(test.images, imgs[[2, 4]])


def test_malformed_rows_are_reported_with_file_row_reason_and_counted(tmp_path):
    imgs, labels = synthetic_faces(2, seed=2)
    good = " ".join(["7"] * 2304)
    bad = [
        "3",                                           # row 4: too few columns
        f"9,{good},Training",                          # row 5: label out of range
        f"x,{good},Training",                          # row 6: label not a number
        f"\u00b2,{good},Training",                     # row 7: unicode digit that int() rejects
        f"1,{' '.join(['7'] * 2303)} q,Training",      # row 8: non-integer pixel
        f"1,{' '.join(['7'] * 100)},Training",         # row 9: wrong pixel count
        f"1,{' '.join(['7'] * 2303)} 256,Training",    # row 10: pixel out of range
        f"1,{' '.join(['7'] * 2303)} 99999999999,Training",  # row 11: beyond int32
    ]
    path = write_fer_csv(tmp_path / "bad.csv", imgs, labels, ["Training"] * 2, bad)
    report = io.StringIO()
    fs = read_fer2013(path, report=report)
    assert len(fs) == 2
    assert [p.row for p in fs.problems] == [4, 5, 6, 7, 8, 9, 10, 11]
    reasons = [str(p) for p in fs.problems]
    assert reasons[0] == f"{path}:4: expected 3 columns, got 1"
    assert "emotion '9'" in reasons[1] and "emotion 'x'" in reasons[2]
    assert "non-integer" in reasons[4] and "got 100" in reasons[5]
    assert "outside 0..255" in reasons[6] and "outside 0..255" in reasons[7]
    text = report.getvalue()
    assert f"skipped {path}:9: expected 2304 pixels, got 100" in text
    assert "read 2 rows, skipped 8 malformed" in text


def test_bad_header_is_an_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("label,pixels,usage\n")
    with pytest.raises(ValueError, match="expected header"):
        read_fer2013(p, report=None)


def _votes_file(path, rows):
    head = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    path.write_text("\n".join([head] + [f"Training,fer{i:07d}.png," + ",".join(map(str, r)) for i, r in enumerate(rows)]) + "\n")
    return path


def test_ferplus_votes_map_to_fer2013_order_and_normalise(tmp_path):
    p = _votes_file(tmp_path / "new.csv", [[4, 0, 0, 1, 3, 2, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 2, 3, 5]])
    v = read_ferplus_votes(p, 2, report=None)
    # FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral
    np.testing.assert_allclose(v[0], np.array([3, 2, 0, 0, 1, 0, 4]) / 10)
    np.testing.assert_array_equal(v[1], np.zeros(7))  # only contempt/unknown/NF votes: no usable votes


@pytest.mark.parametrize("n_rows", [1, 3])
def test_ferplus_alignment_error(tmp_path, n_rows):
    p = _votes_file(tmp_path / "new.csv", [[1] * 10, [1] * 10])
    with pytest.raises(ValueError, match="not aligned"):
        read_ferplus_votes(p, n_rows, report=None)


def test_load_fer_aligns_votes_after_skipped_rows_and_caches(tmp_path):
    imgs, labels = synthetic_faces(3, seed=3)
    csv = write_fer_csv(tmp_path / "f.csv", imgs[:1], labels[:1], ["Training"],
                        ["5,1 2 3,Training", f"{labels[1]},{' '.join(map(str, imgs[1].ravel()))},Training"])
    votes = _votes_file(tmp_path / "new.csv", [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0] * 9 + [10],
                                               [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]])
    fs = load_fer(csv, votes, cache=tmp_path / "c.npz")
    assert len(fs) == 2
    np.testing.assert_array_equal(fs.votes.argmax(1), [6, 3])  # row 2 (malformed) and its votes are dropped together
    cached = load_fer(csv, votes, cache=tmp_path / "c.npz")
    np.testing.assert_array_equal(cached.images, fs.images)
    np.testing.assert_array_equal(cached.votes, fs.votes)


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label, n in (("happy", 2), ("sad", 1)):
        (tmp_path / label).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    (tmp_path / "sad" / "broken.png").write_bytes(b"not an image")
    fs = read_image_folder(tmp_path, report=None)
    assert fs.labels_names == ["happy", "sad"]
    assert fs.images.shape == (3, 48, 48) and fs.images.dtype == np.uint8
    np.testing.assert_array_equal(fs.labels, [0, 0, 1])
    assert len(fs.problems) == 1 and "broken.png" in fs.problems[0].file and "cannot decode" in fs.problems[0].reason


def test_cache_is_keyed_to_its_source_files(tmp_path, capsys):
    """A cache made from one CSV is never used for another, nor for the same file changed or without FER+."""
    a = write_fer_csv(tmp_path / "a.csv", *synthetic_faces(4, seed=1), ["Training"] * 4)
    b = write_fer_csv(tmp_path / "b.csv", *synthetic_faces(6, seed=2), ["Training"] * 6)
    cache = tmp_path / "c.npz"
    assert len(load_fer(a, None, cache)) == 4
    assert "(from the cache" not in capsys.readouterr().err
    assert len(load_fer(a, None, cache)) == 4
    assert f"data: {a} (from the cache {cache})" in capsys.readouterr().err
    assert len(load_fer(b, None, cache)) == 6, "another CSV is read, not the old cache"
    assert "was made from other files" in capsys.readouterr().err
    write_fer_csv(tmp_path / "b.csv", *synthetic_faces(5, seed=3), ["Training"] * 5)
    import os
    os.utime(tmp_path / "b.csv", ns=(1, 1))  # a different mtime even on coarse clocks
    assert len(load_fer(b, None, cache)) == 5, "a changed file is read again"
    votes = _votes_file(tmp_path / "v.csv", [[10] + [0] * 9] * 5)
    assert load_fer(b, votes, cache).votes is not None, "adding FER+ votes re-reads"


def test_missing_files_and_broken_csv_are_named(tmp_path):
    a = write_fer_csv(tmp_path / "a.csv", *synthetic_faces(2, seed=1), ["Training"] * 2)
    load_fer(a, None, tmp_path / "c.npz")
    a.unlink()
    with pytest.raises(FileNotFoundError, match="data file .*a.csv does not exist"):
        load_fer(a, None, tmp_path / "c.npz")  # even with a cache of it
    with pytest.raises(FileNotFoundError, match="FER\\+ votes file .*nope.csv does not exist"):
        load_fer(write_fer_csv(tmp_path / "b.csv", *synthetic_faces(2, seed=1), ["Training"] * 2), tmp_path / "nope.csv")
    bad = tmp_path / "q.csv"
    bad.write_text('emotion,pixels,Usage\n3,"1 2 3,Training\n' + "4," + " ".join(["1"] * 2304) + ",Training\n" * 3)
    import csv as _csv
    old = _csv.field_size_limit(100)
    try:
        with pytest.raises(ValueError, match=r"q\.csv:\d+: not a readable CSV row .*unclosed quote"):
            load_fer(bad)
    finally:
        _csv.field_size_limit(old)


def test_evaluation_reads_a_training_cache_without_rewriting_it(tmp_path, capsys):
    a = write_fer_csv(tmp_path / "a.csv", *synthetic_faces(4, seed=1), ["PublicTest"] * 4)
    votes = _votes_file(tmp_path / "v.csv", [[10] + [0] * 9] * 4)
    cache = tmp_path / "c.npz"
    load_fer(a, votes, cache)  # the training run's cache, with votes
    before = cache.read_bytes()
    capsys.readouterr()
    fs = load_fer(a, None, cache, read_only_cache=True)
    assert len(fs) == 4 and "(from the cache" in capsys.readouterr().err
    other = write_fer_csv(tmp_path / "b.csv", *synthetic_faces(3, seed=2), ["PublicTest"] * 3)
    assert len(load_fer(other, None, cache, read_only_cache=True)) == 3, "another CSV is read, not the cache"
    assert cache.read_bytes() == before, "and the training cache is left as it was"


def test_the_validation_split_is_fixed_stratified_disjoint_and_carved_from_training(tmp_path):
    from fer_train.data import VALIDATION_FRACTION

    imgs, _ = synthetic_faces(300, seed=8)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 300)
    usage = ["Training"] * 250 + ["PublicTest"] * 50
    fs = read_fer2013(write_fer_csv(tmp_path / "a.csv", imgs, labels, usage), report=None)
    tr, va, every = fs.select("Training"), fs.select("Validation"), fs.select("TrainingAll")
    assert len(tr) + len(va) == len(every) == 250 and len(fs.select("PublicTest")) == 50
    # No row in both, and no validation row comes from PublicTest.
    train_keys = {r.tobytes() for r in tr.images}
    assert not train_keys & {r.tobytes() for r in va.images}
    assert not {r.tobytes() for r in fs.select("PublicTest").images} & {r.tobytes() for r in va.images}
    # Stratified: each class gives round(fraction * n) of its Training rows.
    for c in range(7):
        assert (va.labels == c).sum() == round(VALIDATION_FRACTION * (every.labels == c).sum())
    # Fixed: the same rows whatever the order of the file.
    order = rng.permutation(300)
    shuffled = read_fer2013(write_fer_csv(tmp_path / "b.csv", imgs[order], labels[order], [usage[i] for i in order]), report=None)
    assert {r.tobytes() for r in shuffled.select("Validation").images} == {r.tobytes() for r in va.images}
