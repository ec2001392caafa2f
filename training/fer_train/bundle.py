"""Writes, verifies and archives model bundles in the `fer-edge-bundle/1` format (agent/models/BUNDLE.md).

A bundle is built in a temporary sibling directory and renamed into place only after its self-test passes on the
exported ONNX model (onnxruntime) and on the TF.js weights (numpy runner), so a half-written or wrong bundle never
appears under the requested name.
"""
from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from .export_onnx import INPUT_NAME, OUTPUT_NAME, export_onnx
from .export_tfjs import MODEL_JSON, SHARD, export_tfjs, predict_numpy
from .fold import fold_model
from .model import ExpressionNet
from .selftest import SCALE, preprocess, selftest_images, torch_probabilities

FORMAT = "fer-edge-bundle/1"
MANIFEST = "manifest.json"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
TFJS_DIR = "tfjs"
REPORT_FILES = ("summary.json", "confusion.png", "curves.png")
# Everything BUNDLE.md allows inside a bundle directory; nothing else is ever written there.
ALLOWED_FILES = {MANIFEST, ONNX_FILE, ONNX_INT8_FILE, f"{TFJS_DIR}/{MODEL_JSON}", f"{TFJS_DIR}/{SHARD}", "signature.json",
                 *(f"report/{f}" for f in REPORT_FILES)}
NAME_RE = re.compile(r"^[a-z0-9._-]+$")
# manifest runtime.flip_tta: "off" keeps the agent's model.flip_tta auto off for this net (BUNDLE.md).
FLIP_TTA_HINTS = ("auto", "off")
SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                       r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                       r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
TOLERANCE = 0.001
# The int8 model's self-test tolerance. Its expected values come from onnxruntime on the exporting machine; int8
# kernels differ by CPU (x86 VNNI/AVX2, arm64 dot-product/NEON) in how they round requantized sums, which moves
# probabilities by a few thousandths, while a wrong model (layout, labels, weights) moves them by tenths.
INT8_TOLERANCE = 0.03


class BundleError(Exception):
    """A bundle cannot be written or does not verify; the message names the file or field at fault."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def int8_description(form: str | None = None) -> str:
    from .quantize import DEFAULT_FORM

    form = form or DEFAULT_FORM
    weights = {"u8s8": "int8", "u8s8r": "int8 in 7 bits (reduce_range)", "u8u8": "uint8"}[form]
    return (f"onnxruntime static, QDQ, per-channel {weights} weights, uint8 activations, MinMax (form {form}); "
            "the first convolution in float32")


def _b64(img: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(img, dtype=np.uint8).tobytes()).decode("ascii")


def decode_case(pixels_b64: str, width: int, height: int, channels: int) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(pixels_b64), dtype=np.uint8)
    if raw.size != width * height * channels:
        raise BundleError(f"self-test case has {raw.size} bytes, want {width}*{height}*{channels}")
    return raw.reshape(height, width, channels)


def onnx_probabilities(onnx_path: Path, x_nchw: np.ndarray, batch: int = 256) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    out = [sess.run([OUTPUT_NAME], {INPUT_NAME: x_nchw[s : s + batch]})[0] for s in range(0, len(x_nchw), batch)]
    return np.concatenate(out)


def _fp16_tolerance(observed: float) -> float:
    """Self-test tolerance for float16 TF.js weights: at least 2x the deviation measured at export time."""
    for t in (0.001, 0.002, 0.005, 0.01, 0.02):
        if 2 * observed <= t:
            return t
    raise BundleError(f"float16 TF.js weights change the probabilities by {observed:.4f}; export without --tfjs-float16")


def _training_block(config: dict[str, Any], epoch: int, report: dict[str, Any] | None,
                    dataset: str | None, output_calibration: dict[str, Any] | None = None,
                    unfolded_from: str = "", provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    if unfolded_from:
        # Weights unfolded from a bundle: that bundle's account of their training, not the unfolded checkpoint's
        # empty config.
        derived: dict[str, Any] = {"derived_from": unfolded_from, **dict(provenance or {})}
        if dataset is not None:
            derived["dataset"] = dataset
        return _scored(derived, output_calibration, report)
    if dataset is None:
        usage = str(config.get("train_usage", "Training"))
        # Since the validation split, "Training" is what remains of those rows once Validation is carved out.
        carved = usage == "Training" and config.get("val_usage") == "Validation"
        dataset = "FER2013 Training less its Validation tenth" if carved else f"FER2013 {usage}"
        if config.get("ferplus_csv") and float(config.get("ferplus_weight", 0) or 0) > 0:
            dataset += " (+FER+ votes)"
        if int(config.get("max_train") or 0) > 0:
            # A subset must not pass for the whole training set.
            dataset += f", first {int(config['max_train'])} rows only"
    block: dict[str, Any] = {"dataset": dataset}
    if epoch:
        block["epochs"] = epoch
    # `epochs` counts this run only: say when it continued another run's weights or learnt from teachers.
    if config.get("init"):
        block["warm_start"] = True
    if config.get("teachers"):
        # `--set teachers=one.pt` is saved as a plain string: one teacher, not one per character.
        t = config["teachers"]
        block["distilled_from_teachers"] = 1 if isinstance(t, str) else len(t)
        if config.get("teacher_flip_tta"):
            block["teacher_flip_tta"] = True
    if config.get("teacher_cache"):
        # The cached teachers and their views, when the file is here to read them (it stays with the run, not the bundle).
        block["distilled_from_teacher_cache"] = _cache_summary(str(config["teacher_cache"]))
    return _scored(block, output_calibration, report)


def _scored(block: dict[str, Any], output_calibration: dict[str, Any] | None,
            report: dict[str, Any] | None) -> dict[str, Any]:
    if output_calibration:
        # Its Validation figures are then in-sample for these offsets: readers need to know (fer_train/calibrate.py).
        block["output_calibration"] = output_calibration
    if report is not None:
        block["metrics"] = dict(report.get("metrics") or {})
    return block


def _cache_summary(path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"file": Path(path).name}
    if Path(path).is_file():
        from .teacher_cache import load_teacher_cache

        meta = load_teacher_cache(path).meta
        out.update(teachers=len(meta.get("teachers", [])), views=meta.get("views", []))
        if "ensemble_test_acc" in meta:
            out["ensemble_public_test_accuracy"] = meta["ensemble_test_acc"]
    return out


def _place(tmp: Path, out: Path, force: bool) -> None:
    if out.exists():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        elif force and out.is_dir() and (out / MANIFEST).is_file():
            shutil.rmtree(out)  # only something that already is a bundle gets replaced
        else:
            raise BundleError(f"{out} already exists and is not empty (pass force=True / --force to replace a bundle)")
    os.replace(tmp, out)


def write_bundle(model: ExpressionNet, out: str | Path, *, name: str, version: str, mean: float | list[float],
                 std: float | list[float], labels: list[str], margin: float = 0.05, tfjs_float16: bool = False,
                 report_dir: str | Path | None = None, config: dict[str, Any] | None = None, epoch: int = 0,
                 created: dt.datetime | None = None, force: bool = False, size: int = 48,
                 dataset: str | None = None, calib_images: np.ndarray | None = None,
                 calib_source: str = "", flip_tta: str = "auto",
                 output_calibration: dict[str, Any] | None = None, unfolded_from: str = "",
                 provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exports `model` (BN folded, softmax appended) as a complete bundle directory `out`; returns the manifest.

    `config`/`epoch` are the checkpoint's (they describe the training data unless `dataset` says otherwise).
    `calib_images` (uint8 [N, size, size] faces) adds the int8 model `model.int8.onnx`, calibrated on them
    (`calib_source` says where they came from, for the manifest). `flip_tta="off"` writes `runtime.flip_tta: off`,
    which keeps the agent's `model.flip_tta: auto` off (a net whose two passes miss the speed target: BUNDLE.md).
    `output_calibration` (the checkpoint's, from fer_train.calibrate) is recorded in the manifest's training block;
    for weights unfolded from a bundle, `unfolded_from` and `provenance` (that bundle's training block) describe them.
    """
    out = Path(out)
    if not NAME_RE.match(name):
        raise BundleError(f"bundle name {name!r} must match [a-z0-9._-]+")
    if not SEMVER_RE.match(version):
        raise BundleError(f"bundle version {version!r} is not semver (X.Y.Z)")
    if not 0 <= margin <= 1:
        raise BundleError(f"face_crop margin {margin} must be within 0..1")
    if flip_tta not in FLIP_TTA_HINTS:
        raise BundleError(f"flip_tta {flip_tta!r} must be one of {', '.join(FLIP_TTA_HINTS)}")
    channels = model.cfg.in_channels
    mean_l = [float(mean)] * channels if isinstance(mean, (int, float)) else [float(v) for v in mean]
    std_l = [float(std)] * channels if isinstance(std, (int, float)) else [float(v) for v in std]
    if len(mean_l) != channels or len(std_l) != channels or min(std_l) <= 0:
        raise BundleError(f"preprocessing mean {mean_l} / std {std_l} need {channels} entries and std > 0")
    if len(labels) != model.cfg.num_classes or len(set(labels)) != len(labels):
        raise BundleError(f"labels {labels} must be {model.cfg.num_classes} unique names")
    report: dict[str, Any] | None = None
    if report_dir is not None:
        summary = Path(report_dir) / "summary.json"
        if not summary.is_file():
            raise BundleError(f"report directory {report_dir} has no summary.json (run fer_train.evaluate first)")
        report = json.loads(summary.read_text())

    model = model.float().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        net = fold_model(model, probabilities=True)
        export_onnx(net, tmp / ONNX_FILE, size=size)
        export_tfjs(net, tmp / TFJS_DIR, float16=tfjs_float16, size=size)
        if calib_images is not None:
            if channels != 1:
                raise BundleError("int8 calibration is implemented for grayscale models only")
            from .quantize import calibration_input, quantize_int8

            quantize_int8(tmp / ONNX_FILE, tmp / ONNX_INT8_FILE, calibration_input(calib_images, mean_l[0], std_l[0]))
        if report_dir is not None:
            (tmp / "report").mkdir()
            for f in REPORT_FILES:
                if (Path(report_dir) / f).is_file():
                    shutil.copyfile(Path(report_dir) / f, tmp / "report" / f)

        images = selftest_images(size, channels)
        x = preprocess(images, mean_l, std_l, SCALE)
        expected = torch_probabilities(model, x)
        got_onnx = onnx_probabilities(tmp / ONNX_FILE, x)
        d_onnx = float(np.abs(got_onnx - expected).max())
        if d_onnx > TOLERANCE / 10:
            raise BundleError(f"{ONNX_FILE} differs from PyTorch by {d_onnx:.2e} on the self-test inputs")
        got_tfjs = predict_numpy(tmp / TFJS_DIR, x.transpose(0, 2, 3, 1))
        d_tfjs = float(np.abs(got_tfjs - expected).max())
        if tfjs_float16:
            tolerance = _fp16_tolerance(d_tfjs)
        elif d_tfjs > TOLERANCE / 10:
            raise BundleError(f"{TFJS_DIR}/{MODEL_JSON} differs from PyTorch by {d_tfjs:.2e} on the self-test inputs")
        else:
            tolerance = TOLERANCE
        int8_entry: dict[str, Any] | None = None
        if calib_images is not None:
            got_int8 = onnx_probabilities(tmp / ONNX_INT8_FILE, x)
            int8_entry = {"file": ONNX_INT8_FILE, "input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "NCHW",
                          "selftest": {"tolerance": INT8_TOLERANCE,
                                       "cases": [{"pixels_b64": _b64(img), "expected": [float(v) for v in row]}
                                                 for img, row in zip(images, got_int8)]}}

        files = {}
        for p in sorted(q for q in tmp.rglob("*") if q.is_file()):
            rel = p.relative_to(tmp).as_posix()
            files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        created = created or dt.datetime.now(dt.UTC)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "name": name,
            "version": version,
            "created": created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "labels": list(labels),
            "input": {"width": size, "height": size, "channels": channels},
            "preprocessing": {"scale": SCALE, "mean": mean_l, "std": std_l},
            "output": "probabilities",
            "face_crop": {"margin": float(margin), "square": True},
            "engines": {
                "onnx": {"file": ONNX_FILE, "input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "NCHW"},
                "tfjs": {"file": f"{TFJS_DIR}/{MODEL_JSON}", "layout": "NHWC"},
            },
            "files": files,
            "training": _training_block(config or {}, epoch, report, dataset, output_calibration, unfolded_from,
                                        provenance),
            "selftest": {
                "tolerance": tolerance,
                "cases": [{"pixels_b64": _b64(img), "expected": [float(v) for v in row]}
                          for img, row in zip(images, expected)],
            },
        }
        if flip_tta != "auto":  # absent means auto: bundles without the hint keep their bytes
            manifest["runtime"] = {"flip_tta": flip_tta}
        if int8_entry is not None:
            manifest["engines"]["onnx_int8"] = int8_entry
            manifest["training"]["int8"] = {"quantization": int8_description(),
                                            "calibration": calib_source or f"{0 if calib_images is None else len(calib_images)} faces"}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        problems = verify_bundle(tmp)
        if problems:
            raise BundleError("bundle does not verify: " + "; ".join(problems))
        _place(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def verify_bundle(bundle: str | Path, run_selftest: bool = True) -> list[str]:
    """What the agent checks (agent/models/manifest.ts), in Python: returns the problems, empty when valid.

    The self-test runs on onnxruntime and on the numpy TF.js runner.
    """
    bundle = Path(bundle)
    problems: list[str] = []
    try:
        m = json.loads((bundle / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        return [f"{bundle / MANIFEST}: cannot read: {e}"]
    for key in ("format", "name", "version", "created", "labels", "input", "preprocessing", "output", "face_crop",
                "engines", "files", "selftest"):
        if key not in m:
            problems.append(f"manifest.json: missing {key!r}")
    if problems:
        return problems
    if m["format"] != FORMAT:
        problems.append(f"manifest.json: format {m['format']!r} is not {FORMAT!r}")
    if not NAME_RE.match(str(m["name"])):
        problems.append(f"manifest.json: name {m['name']!r} does not match [a-z0-9._-]+")
    if not SEMVER_RE.match(str(m["version"])):
        problems.append(f"manifest.json: version {m['version']!r} is not semver")
    labels = m["labels"]
    if not labels or len(set(labels)) != len(labels):
        problems.append("manifest.json: labels must be non-empty and unique")
    inp = m["input"]
    w, h, c = inp.get("width"), inp.get("height"), inp.get("channels")
    if not all(isinstance(v, int) and 8 <= v <= 512 for v in (w, h)) or c not in (1, 3):
        problems.append(f"manifest.json: input {inp} needs sides 8..512 and channels 1 or 3")
        return problems
    pre = m["preprocessing"]
    if len(pre.get("mean", [])) != c or len(pre.get("std", [])) != c or min(pre.get("std") or [0]) <= 0:
        problems.append(f"manifest.json: preprocessing mean/std need {c} entries and std > 0")
        return problems
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    for extra in sorted(on_disk - ALLOWED_FILES):
        problems.append(f"{extra}: not a file BUNDLE.md allows in a bundle")
    for rel, info in m["files"].items():
        if rel.startswith("/") or ".." in Path(rel).parts:
            problems.append(f"files: path {rel!r} is absolute or contains '..'")
            continue
        p = bundle / rel
        if not p.is_file():
            problems.append(f"{rel}: listed in manifest.json but missing")
        elif p.stat().st_size != info.get("bytes"):
            problems.append(f"{rel}: {p.stat().st_size} bytes, manifest says {info.get('bytes')}")
        elif sha256_file(p) != info.get("sha256"):
            problems.append(f"{rel}: sha256 differs from manifest.json")
    runtime = m.get("runtime", {})
    if not isinstance(runtime, dict) or runtime.get("flip_tta", "auto") not in FLIP_TTA_HINTS:
        problems.append(f"manifest.json: runtime {runtime!r} needs flip_tta \"auto\" or \"off\"")
    for eng in m["engines"].values():
        if eng.get("file") not in m["files"]:
            problems.append(f"engines: {eng.get('file')!r} is not listed in files")
    if problems or not run_selftest:
        return problems
    cases = m["selftest"].get("cases") or []
    if not cases:
        return ["selftest: no cases"]
    imgs = [decode_case(cs["pixels_b64"], w, h, c) for cs in cases]
    expected = np.array([cs["expected"] for cs in cases], dtype=np.float64)
    if expected.shape[1] != len(labels):
        return [f"selftest: {expected.shape[1]} expected values per case but {len(labels)} labels"]
    x = preprocess(imgs, pre["mean"], pre["std"], pre["scale"])
    tol = float(m["selftest"]["tolerance"])
    runs = {"onnx": lambda: onnx_probabilities(bundle / m["engines"]["onnx"]["file"], x),
            "tfjs": lambda: predict_numpy((bundle / m["engines"]["tfjs"]["file"]).parent, x.transpose(0, 2, 3, 1))}
    checks = [(eng, run, expected, tol) for eng, run in runs.items()]
    int8 = m["engines"].get("onnx_int8")
    if int8 is not None:
        st = int8.get("selftest") or {}
        cases8 = st.get("cases") or []
        if not cases8:
            return ["engines.onnx_int8.selftest: no cases"]
        x8 = preprocess([decode_case(cs["pixels_b64"], w, h, c) for cs in cases8], pre["mean"], pre["std"], pre["scale"])
        checks.append(("onnx_int8", lambda: onnx_probabilities(bundle / int8["file"], x8),
                       np.array([cs["expected"] for cs in cases8], dtype=np.float64), float(st.get("tolerance", 0))))
    for eng, run, want, t in checks:
        got = run()
        if got.shape != want.shape:
            problems.append(f"selftest ({eng}): output shape {got.shape}, want {want.shape}")
            continue
        d = float(np.abs(got - want).max())
        if d > t:
            problems.append(f"selftest ({eng}): max difference {d:.2e} exceeds tolerance {t}")
    return problems


def write_archive(bundle: str | Path, archive: str | Path) -> Path:
    """ustar archive of the bundle's files, manifest.json first; gzipped for .tar.gz/.tgz/.fer. Reproducible."""
    bundle, archive = Path(bundle), Path(archive)
    if not (bundle / MANIFEST).is_file():
        raise BundleError(f"{bundle} has no {MANIFEST}")
    m = json.loads((bundle / MANIFEST).read_text())
    mtime = int(dt.datetime.strptime(m["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp())
    rels = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    rels.remove(MANIFEST)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for rel in [MANIFEST, *rels]:
            data = (bundle / rel).read_bytes()
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), mtime, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")  # per writer: two packs of one archive cannot clash
    if archive.name.endswith((".tar.gz", ".tgz", ".fer")):
        with open(tmp, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
            gz.write(raw)
    else:
        tmp.write_bytes(raw)
    os.replace(tmp, archive)
    return archive


def extract_archive(archive: str | Path, dest: str | Path) -> Path:
    """Unpacks an archive written by write_archive (plain or gzipped) into `dest`; refuses links and odd paths."""
    archive, dest = Path(archive), Path(dest)
    with tarfile.open(archive, mode="r:*") as tar:
        members = tar.getmembers()
        if not members or members[0].name != MANIFEST:
            raise BundleError(f"{archive}: first member is {members[0].name if members else None!r}, not {MANIFEST}")
        for mem in members:
            if not (mem.isfile() or mem.isdir()) or mem.name.startswith("/") or ".." in Path(mem.name).parts:
                raise BundleError(f"{archive}: refusing member {mem.name!r}")
        dest.mkdir(parents=True, exist_ok=True)
        # Extraction filters came in 3.11.4 (Debian Bookworm ships 3.11.2); the checks above already refuse what
        # the "data" filter would, so older Pythons extract the same vetted members without it.
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)
    return dest
