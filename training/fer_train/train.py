"""Train the expression net: `python -m fer_train.train --config configs/default.json --out runs/NAME`.

Checkpoints every epoch (`last.pt`, `best.pt`), resumes with `--resume`, deterministic for a given seed.
On CPU it uses bf16 autocast and channels_last (about 2x faster on AVX512-BF16 cores); on CUDA, autocast too.
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .augment import augment
from .checkpoint import net_config_from, raw_and_ema
from .config import TrainConfig, config_changes, load_config, validate
from .data import FaceSet, iter_batches, load_fer
from .distill import Teachers, cached_teacher_probs, normalise, predict_proba
from .loader import BatchStream
from .model import ExpressionNet, count_parameters
from .precision import PRECISIONS, _precision, autocast_ctx, choose_precision, cpu_has_bf16
from .progress import Progress

# Re-exported: tools and tests import these from fer_train.train, where they lived before the split.
__all__ = ["PRECISIONS", "Teachers", "TrainConfig", "autocast_ctx", "cached_teacher_probs", "choose_precision", "config_changes",
           "cpu_has_bf16", "load_config", "main", "normalise", "predict_proba", "train", "validate"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


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
    # Atomically, like last.pt: a release job waiting on final.pt (tools/release_job.py) must never read half a file.
    torch.save(final, out / "final.pt.tmp")
    os.replace(out / "final.pt.tmp", out / "final.pt")
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


_left_group = False


def _leave_process_group() -> None:
    """Every rank waits for the others, then closes the group: a rank that exits while gloo's threads still talk to
    the others dies with SIGABRT ("terminate called without an active exception")."""
    global _left_group
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        gc.collect()  # drop finished collectives' Python objects while the group can still release them
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()
            _left_group = True


if __name__ == "__main__":
    rc = main()
    if _left_group:
        # A rank's work is done and on disk. Interpreter finalization can still meet gloo's C++ worker threads, which
        # aborted a rank about once in many CI runs (SIGABRT after "stopping after epoch"), so ranks skip it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    sys.exit(rc)
