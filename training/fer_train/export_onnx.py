"""ONNX export of the BN-folded network with softmax appended: input `input` [N,C,H,W] (dynamic N), output
`probabilities` [N,classes], opset 17.

Uses torch's TorchScript-based exporter (`dynamo=False`): the torch.export-based one (the default since torch 2.9)
needs the separate `onnxscript` package, and the legacy path writes one self-contained file for this plain graph.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from .fold import InferenceNet, fold_model
from .model import ExpressionNet

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


def export_onnx(model: ExpressionNet | InferenceNet, path: str | Path, size: int = 48) -> Path:
    """Writes `path` and checks it with onnx.checker. An ExpressionNet is folded first (softmax appended)."""
    path = Path(path)
    net = model if isinstance(model, InferenceNet) else fold_model(model, probabilities=True)
    if not net.probabilities:
        raise ValueError("export_onnx expects an InferenceNet with probabilities=True (the bundle promises them)")
    net = net.eval()
    dummy = torch.zeros(1, net.in_channels, size, size, dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream; the warning would only repeat the docstring above.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    _check_interface(proto, net.in_channels, size, net.classifier.out_features)
    return path


def _check_interface(proto: onnx.ModelProto, channels: int, size: int, classes: int) -> None:
    """The agent reads these names and shapes from the manifest; fail here rather than on a device."""
    ins = [i for i in proto.graph.input if i.name not in {init.name for init in proto.graph.initializer}]
    if [i.name for i in ins] != [INPUT_NAME] or [o.name for o in proto.graph.output] != [OUTPUT_NAME]:
        raise ValueError(f"unexpected ONNX interface: inputs {[i.name for i in ins]}, outputs "
                         f"{[o.name for o in proto.graph.output]}")
    dims = ins[0].type.tensor_type.shape.dim
    shape = [d.dim_param or d.dim_value for d in dims]
    if len(shape) != 4 or not isinstance(shape[0], str) or shape[1:] != [channels, size, size]:
        raise ValueError(f"unexpected ONNX input shape {shape}; want [batch, {channels}, {size}, {size}]")
    out = [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    if len(out) != 2 or out[1] != classes:
        raise ValueError(f"unexpected ONNX output shape {out}; want [batch, {classes}]")
    ops = {n.op_type for n in proto.graph.node}
    if "BatchNormalization" in ops:
        raise ValueError("BatchNormalization left in the exported graph; folding failed")
