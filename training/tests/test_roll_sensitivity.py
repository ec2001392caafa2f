"""tools/roll_sensitivity.py: rotation keeps a face's size and content, 0 degrees is the plain evaluation, and the
tool's figures are the bundle's own accuracy on the rolled faces."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from fer_train.bundle import onnx_probabilities
from fer_train.data import read_fer2013
from fer_train.roll import rolled
from fer_train.selftest import preprocess

TOOL = Path(__file__).resolve().parents[1] / "tools" / "roll_sensitivity.py"


def test_a_roll_turns_the_face_about_its_centre_without_blank_corners():
    face = np.zeros((48, 48), np.uint8)
    face[10:14, 20:28] = 255  # a bar above the centre
    assert rolled(face, 0) is face
    quarter = rolled(face, 90)  # counter-clockwise: the bar goes to the left of the centre
    assert quarter.shape == (48, 48)
    ys, xs = np.nonzero(quarter > 128)
    assert xs.mean() < 24 - 8 and abs(ys.mean() - 23.5) < 3
    textured = np.random.default_rng(0).integers(1, 256, (48, 48), dtype=np.uint8)
    assert (rolled(textured, 30) > 0).all(), "mirror padding: no black corners"


def test_figures_are_the_bundles_accuracy_on_the_rolled_faces(tiny_bundle, eval_csv):
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", str(tiny_bundle), "--data", str(eval_csv), "--usage", "PublicTest",
                        "--degrees", "0,25"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    j = json.loads(r.stdout.strip().splitlines()[-1])
    faces = read_fer2013(eval_csv, report=False).select("PublicTest")
    m = json.loads((tiny_bundle / "manifest.json").read_text())
    pre = m["preprocessing"]

    def acc(deg):
        imgs = np.stack([rolled(f, deg if i % 2 else -deg) for i, f in enumerate(faces.images)])
        p = onnx_probabilities(tiny_bundle / m["engines"]["onnx"]["file"], preprocess(imgs[..., None], pre["mean"], pre["std"], pre["scale"]))
        return float((p.argmax(1) == faces.labels).mean())

    assert j["rows"] == len(faces) == 40
    assert [x["degrees"] for x in j["rolls"]] == [0, 25]
    assert [x["accuracy"] for x in j["rolls"]] == [acc(0), acc(25)]
    bad = subprocess.run([sys.executable, str(TOOL), "--bundle", str(tiny_bundle), "--data", str(eval_csv), "--degrees", "ten"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--degrees 'ten'" in bad.stderr
