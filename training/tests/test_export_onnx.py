import numpy as np
import onnx
import onnxruntime as ort
import torch

from conftest import tiny_net
from fer_train.export_onnx import export_onnx


def test_onnx_export_interface_and_parity(tmp_path):
    net = tiny_net(seed=2)
    path = export_onnx(net, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    ops = {n.op_type for n in proto.graph.node}
    assert "BatchNormalization" not in ops and "Softmax" in ops
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "input" and out.name == "probabilities"
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [1, 48, 48]
    for n in (1, 5):  # dynamic batch
        x = np.random.default_rng(n).normal(size=(n, 1, 48, 48)).astype(np.float32)
        got = sess.run(["probabilities"], {"input": x})[0]
        with torch.no_grad():
            ref = torch.softmax(net(torch.from_numpy(x)), 1).numpy()
        assert got.shape == (n, 7)
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
        assert ref.max() > 0.25  # outputs are not near-uniform (1/7), so the comparison means something
