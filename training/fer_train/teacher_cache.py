"""A teacher ensemble's predictions over the training rows, computed once and cached in a small file:

    python -m fer_train.teacher_cache --checkpoint runs/a/final.pt --checkpoint runs/b/final.pt \\
        --data ../../shared/datasets/fer2013/fer2013.csv.gz --views flip --out runs/targets/ab.npz

then `--set teacher_cache=runs/targets/ab.npz` distils from the file instead of running teachers on every batch
(three teachers with flip TTA are six forward passes per step: half of a distillation epoch here). The file also
makes views affordable that online teachers are not (`--views multi`: twelve views per face, see VIEW_SETS).

What the file holds: every teacher's logits for every view of every row (float16), so the student may pick any
temperature; a digest of the rows' pixels and labels, so a file made for other data (another CSV, another
`max_train`) is refused by name instead of silently misaligning targets; and each teacher's and the ensemble's test
accuracy with the same views, so the teacher's strength travels with it.

The cost of caching: the teacher sees each face un-augmented (and in the chosen views) while the student sees
augmented batches, so the student learns the teacher's answer for the clean face. Online teachers answer for the
augmented face the student sees.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import Checkpoint, load_checkpoint
from .data import FaceSet, load_fer
from .model import as_input
from .precision import cpu_has_bf16

FORMAT = 1
#: View sets: "plain" is the face as stored; "flip" adds its mirror; "zoom" adds the centre zoomed in by 8 %, and
#: its mirror; "multi" adds to those 2-pixel shifts in four directions, each also mirrored (12 views). More views make
#: a stronger teacher (the tool reports the ensemble's test accuracy with each smaller set, and training/README.md
#: the figures); no single view beats the plain face by more than noise, so views are for teachers, not the agent.
VIEW_SETS = {"plain": ["plain"], "flip": ["plain", "flip"], "zoom": ["plain", "flip", "zoom", "zoom+flip"],
             "multi": ["plain", "flip", "zoom", "zoom+flip", "right", "right+flip", "left", "left+flip", "down",
                       "down+flip", "up", "up+flip"]}
_SHIFTS = {"right": (0, 2), "left": (0, -2), "down": (2, 0), "up": (-2, 0)}
ZOOM = 1.08


def rows_digest(fs: FaceSet) -> str:
    """What a targets file is aligned to: the rows' pixels and labels, in order."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(fs.images).tobytes())
    h.update(np.ascontiguousarray(fs.labels.astype(np.int64)).tobytes())
    return h.hexdigest()


def view(x: torch.Tensor, name: str) -> torch.Tensor:
    """One named view of (N, 1, H, W) faces. Shifts fill the uncovered edge by repeating it (no black bars, which
    the teachers never saw in training)."""
    base = name.removesuffix("+flip") if name != "flip" else "plain"
    if base in _SHIFTS:
        dy, dx = _SHIFTS[base]
        h, w = x.shape[-2:]
        pad = (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0))
        x = F.pad(x, pad, mode="replicate")[..., max(-dy, 0): max(-dy, 0) + h, max(-dx, 0): max(-dx, 0) + w]
    elif base == "zoom":
        theta = torch.tensor([[1 / ZOOM, 0.0, 0.0], [0.0, 1 / ZOOM, 0.0]], dtype=x.dtype).expand(x.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    elif base != "plain":
        raise ValueError(f"unknown view {name!r}")
    return torch.flip(x, dims=[3]) if name.endswith("flip") else x


@torch.no_grad()
def checkpoint_logits(ck: Checkpoint, images: np.ndarray, views: list[str], batch: int = 512,
                      bf16: bool = False) -> np.ndarray:
    """(N, V, C) logits of one loaded checkpoint; `bf16` runs the convolutions in bfloat16 as online teachers do in
    training (about 2x faster on CPUs with AVX512-BF16; the wide net over 27,246 faces x 12 views is ~86 TMAC)."""
    net = ck.model.eval().to(memory_format=torch.channels_last)
    out = np.zeros((len(images), len(views), net.cfg.num_classes), np.float32)
    for s in range(0, len(images), batch):
        x = (as_input(torch.from_numpy(images[s : s + batch])) - ck.mean) / ck.std
        for v, name in enumerate(views):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out[s : s + batch, v] = net(view(x, name).contiguous(memory_format=torch.channels_last)).float().numpy()
    return out


def probs_from_logits(logits: np.ndarray | torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, M, V, C) logits -> (N, C): the mean over teachers and views of softmax(logits / T), as online teachers
    average their probabilities."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    return F.softmax(t / temperature, dim=-1).mean(dim=(1, 2))


@dataclass
class TeacherCache:
    logits: np.ndarray  # (N, M, V, C) float16: rows, teachers, views, classes
    digest: str
    meta: dict

    def probs(self, temperature: float) -> torch.Tensor:
        return probs_from_logits(self.logits, temperature)

    def check_rows(self, fs: FaceSet, path: str) -> None:
        """Stops, naming the file, when it was made for other rows than the run's training rows."""
        if len(fs) != len(self.logits) or rows_digest(fs) != self.digest:
            raise SystemExit(
                f"config: teacher_cache {path} was made for other training rows ({len(self.logits)} rows, from "
                f"{self.meta.get('data')!r} usage {self.meta.get('usage')!r}) than this run's ({len(fs)} rows): "
                "make it again with fer_train.teacher_cache for this data")

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")  # np.savez appends .npz to names without it
        np.savez_compressed(tmp, format=np.int64(FORMAT), logits=self.logits.astype(np.float16),
                            digest=np.array(self.digest), meta=np.array(json.dumps(self.meta)))
        tmp.replace(path)


def load_teacher_cache(path: str | Path) -> TeacherCache:
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"config: teacher_cache {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = int(z["format"])
            if fmt != FORMAT:
                raise SystemExit(f"config: teacher_cache {path} has format {fmt}; this trainer reads format {FORMAT}")
            logits, digest, meta = z["logits"], str(z["digest"]), json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"config: teacher_cache {path} is not a teacher cache file: {e}") from None
    if logits.ndim != 4 or not np.isfinite(logits.astype(np.float32)).all():
        raise SystemExit(f"config: teacher_cache {path} holds logits of shape {logits.shape} or non-finite values")
    return TeacherCache(logits=logits, digest=digest, meta=meta)


def _accuracy(logits: np.ndarray, rows: FaceSet) -> float:
    return round(float((probs_from_logits(logits, 1.0).argmax(1).numpy() == rows.labels).mean()), 4)


def build(checkpoints: list[str], train_rows: FaceSet, test_rows: FaceSet, views: list[str], data: str, usage: str,
          log=print, bf16: bool = False) -> TeacherCache:
    """Every teacher's logits over the training rows, and its (and the ensemble's) test accuracy with these views."""
    per_teacher, members, test_logits = [], [], []
    for path in checkpoints:
        ck = load_checkpoint(path)  # once: it answers for the training and the test rows
        info: dict = {"checkpoint": path, "labels": ck.labels}
        per_teacher.append(checkpoint_logits(ck, train_rows.images, views, bf16=bf16))
        if len(test_rows):
            tl = checkpoint_logits(ck, test_rows.images, views, bf16=bf16)
            test_logits.append(tl)
            info["test_acc"] = _accuracy(tl[:, None], test_rows)
        members.append(info)
        log(f"{path}: {info.get('test_acc', 'n/a')} on {len(test_rows)} test rows ({len(views)} views)")
    labels = {tuple(m["labels"]) for m in members}
    if len(labels) != 1:
        raise SystemExit(f"teacher_cache: the teachers disagree on the labels: {sorted(labels)}")
    meta = {"teachers": members, "views": views, "data": data, "usage": usage, "rows": len(train_rows),
            "labels": members[0]["labels"], "precision": "bf16" if bf16 else "fp32"}
    if test_logits:
        every = np.stack(test_logits, axis=1)  # (N, M, V, C)
        meta["ensemble_test_acc"] = _accuracy(every, test_rows)
        # The ensemble with each smaller view set, from the same logits: what the extra views are worth.
        meta["ensemble_test_acc_by_views"] = {
            name: _accuracy(every[:, :, [views.index(v) for v in vs]], test_rows)
            for name, vs in VIEW_SETS.items() if set(vs) <= set(views)}
        log(f"ensemble of {len(members)}: {meta['ensemble_test_acc']} on {len(test_rows)} test rows; by views "
            f"{meta['ensemble_test_acc_by_views']}")
    logits = np.stack(per_teacher, axis=1)  # (N, M, V, C)
    return TeacherCache(logits=logits.astype(np.float16), digest=rows_digest(train_rows), meta=meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", action="append", required=True, help="a teacher checkpoint (repeat for an ensemble)")
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz): the same file the student trains on")
    ap.add_argument("--cache", help=".npz cache of the CSV (read only)")
    ap.add_argument("--usage", default="Training", help="the rows the student trains on")
    ap.add_argument("--test-usage", default="Validation", help="rows to report the teachers' accuracy on ('' for none)")
    ap.add_argument("--max-train", type=int, default=0, help="the student's max_train (0: all rows)")
    ap.add_argument("--views", choices=sorted(VIEW_SETS), default="flip")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="auto: bf16 where the CPU has AVX512-BF16 (as online teachers run), fp32 otherwise")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.max_train < 0 or a.threads < 0:
        print("teacher_cache: --max-train and --threads must be 0 or more", file=sys.stderr)
        return 1
    if a.threads:
        torch.set_num_threads(a.threads)
    for c in a.checkpoint:
        if not Path(c).is_file():
            print(f"teacher_cache: checkpoint {c} does not exist", file=sys.stderr)
            return 1
    try:
        fs = load_fer(a.data, None, a.cache, read_only_cache=True)
    except (FileNotFoundError, ValueError) as e:
        print(f"teacher_cache: {e}", file=sys.stderr)
        return 1
    tr = fs.select(a.usage)
    if a.max_train:
        tr = FaceSet(tr.images[: a.max_train], tr.labels[: a.max_train], tr.usage[: a.max_train])
    if len(tr) == 0:
        print(f"teacher_cache: no rows with Usage={a.usage!r} in {a.data}", file=sys.stderr)
        return 1
    te = fs.select(a.test_usage) if a.test_usage else FaceSet(tr.images[:0], tr.labels[:0], tr.usage[:0])

    bf16 = a.precision == "bf16" or (a.precision == "auto" and cpu_has_bf16())
    st = build(a.checkpoint, tr, te, VIEW_SETS[a.views], a.data, a.usage, log=lambda m: print(m, file=sys.stderr), bf16=bf16)
    st.save(a.out)
    print(json.dumps({"out": a.out, "rows": len(tr), **{k: st.meta[k] for k in ("views", "teachers")},
                      "ensemble_test_acc": st.meta.get("ensemble_test_acc")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
