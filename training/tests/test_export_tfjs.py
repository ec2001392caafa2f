import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import node_with_tfjs, tiny_net
from fer_train.export_tfjs import export_tfjs, predict_numpy, read_weights


def _reference(net, n=3, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, 1, 48, 48)).astype(np.float32)
    with torch.no_grad():
        return x, torch.softmax(net(torch.from_numpy(x)), 1).numpy()


def test_model_json_structure_and_weight_bytes(tmp_path):
    net = tiny_net(seed=4)  # widths 4-8, 2 convs per stage
    paths = export_tfjs(net, tmp_path)
    assert [p.name for p in paths] == ["model.json", "group1-shard1of1.bin"]
    mj = json.loads((tmp_path / "model.json").read_text())
    assert mj["format"] == "layers-model"
    topo = mj["modelTopology"]
    assert topo["class_name"] == "Sequential"
    layers = topo["config"]["layers"]
    assert [layer["class_name"] for layer in layers] == (
        ["InputLayer"] + ["Conv2D", "Conv2D", "MaxPooling2D"] * 2 + ["GlobalAveragePooling2D", "Dense"])
    assert layers[0]["config"]["batch_input_shape"] == [None, 48, 48, 1]
    convs = [layer["config"] for layer in layers if layer["class_name"] == "Conv2D"]
    assert [c["filters"] for c in convs] == [4, 4, 8, 8]
    assert all(c["padding"] == "same" and c["use_bias"] and c["activation"] == "relu"
               and c["data_format"] == "channels_last" for c in convs)
    assert layers[-1]["config"]["activation"] == "softmax" and layers[-1]["config"]["units"] == 7
    (group,) = mj["weightsManifest"]
    assert group["paths"] == ["group1-shard1of1.bin"]
    shapes = {w["name"]: w["shape"] for w in group["weights"]}
    assert shapes["conv2d/kernel"] == [3, 3, 1, 4] and shapes["conv2d_1/kernel"] == [3, 3, 4, 4]
    assert shapes["dense/kernel"] == [8, 7] and shapes["dense/bias"] == [7]
    n_values = sum(int(np.prod(s)) for s in shapes.values())
    # no BatchNorm parameters in the export: conv weights + their (folded) biases + dense
    assert n_values == (9 * 1 * 4 + 4) + (9 * 4 * 4 + 4) + (9 * 4 * 8 + 8) + (9 * 8 * 8 + 8) + (8 * 7 + 7)
    assert (tmp_path / "group1-shard1of1.bin").stat().st_size == 4 * n_values
    assert all(w["dtype"] == "float32" and "quantization" not in w for w in group["weights"])


def test_nhwc_weights_reproduce_torch(tmp_path):
    net = tiny_net(seed=5)
    export_tfjs(net, tmp_path / "f32")
    export_tfjs(net, tmp_path / "f16", float16=True)
    x, ref = _reference(net)
    got32 = predict_numpy(tmp_path / "f32", x.transpose(0, 2, 3, 1))
    got16 = predict_numpy(tmp_path / "f16", x.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(got32, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got16, ref, atol=5e-3, rtol=0)
    assert np.abs(got16 - ref).max() > 0  # float16 really rounded something
    mj, w16 = read_weights(tmp_path / "f16")
    assert all(s["dtype"] == "float32" and s["quantization"] == {"dtype": "float16"}
               for s in mj["weightsManifest"][0]["weights"])
    assert (tmp_path / "f16" / "group1-shard1of1.bin").stat().st_size * 2 == \
        (tmp_path / "f32" / "group1-shard1of1.bin").stat().st_size


@pytest.mark.skipif(node_with_tfjs() is None, reason="node or @tensorflow/tfjs-layers not installed")
@pytest.mark.parametrize("float16", [False, True])
def test_tfjs_layers_loads_and_agrees(tmp_path, float16):
    net = tiny_net(seed=6)
    export_tfjs(net, tmp_path / "m", float16=float16)
    x, ref = _reference(net, n=2, seed=1)
    nhwc = x.transpose(0, 2, 3, 1)
    (tmp_path / "in.json").write_text(json.dumps({"shape": list(nhwc.shape), "data": nhwc.ravel().tolist()}))
    script = Path(__file__).with_name("tfjs_predict.mjs")
    r = subprocess.run([node_with_tfjs(), str(script), str(tmp_path / "m"), str(tmp_path / "in.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["shape"] == [2, 7]
    got = np.array(out["data"]).reshape(2, 7)
    np.testing.assert_allclose(got, ref, atol=5e-3 if float16 else 1e-4, rtol=0)
