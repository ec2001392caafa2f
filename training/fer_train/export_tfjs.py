"""Our own PyTorch -> TF.js LayersModel exporter (no TensorFlow needed).

Writes `model.json` (`format: "layers-model"`, a Keras Sequential topology that tf.loadLayersModel of
@tensorflow/tfjs-layers 4.x deserialises, plus `weightsManifest`) and one weight shard `group1-shard1of1.bin`.
Layout is NHWC: conv kernels go from PyTorch's [out, in, kh, kw] to Keras' [kh, kw, in, out], Dense kernels are
transposed. The net is BN-folded first, so the graph is only
InputLayer -> (Conv2D same+bias+relu | MaxPooling2D)* -> GlobalAveragePooling2D -> Dense(softmax).

float16 weights use the form tfjs-core 4.22 decodes (io_utils.decodeWeight): `dtype: "float32"` with
`quantization: {dtype: "float16"}`; a bare `dtype: "float16"` is not a weight dtype tfjs accepts.

`predict_numpy` runs an exported model.json with numpy, as a layout check that needs no JavaScript.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .fold import InferenceNet, fold_model
from .model import ExpressionNet

MODEL_JSON = "model.json"
SHARD = "group1-shard1of1.bin"


def _conv_config(name: str, conv: nn.Conv2d, activation: str) -> dict[str, Any]:
    k = tuple(conv.kernel_size)
    if tuple(conv.stride) != (1, 1) or tuple(conv.dilation) != (1, 1) or conv.groups != 1:
        raise ValueError(f"{name}: only stride 1, dilation 1, groups 1 convolutions map to Conv2D here")
    if k[0] % 2 != 1 or k[1] % 2 != 1 or tuple(conv.padding) != (k[0] // 2, k[1] // 2) or conv.padding_mode != "zeros":
        raise ValueError(f"{name}: padding {conv.padding} is not Keras 'same' for kernel {k}")
    return {
        "class_name": "Conv2D",
        "config": {
            "name": name, "trainable": False, "dtype": "float32",
            "filters": conv.out_channels, "kernel_size": list(k), "strides": [1, 1], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": activation, "use_bias": True,
            "kernel_initializer": {"class_name": "Zeros", "config": {}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None,
        },
    }


def _pool_config(name: str, pool: nn.MaxPool2d) -> dict[str, Any]:
    k0, s0 = pool.kernel_size, pool.stride if pool.stride is not None else pool.kernel_size
    k = [k0, k0] if isinstance(k0, int) else list(k0)
    s = [s0, s0] if isinstance(s0, int) else list(s0)
    if pool.padding not in (0, (0, 0)) or pool.ceil_mode or pool.dilation not in (1, (1, 1)):
        raise ValueError(f"{name}: only unpadded, floor-mode max pooling maps to Keras 'valid' pooling")
    return {"class_name": "MaxPooling2D", "config": {"name": name, "trainable": False, "dtype": "float32",
                                                     "pool_size": k, "padding": "valid", "strides": s,
                                                     "data_format": "channels_last"}}


def build_layers(net: InferenceNet, size: int = 48) -> tuple[list[dict[str, Any]], list[tuple[str, np.ndarray]]]:
    """Keras layer configs and the (name, NHWC-layout float32 array) weights, in manifest order."""
    layers: list[dict[str, Any]] = [{"class_name": "InputLayer", "config": {
        "batch_input_shape": [None, size, size, net.in_channels], "dtype": "float32", "sparse": False, "name": "input"}}]
    weights: list[tuple[str, np.ndarray]] = []
    counters: dict[str, int] = {}

    def unique(base: str) -> str:
        n = counters.get(base, 0)
        counters[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    mods = list(net.features)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d):
            fused_relu = i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU)
            name = unique("conv2d")
            layers.append(_conv_config(name, m, "relu" if fused_relu else "linear"))
            weights.append((f"{name}/kernel", m.weight.detach().float().numpy().transpose(2, 3, 1, 0)))
            assert m.bias is not None, "folded convolutions carry a bias"
            weights.append((f"{name}/bias", m.bias.detach().float().numpy()))
            i += 2 if fused_relu else 1
            continue
        if isinstance(m, nn.ReLU):
            layers.append({"class_name": "Activation", "config": {"name": unique("activation"), "trainable": False,
                                                                  "dtype": "float32", "activation": "relu"}})
        elif isinstance(m, nn.MaxPool2d):
            layers.append(_pool_config(unique("max_pooling2d"), m))
        else:
            raise ValueError(f"export_tfjs: unsupported layer {type(m).__name__}")
        i += 1
    layers.append({"class_name": "GlobalAveragePooling2D", "config": {
        "name": unique("global_average_pooling2d"), "trainable": False, "dtype": "float32",
        "data_format": "channels_last"}})
    lin = net.classifier
    name = unique("dense")
    layers.append({"class_name": "Dense", "config": {
        "name": name, "trainable": False, "dtype": "float32", "units": lin.out_features,
        "activation": "softmax" if net.probabilities else "linear", "use_bias": True,
        "kernel_initializer": {"class_name": "Zeros", "config": {}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}})
    weights.append((f"{name}/kernel", lin.weight.detach().float().numpy().T))
    weights.append((f"{name}/bias", lin.bias.detach().float().numpy()))
    return layers, [(n, np.ascontiguousarray(w, dtype=np.float32)) for n, w in weights]


def export_tfjs(model: ExpressionNet | InferenceNet, out_dir: str | Path, float16: bool = False,
                size: int = 48) -> list[Path]:
    """Writes out_dir/model.json and out_dir/group1-shard1of1.bin; returns both paths."""
    out_dir = Path(out_dir)
    net = model if isinstance(model, InferenceNet) else fold_model(model, probabilities=True)
    layers, weights = build_layers(net, size)
    specs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, w in weights:
        spec: dict[str, Any] = {"name": name, "shape": list(w.shape), "dtype": "float32"}
        if float16:
            if np.abs(w).max(initial=0.0) > 65504:
                raise ValueError(f"{name}: weights exceed the float16 range; export without --tfjs-float16")
            spec["quantization"] = {"dtype": "float16"}
            chunks.append(w.astype("<f2").tobytes())
        else:
            chunks.append(w.astype("<f4").tobytes())
        specs.append(spec)
    model_json = {
        "format": "layers-model",
        "generatedBy": "fer_train.export_tfjs",
        "convertedBy": None,
        "modelTopology": {
            "class_name": "Sequential",
            "config": {"name": "expression_net", "layers": layers},
            "backend": "tensorflow",
        },
        "weightsManifest": [{"paths": [SHARD], "weights": specs}],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SHARD).write_bytes(b"".join(chunks))
    (out_dir / MODEL_JSON).write_text(json.dumps(model_json, indent=1) + "\n")
    return [out_dir / MODEL_JSON, out_dir / SHARD]


# ---- numpy reference runner (tests, float16 tolerance check) ----

def read_weights(model_dir: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    model_dir = Path(model_dir)
    mj = json.loads((model_dir / MODEL_JSON).read_text())
    out: dict[str, np.ndarray] = {}
    for group in mj["weightsManifest"]:
        data = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        off = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"], dtype=np.int64))
            q = (spec.get("quantization") or {}).get("dtype")
            dt = {"float16": "<f2", None: "<f4"}[q]
            nbytes = n * np.dtype(dt).itemsize
            if off + nbytes > len(data):
                raise ValueError(f"{model_dir}: weight data too short at {spec['name']}")
            out[spec["name"]] = np.frombuffer(data, dtype=dt, count=n, offset=off).astype(np.float32).reshape(spec["shape"])
            off += nbytes
        if off != len(data):
            raise ValueError(f"{model_dir}: {len(data) - off} unused bytes in {group['paths']}")
    return mj, out


def _conv_same(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> np.ndarray:
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))  # N,H,W,C,kh,kw
    return np.einsum("nhwcij,ijco->nhwo", win, k, optimize=True) + b


def predict_numpy(model_dir: str | Path, x_nhwc: np.ndarray) -> np.ndarray:
    """Runs model.json on float input [N,H,W,C] with the layer semantics of Keras, in float64."""
    mj, w = read_weights(model_dir)
    x = x_nhwc.astype(np.float64)
    acts = {"relu": lambda v: np.maximum(v, 0), "linear": lambda v: v,
            "softmax": lambda v: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(v - v.max(-1, keepdims=True)))}
    for layer in mj["modelTopology"]["config"]["layers"]:
        cls, cfg = layer["class_name"], layer["config"]
        if cls == "InputLayer":
            if list(x.shape[1:]) != cfg["batch_input_shape"][1:]:
                raise ValueError(f"input shape {x.shape} does not match {cfg['batch_input_shape']}")
        elif cls == "Conv2D":
            x = acts[cfg["activation"]](_conv_same(x, w[cfg["name"] + "/kernel"], w[cfg["name"] + "/bias"]))
        elif cls == "Activation":
            x = acts[cfg["activation"]](x)
        elif cls == "MaxPooling2D":
            ph, pw = cfg["pool_size"]
            n, h, wd, c = x.shape
            x = x[:, : h // ph * ph, : wd // pw * pw].reshape(n, h // ph, ph, wd // pw, pw, c).max(axis=(2, 4))
        elif cls == "GlobalAveragePooling2D":
            x = x.mean(axis=(1, 2))
        elif cls == "Dense":
            x = acts[cfg["activation"]](x @ w[cfg["name"] + "/kernel"] + w[cfg["name"] + "/bias"])
        else:
            raise ValueError(f"predict_numpy: unsupported layer {cls}")
    return x
