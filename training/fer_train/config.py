"""The training run's settings: TrainConfig (every key with its default), loading from JSON and --set, the checks
that name a bad key, and the changes a resume prints."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import AugmentConfig
from .model import NetConfig
from .precision import PRECISIONS

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
