import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import node_with_tfjs
from fer_train.bundle import onnx_probabilities, verify_bundle
from fer_train.selftest import preprocess

TOOL = Path(__file__).resolve().parents[1] / "tools" / "make_parity_fixture.py"


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("parity")
    r = subprocess.run([sys.executable, str(TOOL), str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out


def _inputs(fixture_dir):
    p = json.loads((fixture_dir / "parity.json").read_text())
    m = json.loads((fixture_dir / "bundle" / "manifest.json").read_text())
    imgs = [np.frombuffer(base64.b64decode(b), np.uint8).reshape(48, 48, 1) for b in p["inputs_b64"]]
    x = preprocess(imgs, m["preprocessing"]["mean"], m["preprocessing"]["std"], m["preprocessing"]["scale"])
    return x, np.array(p["expected"])


def test_fixture_bundle_and_onnx_parity(fixture_dir):
    assert sorted(p.name for p in fixture_dir.iterdir()) == ["bundle", "parity.json"]
    assert verify_bundle(fixture_dir / "bundle") == []
    x, expected = _inputs(fixture_dir)
    assert expected.shape == (8, 7)
    np.testing.assert_allclose(expected.sum(1), 1, atol=1e-5)
    assert expected.max() > 0.3 and len(set(expected.argmax(1))) > 1  # non-trivial outputs
    np.testing.assert_allclose(onnx_probabilities(fixture_dir / "bundle" / "model.onnx", x), expected, atol=1e-4)


@pytest.mark.skipif(node_with_tfjs() is None, reason="node or @tensorflow/tfjs-layers not installed")
def test_fixture_tfjs_parity(fixture_dir, tmp_path):
    x, expected = _inputs(fixture_dir)
    nhwc = x.transpose(0, 2, 3, 1)
    (tmp_path / "in.json").write_text(json.dumps({"shape": list(nhwc.shape), "data": nhwc.ravel().tolist()}))
    r = subprocess.run([node_with_tfjs(), str(Path(__file__).with_name("tfjs_predict.mjs")),
                        str(fixture_dir / "bundle" / "tfjs"), str(tmp_path / "in.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = np.array(json.loads(r.stdout)["data"]).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, atol=1e-4)
