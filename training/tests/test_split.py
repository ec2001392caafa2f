"""fer_train.split: the Validation rows written out are exactly the ones training holds out, in a file the readers
(and the agent's eval) take, with none of the rows training learns from."""
from __future__ import annotations

import numpy as np

from conftest import synthetic_faces, write_fer_csv
from fer_train.data import read_fer2013
from fer_train.split import main as split_main


def test_the_validation_rows_written_are_the_held_out_rows_and_none_of_the_training_ones(tmp_path):
    images, labels = synthetic_faces(200, seed=3)
    usages = ["Training"] * 160 + ["PublicTest"] * 40
    csv = write_fer_csv(tmp_path / "fer.csv.gz", images, labels, usages)
    out = tmp_path / "val" / "validation.csv.gz"
    assert split_main(["--data", str(csv), "--usage", "Validation", "--out", str(out)]) == 0
    fs = read_fer2013(csv, report=None)
    want = fs.select("Validation")
    got = read_fer2013(out, report=None)
    assert set(got.usage) == {"Validation"} and len(got) == len(want) > 0
    assert np.array_equal(got.images, want.images) and np.array_equal(got.labels, want.labels)
    # Read back, the file's own Validation rows are kept as they are (not carved again).
    assert np.array_equal(got.select("Validation").images, want.images)
    training = {im.tobytes() for im in fs.select("Training").images}
    public = {im.tobytes() for im in fs.select("PublicTest").images}
    assert not any(im.tobytes() in training or im.tobytes() in public for im in got.images)
    # Written again later, the same bytes (no time stamp in the gzip header): release_check's memo keys on them.
    first = out.read_bytes()
    assert first[4:8] == bytes(4), "the gzip header's MTIME field is set"
    assert not first[3] & 0x08, "the gzip header names the (per-writer) temporary file"
    assert split_main(["--data", str(csv), "--usage", "Validation", "--out", str(out)]) == 0
    assert out.read_bytes() == first


def test_a_usage_the_file_lacks_fails(tmp_path):
    images, labels = synthetic_faces(20, seed=4)
    csv = write_fer_csv(tmp_path / "fer.csv", images, labels, ["Training"] * 20)
    assert split_main(["--data", str(csv), "--usage", "PublicTest", "--out", str(tmp_path / "p.csv")]) == 1
