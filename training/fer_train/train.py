"""Train the expression net: `python -m fer_train.train --config configs/default.json --out runs/NAME`.

Checkpoints every epoch (`last.pt`, `best.pt`), resumes with `--resume`, deterministic for a given seed.
On CPU it uses bf16 autocast and channels_last (about 2x faster on AVX512-BF16 cores); on CUDA, autocast too.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig, augment
from .checkpoint import load_checkpoint, net_config_from, raw_and_ema
from .data import FaceSet, iter_batches, load_fer
from .loader import BatchStream
from .model import ExpressionNet, NetConfig, as_input, count_parameters
from .progress import Progress
from .teacher_cache import load_teacher_cache

# The dataset sits beside the repository (../shared/datasets/fer2013 from the repo root), never inside it.
_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "fer2013"


@dataclass
class TrainConfig:
    data_csv: str = str(_SHARED / "fer2013.csv.gz")
    ferplus_csv: str | None = str(_SHARED / "fer2013new.csv")
    cache: str | None = "runs/cache/fer2013.npz"
    train_usage: str = "Training"  # minus the validation rows (data.validation_mask)
    val_usage: str = "Validation"  # scored every epoch; picks best.pt; "" for none
    test_usage: str = "PublicTest"  # scored once, on final.pt at the end of the run: reported, never used to choose
    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.03
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.5
    label_smoothing: float = 0.0
    ferplus_weight: float = 0.2  # target = (1-w) * one-hot(FER2013 label) + w * FER+ vote distribution
    ema_decay: float = 0.999
    seed: int = 1
    threads: int = 0  # 0: torch's default
    max_train: int = 0  # 0: all rows (tests use a handful)
    init: str | None = None  # a checkpoint (final.pt, best.pt, last.pt) whose weights start the run: fine-tuning, warm restarts
    teachers: list[str] = field(default_factory=list)  # checkpoints to distil from (knowledge distillation)
    distill_weight: float = 0.5  # loss = (1-w) * targets + w * T^2 * KL(teacher || student), when teachers are set
    distill_temperature: float = 4.0
    precision: str = "auto"  # auto | bf16 | fp16 | fp32: mixed precision of the forward pass (see choose_precision)
    stop_after: int = 0  # end this process after this epoch (a job's time limit); --resume continues; 0: run to the end
    teacher_flip_tta: bool = False  # each teacher also sees the mirrored batch and the two predictions are averaged
    teacher_cache: str | None = None  # a fer_train.teacher_cache file: distil from cached teacher logits instead of `teachers`
    mixup_alpha: float = 0.0  # > 0: each batch is mixed with a shuffled copy of itself, lambda ~ Beta(a, a); online
    # teachers score the mixed faces (the student's exact view), targets are mixed with the same lambda
    net: NetConfig = field(default_factory=NetConfig)
    aug: AugmentConfig = field(default_factory=AugmentConfig)


def load_config(path: str | None, overrides: list[str], base: dict | None = None) -> TrainConfig:
    """Defaults, then `base` (a saved run's config.json, when resuming), then the --config file, then --set."""
    raw: dict = dict(base or {})
    if path:
        if not Path(path).is_file():
            raise SystemExit(f"config: {path} does not exist")
        try:
            raw.update(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as e:
            raise SystemExit(f"config: {path} is not valid JSON: {e}") from None
    for o in overrides:
        if "=" not in o:
            raise SystemExit(f"config: --set {o!r} needs KEY=VALUE")
        k, _, v = o.partition("=")
        try:
            raw[k] = json.loads(v)
        except json.JSONDecodeError:
            raw[k] = v  # a plain string, e.g. a path
    try:
        net_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.pop("net", {}).items()}
        aug_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.pop("aug", {}).items()}
        net = NetConfig(**net_fields)
        aug = AugmentConfig(**aug_fields)
    except TypeError as e:
        raise SystemExit(f"config: {e}") from None
    known = set(TrainConfig.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise SystemExit(f"config: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    cfg = TrainConfig(net=net, aug=aug, **raw)
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Every check that needs no data, so a wrong setting fails in a second, not after the ~20 s CSV load."""
    def bad(key: str, value: object, want: str) -> None:
        raise SystemExit(f"config: {key} = {value!r} is invalid: expected {want}")

    for key in ("epochs", "batch_size"):
        v = getattr(cfg, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            bad(key, v, "a positive integer")
    for key in ("threads", "max_train", "stop_after", "seed"):
        v = getattr(cfg, key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            bad(key, v, "an integer >= 0")
    for key, lo, hi in (("lr", 0.0, 10.0), ("weight_decay", 0.0, 1.0), ("momentum", 0.0, 1.0), ("label_smoothing", 0.0, 1.0),
                        ("ferplus_weight", 0.0, 1.0), ("ema_decay", 0.0, 1.0), ("distill_weight", 0.0, 1.0)):
        v = getattr(cfg, key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not lo <= v <= hi or (key == "lr" and v == 0):
            bad(key, v, f"a number in [{lo}, {hi}]" + (" above 0" if key == "lr" else ""))
    if not isinstance(cfg.warmup_epochs, (int, float)) or isinstance(cfg.warmup_epochs, bool) or cfg.warmup_epochs < 0:
        bad("warmup_epochs", cfg.warmup_epochs, "a number >= 0")
    if not isinstance(cfg.mixup_alpha, (int, float)) or isinstance(cfg.mixup_alpha, bool) or not 0 <= cfg.mixup_alpha <= 10:
        bad("mixup_alpha", cfg.mixup_alpha, "a number in [0, 10] (0: no mixup)")
    if not isinstance(cfg.distill_temperature, (int, float)) or cfg.distill_temperature <= 0:
        bad("distill_temperature", cfg.distill_temperature, "a number above 0")
    if cfg.precision not in PRECISIONS:
        bad("precision", cfg.precision, f"one of {', '.join(PRECISIONS)}")
    if not cfg.net.widths or any(not isinstance(w, int) or w < 1 for w in cfg.net.widths):
        bad("net.widths", list(cfg.net.widths), "a list of positive integers")
    if not 0 <= cfg.net.dropout < 1:
        bad("net.dropout", cfg.net.dropout, "a number in [0, 1)")
    for key in ("init",):
        v = getattr(cfg, key)
        if v and not Path(v).is_file():
            raise SystemExit(f"config: {key} checkpoint {v} does not exist")
    for t in [cfg.teachers] if isinstance(cfg.teachers, str) else cfg.teachers:
        if not Path(t).is_file():
            raise SystemExit(f"config: teacher checkpoint {t} does not exist")
    if cfg.teacher_cache:
        if cfg.teachers:
            raise SystemExit("config: set teachers or teacher_cache, not both (a teacher cache holds teachers' answers)")
        if not Path(cfg.teacher_cache).is_file():
            raise SystemExit(f"config: teacher_cache {cfg.teacher_cache} does not exist")


def config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`key: old -> new` for every setting that differs (nested net/aug keys dotted)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, f"{prefix}{k}.")
        elif a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return (x - mean) / std


PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def cpu_has_bf16() -> bool:
    """AVX512-BF16 / AMX (x86) or the BF16 extension (arm64): where bf16 autocast pays off on a CPU."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "bf16"))


def choose_precision(setting: str, device: torch.device) -> str:
    """auto: bf16 where the device has it (Ampere+ GPUs, CPUs with BF16 instructions), fp16 on other GPUs (T4, V100,
    GTX 10/20: with a GradScaler), fp32 on CPUs without BF16. An explicit setting the device cannot run is an error."""
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        if setting == "auto":
            return "bf16" if bf16 else "fp16"
        if setting == "bf16" and not bf16:
            raise SystemExit(f"config: precision bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16 or auto")
        return setting
    if setting == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    if setting == "fp16":
        raise SystemExit("config: precision fp16 is for GPUs; on a CPU use bf16, fp32 or auto")
    return setting


_AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}
_precision = {"value": "bf16"}


def autocast_ctx(device: torch.device, precision: str | None = None):
    p = precision or _precision["value"]
    return torch.autocast(device.type, dtype=_AMP.get(p, torch.bfloat16), enabled=p in _AMP)


@torch.no_grad()
def predict_proba(model: torch.nn.Module, images: np.ndarray, mean: float, std: float, device: torch.device,
                  flip_tta: bool = False, batch: int = 512, precision: str | None = None) -> np.ndarray:
    """Softmax outputs; `precision` (default: the training run's) may force "fp32" for a reference."""
    model.eval()
    out = []
    for s in range(0, len(images), batch):
        x = as_input(torch.from_numpy(images[s : s + batch]).to(device))
        x = normalise(x, mean, std).contiguous(memory_format=torch.channels_last)
        with autocast_ctx(device, precision):
            p = F.softmax(model(x).float(), dim=1)
            if flip_tta:
                p = (p + F.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(p.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * t))


def init_weights(model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Start from another run's weights; its net must have the same shape, which is checked by name, not by luck."""
    path = Path(cfg.init)  # type: ignore[arg-type]
    if not path.is_file():
        raise SystemExit(f"config: init checkpoint {path} does not exist")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    theirs = net_config_from((ck.get("config") or {}).get("net"))
    if theirs != cfg.net:
        raise SystemExit(f"config: init checkpoint {path} has net {asdict(theirs)}, this run has {asdict(cfg.net)}")
    # The EMA weights, whichever checkpoint layout (they are the better start).
    model.load_state_dict(raw_and_ema(ck)[0]["ema"])
    print(f"initialised from {path} (epoch {ck.get('epoch')})", file=sys.stderr)


class Teachers:
    """One or more trained checkpoints whose averaged, temperature-softened predictions the student learns from.

    Each teacher normalises the augmented batch with its own mean/std and may have any width: the usual set-up is a
    wider net (or an ensemble) trained on a workstation, distilled into the edge net that has to run at camera speed.
    """

    def __init__(self, paths: list[str] | str, device: torch.device, num_classes: int, flip_tta: bool = False) -> None:
        self.flip_tta = flip_tta
        # `--set teachers=one.pt` arrives as a plain string: one teacher, not one per character.
        paths = [paths] if isinstance(paths, str) else list(paths)
        self.members = []
        for p in paths:
            if not Path(p).is_file():
                raise SystemExit(f"config: teacher checkpoint {p} does not exist")
            ck = load_checkpoint(p)
            if ck.model.cfg.num_classes != num_classes:
                raise SystemExit(f"config: teacher checkpoint {p} has {ck.model.cfg.num_classes} outputs, the student {num_classes}")
            net = ck.model.to(device).to(memory_format=torch.channels_last).eval()
            for q in net.parameters():
                q.requires_grad_(False)
            self.members.append((net, ck.mean, ck.std, p))

    def __len__(self) -> int:
        return len(self.members)

    @torch.no_grad()
    def probs(self, raw: torch.Tensor, temperature: float) -> torch.Tensor:
        """raw: the augmented batch in [0, 1], before normalisation."""
        total = None
        for net, mean, std, _ in self.members:
            x = normalise(raw, mean, std).contiguous(memory_format=torch.channels_last)
            with autocast_ctx(raw.device):
                p = F.softmax(net(x).float() / temperature, dim=1)
                if self.flip_tta:  # a mirrored face has the same expression: a cheap, stronger teacher
                    p = (p + F.softmax(net(torch.flip(x, dims=[3])).float() / temperature, dim=1)) / 2
            total = p if total is None else total + p
        assert total is not None, "probs() needs at least one teacher"
        return total / len(self.members)

    def report(self, te: FaceSet, device: torch.device) -> None:
        """Each teacher's test accuracy and the ensemble's, so a weak teacher is seen before hours are spent on it."""
        if not len(te):
            return
        ens: np.ndarray | None = None
        for net, mean, std, p in self.members:
            pr = predict_proba(net, te.images, mean, std, device, flip_tta=self.flip_tta)
            ens = pr if ens is None else ens + pr
            print(f"teacher {p}: accuracy {(pr.argmax(1) == te.labels).mean():.4f}", file=sys.stderr)
        if len(self.members) > 1 and ens is not None:
            print(f"teacher ensemble: accuracy {(ens.argmax(1) == te.labels).mean():.4f}", file=sys.stderr)


def cached_teacher_probs(cfg: TrainConfig, tr: FaceSet, temperature: float, device: torch.device,
                         report: bool) -> torch.Tensor | None:
    """(rows, classes) teacher probabilities at `temperature` from `teacher_cache`, checked against the training rows."""
    if not cfg.teacher_cache:
        return None
    st = load_teacher_cache(cfg.teacher_cache)
    st.check_rows(tr, cfg.teacher_cache)
    if st.logits.shape[-1] != cfg.net.num_classes:
        raise SystemExit(f"config: teacher_cache {cfg.teacher_cache} has {st.logits.shape[-1]} classes, the student {cfg.net.num_classes}")
    if report:
        for m in st.meta.get("teachers", []):
            print(f"cached teacher {m.get('checkpoint')}: test acc {m.get('test_acc')}", file=sys.stderr)
        print(f"cached teacher ensemble ({len(st.meta.get('views', []))} views): test acc {st.meta.get('ensemble_test_acc')}",
              file=sys.stderr)
    return st.probs(temperature).to(device)


def distributed() -> tuple[int, int]:
    """(rank, world size) under `torchrun` (WORLD_SIZE > 1), the process group initialised (NCCL on GPUs, gloo on
    CPUs); (0, 1) for a plain run."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _running(loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> str:
    """The progress line's numbers; reading the device-side sums here is the only sync logging makes."""
    return f"loss {float(loss_sum) / seen:.3f} acc {int(correct) / seen:.3f}"


def train(cfg: TrainConfig, out: Path, resume: bool = False, device_name: str | None = None, workers: int = 0) -> dict:
    """One process, or one rank of a `torchrun` job (DistributedDataParallel): `batch_size` is per process, so N
    processes step on N x batch_size faces at once, exactly the faces a single process with batch_size x N would
    take (the global order is the same); rank 0 alone logs, evaluates and writes checkpoints."""
    validate(cfg)
    rank, world = distributed()
    main_proc = rank == 0
    if device_name is None and torch.cuda.is_available():
        device_name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if world > 1 else "cuda"
    device = torch.device(device_name or "cpu")
    precision = choose_precision(cfg.precision, device)
    _precision["value"] = precision
    # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none.
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if main_proc:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    fs = load_fer(cfg.data_csv, cfg.ferplus_csv, cfg.cache)
    tr, va, te = fs.select(cfg.train_usage), fs.select(cfg.val_usage), fs.select(cfg.test_usage)
    if cfg.max_train:
        tr = FaceSet(tr.images[: cfg.max_train], tr.labels[: cfg.max_train], tr.usage[: cfg.max_train],
                     votes=None if tr.votes is None else tr.votes[: cfg.max_train])
    if len(tr) == 0:
        raise SystemExit(f"no rows with Usage={cfg.train_usage!r} in {cfg.data_csv}")
    mean = float(tr.images.mean() / 255.0)
    std = float(tr.images.std() / 255.0)

    model = ExpressionNet(cfg.net).to(device).to(memory_format=torch.channels_last)
    if cfg.init:
        init_weights(model, cfg)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    global_batch = cfg.batch_size * world
    steps_per_epoch = math.ceil(len(tr) / global_batch)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    start_epoch, step, best, history = 0, 0, -math.inf, []
    last = out / "last.pt"
    if resume and last.exists():
        # Loaded on the CPU: the RNG states must stay CPU byte tensors (map_location=cuda would move them and
        # torch.set_rng_state rejects that); load_state_dict copies the weights and optimizer state to the device.
        ck = torch.load(last, map_location="cpu", weights_only=False)
        weights, _ = raw_and_ema(ck)
        model.load_state_dict(weights["raw"])
        ema.load_state_dict(weights["ema"])
        opt.load_state_dict(ck["opt"])
        if "scaler" in ck:
            scaler.load_state_dict(ck["scaler"])
        start_epoch, step, best, history = ck["epoch"] + 1, ck["step"], ck["best"], ck["history"]
        torch.set_rng_state(ck["rng"].cpu())
        if device.type == "cuda" and ck.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ck["cuda_rng"].cpu(), device)
        if main_proc:
            print(f"resumed from {last} at epoch {start_epoch}", file=sys.stderr)

    if main_proc:
        print(f"world={world} device={device} precision={precision} params={count_parameters(model)} train={len(tr)} val={len(va)} test={len(te)} "
              f"mean={mean:.4f} std={std:.4f}",
          file=sys.stderr)
    teachers = Teachers(cfg.teachers, device, cfg.net.num_classes, cfg.teacher_flip_tta)
    if len(teachers) and start_epoch == 0 and main_proc:
        teachers.report(va, device)
    T = cfg.distill_temperature
    cached = cached_teacher_probs(cfg, tr, T, device, report=main_proc and start_epoch == 0)
    gen = torch.Generator(device=device)
    for epoch in range(start_epoch, cfg.epochs):
        if cfg.stop_after and epoch >= cfg.stop_after:
            if main_proc:
                print(f"stopping after epoch {epoch} (stop_after); continue with --resume", file=sys.stderr)
            return {"best": best, "history": history, "stopped": True}
        gen.manual_seed(cfg.seed * 1000 + epoch + 100_003 * rank)
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)
        if world > 1:
            # Each rank's dropout stream starts from (seed, epoch, rank): a resumed job repeats an uninterrupted one
            # without storing every rank's RNG state.
            torch.manual_seed(cfg.seed * 1000 + epoch + 100_003 * rank)
        net.train()
        t0, seen = time.time(), 0
        # Running sums stay on the device: reading them (a sync) happens only when the progress line is printed,
        # not every step, so a GPU is never stalled by logging.
        loss_sum_t = torch.zeros((), dtype=torch.float64, device=device)
        correct_t = torch.zeros((), dtype=torch.int64, device=device)
        bar = Progress(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}") if main_proc else None
        # A single process drops the same remainder as N ranks do: every rank must take part in each step.
        steps = [g[rank::world] for g in iter_batches(len(tr), global_batch, rng) if len(g) >= world]
        for b in BatchStream(tr, steps, cfg.net.num_classes, cfg.ferplus_weight, device, workers):
            raw = augment(b.images, cfg.aug, gen)
            y = b.targets
            pt = None if cached is None else cached[b.rows]
            if cfg.mixup_alpha > 0:
                lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
                perm = torch.randperm(len(raw), generator=gen, device=device)
                raw = lam * raw + (1 - lam) * raw[perm]
                y = lam * y + (1 - lam) * y[perm]
                if pt is not None:  # cached answers are for the clean faces: the nearest a cache can get
                    pt = lam * pt + (1 - lam) * pt[perm]
            x = normalise(raw, mean, std).contiguous(memory_format=torch.channels_last)
            if cfg.label_smoothing:
                y = y * (1 - cfg.label_smoothing) + cfg.label_smoothing / cfg.net.num_classes
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, cfg.lr)
            with autocast_ctx(device):
                logits = net(x)
            loss = torch.sum(-y * F.log_softmax(logits.float(), dim=1), dim=1).mean()
            if len(teachers):
                pt = teachers.probs(raw, T)  # the exact (augmented, mixed) faces the student sees: consistent
            if pt is not None:
                kd = torch.sum(pt * (torch.log(pt.clamp_min(1e-8)) - F.log_softmax(logits.float() / T, dim=1)), dim=1).mean()
                loss = (1 - cfg.distill_weight) * loss + cfg.distill_weight * T * T * kd
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                d = min(cfg.ema_decay, (1 + step) / (10 + step))
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.mul_(d).add_(pm.detach(), alpha=1 - d)
                for be, bm in zip(ema.buffers(), model.buffers()):
                    be.copy_(bm)
                n = len(b.labels)
                loss_sum_t += loss.detach().double() * n
                correct_t += (logits.argmax(1) == b.labels).sum()
            step += 1
            seen += n
            if bar:
                bar.update(partial(_running, loss_sum_t, correct_t, seen))
        loss_sum, correct = float(loss_sum_t), int(correct_t)
        if bar:
            bar.close()
        if world > 1:
            import torch.distributed as dist

            tot = torch.tensor([loss_sum, float(seen), float(correct)], dtype=torch.float64, device=device)
            dist.all_reduce(tot)
            loss_sum, seen, correct = float(tot[0]), int(tot[1]), int(tot[2])
        if not main_proc:
            import torch.distributed as dist

            dist.barrier()  # rank 0 evaluates and writes last.pt; a resume must find it complete
            history.append({"epoch": epoch + 1})
            continue
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
               "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0}
        if len(va):
            for tag, m in (("val_acc", model), ("val_acc_ema", ema)):
                p = predict_proba(m, va.images, mean, std, device)
                rec[tag] = float((p.argmax(1) == va.labels).mean())
        history.append(rec)
        print(json.dumps(rec), file=sys.stderr, flush=True)
        score = rec.get("val_acc_ema", -rec["train_loss"])
        # One checkpoint shape: "model" is always the EMA weights (what ships); last.pt adds the raw SGD weights.
        ck = {"format": 2, "model": ema.state_dict(), "raw": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
              "best": max(best, score), "history": history, "rng": torch.get_rng_state(),
              "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None, "scaler": scaler.state_dict(),
              "config": asdict(cfg),
              "mean": mean, "std": std}
        tmp = out / "last.pt.tmp"
        torch.save(ck, tmp)
        os.replace(tmp, last)
        if score > best:
            best = score
            torch.save({"model": ema.state_dict(), "config": asdict(cfg), "mean": mean, "std": std, "epoch": epoch + 1,
                        "history": history}, out / "best.pt.tmp")
            os.replace(out / "best.pt.tmp", out / "best.pt")
        (out / "history.json").write_text(json.dumps(history, indent=1))
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
    if not main_proc:
        return {"best": best, "history": history}
    # The model to ship: the EMA weights at the end of the schedule (best.pt is the EMA epoch best on validation).
    # PublicTest is scored once, here, to report; nothing in the run looked at it.
    final: dict[str, Any] = {"model": ema.state_dict(), "config": asdict(cfg), "mean": mean, "std": std, "epoch": cfg.epochs,
                             "history": history}
    if len(te):
        final["test_acc"] = float((predict_proba(ema, te.images, mean, std, device).argmax(1) == te.labels).mean())
        print(f"final.pt: {cfg.test_usage} accuracy {final['test_acc']:.4f} (reported once; nothing was chosen by it)",
              file=sys.stderr)
    torch.save(final, out / "final.pt")
    return {"best": best, "history": history, "test_acc": final.get("test_acc")}


def _settings_help() -> str:
    d = TrainConfig()
    keys = [f"  {k} = {json.dumps(v) if not hasattr(v, '__dataclass_fields__') else json.dumps(asdict(v))}"
            for k, v in asdict(d).items()]
    return "settings (--set KEY=VALUE, or a --config JSON file; values are JSON or plain strings):\n" + "\n".join(keys)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, epilog=_settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="JSON file overriding TrainConfig defaults")
    ap.add_argument("--out", required=True, help="run directory (checkpoints, history)")
    ap.add_argument("--resume", action="store_true",
                    help="continue from OUT/last.pt with OUT/config.json; --set on top of it changes (and prints) those keys")
    ap.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes preparing batches ahead of the training loop (default 0: in this process); "
                         "the curve does not depend on it")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    a = ap.parse_args(argv)
    out = Path(a.out)
    try:
        base = None
        if a.resume and (out / "config.json").is_file():
            if a.config:
                raise SystemExit("config: --resume continues with the run's own config.json; --config cannot be given too")
            base = json.loads((out / "config.json").read_text())
        cfg = load_config(a.config, a.set, base)
        if base is not None:
            for change in config_changes(base, asdict(cfg)):
                print(f"resume: CHANGED {change}", file=sys.stderr)
        train(cfg, out, resume=a.resume, device_name=a.device, workers=a.workers)
    except (FileNotFoundError, ValueError) as e:
        print(f"train failed: {e}", file=sys.stderr)
        return 1
    finally:
        _leave_process_group()
    return 0


def _leave_process_group() -> None:
    """Every rank waits for the others, then closes the group: a rank that exits while gloo's threads still talk to
    the others dies with SIGABRT ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
