"""tools/near_duplicates.py: finds copies of Training faces (with other brightness and contrast) in another split,
and nothing in unrelated faces."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import write_fer_csv
from fer_train.data import read_fer2013

TOOL = Path(__file__).resolve().parents[1] / "tools" / "near_duplicates.py"
_spec = importlib.util.spec_from_file_location("near_duplicates", TOOL)
nd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nd)


def noise(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def test_copies_are_found_whatever_their_brightness_and_unrelated_faces_are_not():
    base = noise(50, 1)
    copies = np.clip(base[:10].astype(np.float32) * 0.6 + 40, 0, 255).astype(np.uint8)
    others = noise(10, 2)
    sim, idx = nd.nearest(nd.signatures(np.concatenate([copies, others])), nd.signatures(base), chunk=7)
    assert (sim[:10] > 0.99).all() and list(idx[:10]) == list(range(10))
    assert (sim[10:] < 0.5).all()
    rows = nd.summarise(sim, np.array([True] * 5 + [False] * 5 + [True] * 10), thresholds=(0.9,))
    assert rows == [{"threshold": 0.9, "rows": 10, "share": 0.5, "same_label": 0.5}]


def test_cli_counts_the_copies_of_training_rows_in_a_split(tmp_path):
    train = noise(60, 3)
    labels = np.arange(60) % 7
    csv = write_fer_csv(tmp_path / "fer.csv", np.concatenate([train, train[:20] // 2 + 30, noise(20, 4)]),
                        np.concatenate([labels, labels[:20], labels[:20]]), ["Training"] * 60 + ["PublicTest"] * 40)
    faces = read_fer2013(csv, report=False)
    in_training = faces.usage_mask("Training")[:20]  # copies of rows carved into Validation have no match left
    r = subprocess.run([sys.executable, str(TOOL), "--data", str(csv), "--usage", "PublicTest"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    j = json.loads(r.stdout.strip().splitlines()[-1])
    top = j["PublicTest"]["thresholds"][-1]
    assert j["PublicTest"]["rows"] == 40 and top["rows"] == int(in_training.sum()) > 0 and top["same_label"] == 1.0
