"""Int8 form of an exported model: onnxruntime static quantization, calibrated on Training faces.

Measured on fer-vgg-s 1.1.0 (`python training/tools/int8_choices.py`, see training/README.md): QDQ with per-channel
int8 weights and uint8 activations, MinMax calibration on 1,024 Training rows keeps accuracy within about 0.1 points of
float32 (`npm run bench`: 1.2.0's int8 model runs 2.4x its float model on one x86 core). Only the convolutions and the classifier are quantized; pooling
follows its input's scale and the softmax stays float, so confidences keep their resolution (a quantized softmax
would only have 256 steps, too coarse for `min_confidence` hysteresis).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx

from .selftest import SCALE

QUANT_OPS = ["Conv", "Gemm", "MaxPool", "GlobalAveragePool"]
METHODS = ("minmax", "entropy", "percentile")
# Weight and activation types. u8s8 (uint8 activations, int8 weights) is onnxruntime's default, but x86 CPUs without
# VNNI multiply it through VPMADDUBSW, which saturates pairs of products to int16: the result then depends on the CPU
# class (an AVX2 host gave `sad` 0.578 where AVX-512 VNNI gave 0.464 and float32 0.698). u8s8r keeps int8 weights in
# 7 bits (reduce_range), so no pair can saturate; u8u8 takes the exact uint8 x uint8 path on every x86 and arm64
# kernel but runs no faster than float32 where VNNI would speed u8s8 up. Measured with `tools/int8_cpu_classes.py` on
# 1.3.0 (training/README.md, "Int8 on every CPU class"): u8s8r and u8u8 give the same outputs natively (AVX-512 VNNI)
# and under emulated Haswell, u8s8 does not; u8s8r runs 2.9x float32 on one VNNI core, u8u8 1.25x.
FORMS = ("u8s8", "u8s8r", "u8u8")
DEFAULT_FORM = "u8s8r"
# The first convolution (one gray channel in, 9 weights per filter) stays float32: on the Validation rows, over four
# choices of calibration rows each, it cost fer-vgg-s 1.5.0 0.20 points as seen and 0.37 with flip TTA (1.4.0: 0.10 and
# 0.20), and the int8 model ran about 5 % faster without it (`tools/int8_choices.py`; training/README.md, "Int8").


class _Reader:
    """Feeds preprocessed calibration batches to onnxruntime's calibrator (its CalibrationDataReader protocol)."""

    def __init__(self, input_name: str, x_nchw: np.ndarray, batch: int = 64) -> None:
        self._batches = [{input_name: x_nchw[s : s + batch]} for s in range(0, len(x_nchw), batch)]
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self._batches):
            return None
        self._i += 1
        return self._batches[self._i - 1]

    def rewind(self) -> None:
        self._i = 0


def calibration_input(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, 48, 48) grayscale faces -> the float32 NCHW input the model sees (the manifest's preprocessing)."""
    x = images.astype(np.float32)[:, None, :, :] * np.float32(SCALE)
    return np.ascontiguousarray((x - np.float32(mean)) / np.float32(std))


def quantize_int8(fp32_onnx: str | Path, out: str | Path, calib_x: np.ndarray, *, method: str = "minmax",
                  fmt: str = "qdq", form: str = DEFAULT_FORM, float_first_conv: bool = True) -> Path:
    """Writes the int8 model of `fp32_onnx` to `out`; `calib_x` is preprocessed NCHW float32 input.

    `float_first_conv` keeps the convolution that reads the input in float32 (the default; see above).
    """
    from onnxruntime.quantization import CalibrationMethod

    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {', '.join(METHODS)}")
    if fmt not in ("qdq", "qoperator"):
        raise ValueError(f"quantization format {fmt!r} is not qdq or qoperator")
    if form not in FORMS:
        raise ValueError(f"int8 form {form!r} is not one of {', '.join(FORMS)}")
    if len(calib_x) == 0:
        raise ValueError("int8 calibration needs at least one image")
    model = onnx.load(str(fp32_onnx))
    input_name = model.graph.input[0].name
    cal = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}[method]
    out = Path(out)
    # onnxruntime's pre-processing calls logging.basicConfig(), which binds a handler to the sys.stderr of the moment;
    # put the root logger back afterwards so the caller's logging (and pytest's captured streams) stay as they were.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        _quantize(fp32_onnx, out, input_name, calib_x, cal, fmt, form, float_first_conv)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    onnx.checker.check_model(str(out))
    return out


def first_conv(model_path: str | Path) -> str:
    """The name of the convolution that reads the graph's input (nodes are in topological order in ONNX)."""
    g = onnx.load(str(model_path)).graph
    name = next((n.name for n in g.node if n.op_type == "Conv" and g.input[0].name in n.input), None)
    if not name:
        raise ValueError(f"{model_path}: no convolution reads the input {g.input[0].name!r}")
    return name


def _quantize(fp32_onnx: str | Path, out: Path, input_name: str, calib_x: np.ndarray, cal: object, fmt: str,
              form: str, float_first_conv: bool) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Shape inference + graph cleanup first, as onnxruntime recommends before static quantization.
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), _Reader(input_name, calib_x),
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        op_types_to_quantize=QUANT_OPS, per_channel=True,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QUInt8 if form == "u8u8" else QuantType.QInt8,
                        reduce_range=form == "u8s8r", calibrate_method=cal,
                        calibration_providers=["CPUExecutionProvider"],
                        extra_options={"CalibTensorRangeSymmetric": False},
                        nodes_to_exclude=[first_conv(pre)] if float_first_conv else [])
