"""Dataset readers: FER2013 CSV (plain or .gz), the FER+ vote file aligned to it, and image folders.

Every malformed row is reported with file, row number and reason; nothing is skipped silently.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from . import FER2013_LABELS

# FER+ vote columns, in file order, and where each lands among the FER2013 labels.
FERPLUS_COLUMNS = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
FERPLUS_TO_FER2013 = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1, "fear": 2}

IMAGE_SIZE = 48

# The validation split: a fixed, stratified tenth of the Training rows, never trained on, that decides everything a run
# or a release chooses (checkpoint, release, int8 form, TTA). PublicTest is reported, never used to choose.
TRAINING = "Training"
VALIDATION = "Validation"
VALIDATION_FRACTION = 0.1
VALIDATION_KEY = b"fer-edge validation split v1"


def validation_mask(images: np.ndarray, labels: np.ndarray, candidates: np.ndarray,
                    fraction: float = VALIDATION_FRACTION, key: bytes = VALIDATION_KEY) -> np.ndarray:
    """Which `candidates` rows are validation rows: per class, the `fraction` of rows whose keyed hash of the pixels is
    smallest. Stratified exactly (round(fraction * n) rows of each class, fewer only where identical images tie), the
    same whatever the file's row order, and identical images of one class always land on the same side."""
    out = np.zeros(len(labels), dtype=bool)
    idx = np.flatnonzero(candidates)
    if not len(idx):
        return out
    digests = np.array([int.from_bytes(hashlib.blake2b(images[i].tobytes(), digest_size=8, key=key).digest(), "big")
                        for i in idx], dtype=np.uint64)
    for c in np.unique(labels[idx]):
        in_class = labels[idx] == c
        k = int(round(fraction * int(in_class.sum())))
        if k == 0:
            continue
        d = digests[in_class]
        threshold = np.sort(d)[k - 1]
        chosen = idx[in_class][d <= threshold]
        # Ties at the threshold are identical images: keep them together, and on the validation side only if that
        # does not overfill the class.
        if len(chosen) > k:
            chosen = idx[in_class][d < threshold]
        out[chosen] = True
    return out


@dataclass
class RowProblem:
    file: str
    row: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.reason}"


@dataclass
class FaceSet:
    """Grayscale faces (N, 48, 48) uint8 with integer labels and, optionally, FER+ vote distributions."""

    images: np.ndarray
    labels: np.ndarray
    usage: list[str]
    labels_names: list[str] = field(default_factory=lambda: list(FER2013_LABELS))
    votes: np.ndarray | None = None  # (N, 7) float32, rows summing to 1, or all-zero when FER+ had no usable votes
    problems: list[RowProblem] = field(default_factory=list)

    def select(self, usage: str) -> FaceSet:
        """The rows of one Usage. "Validation" is carved from the "Training" rows (validation_mask) and "Training" is
        what remains; "TrainingAll" is every Training row (what models before the split were trained on)."""
        mask = self.usage_mask(usage)
        return FaceSet(
            images=self.images[mask],
            labels=self.labels[mask],
            usage=[usage] * int(mask.sum()),
            labels_names=self.labels_names,
            votes=None if self.votes is None else self.votes[mask],
            problems=self.problems,
        )

    def usage_mask(self, usage: str) -> np.ndarray:
        file_usage = np.array(self.usage, dtype=object)
        if usage == TRAINING + "All":
            return file_usage == TRAINING
        if usage not in (TRAINING, VALIDATION) or VALIDATION in self.usage:
            return file_usage == usage  # a file with its own Validation rows keeps them
        training = file_usage == TRAINING
        val = validation_mask(self.images, self.labels, training)
        return val if usage == VALIDATION else training & ~val

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _checked_rows(reader: Iterable[list[str]], path: Path) -> Iterator[list[str]]:
    """csv rows, with csv's own errors (an unclosed quote swallowing the rest of the file) named by file and line."""
    it = iter(reader)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except csv.Error as e:
            line = getattr(reader, "line_num", "?")
            raise ValueError(f"{path}:{line}: not a readable CSV row ({e}); an unclosed quote?") from None
        yield row


def read_fer2013(path: str | Path, report: TextIO | None | bool = True) -> FaceSet:
    """Read `emotion,pixels,Usage` rows. Keeps row alignment information in `kept_rows` for FER+ matching.

    `report`: a stream for the malformed-row report; True (default) is sys.stderr as it is at call time, not at import.
    """
    report = sys.stderr if report is True else (report or None)
    path = Path(path)
    images: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[str] = []
    kept_rows: list[int] = []
    problems: list[RowProblem] = []
    with _open_text(path) as fh:
        reader = _checked_rows(csv.reader(fh), path)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
            raise ValueError(f"{path}: expected header 'emotion,pixels,Usage', got {header!r}")
        for i, row in enumerate(reader):
            line = i + 2  # 1-based, after the header
            if len(row) < 3:
                problems.append(RowProblem(str(path), line, f"expected 3 columns, got {len(row)}"))
                continue
            emo, pix, use = row[0].strip(), row[1], row[2].strip()
            # isascii: str.isdigit() accepts e.g. '²', which int() then rejects with an uncaught ValueError
            if not (emo.isascii() and emo.isdigit()) or not 0 <= int(emo) < len(FER2013_LABELS):
                problems.append(RowProblem(str(path), line, f"emotion {emo!r} is not an integer in 0..6"))
                continue
            try:
                arr = np.array(pix.split(), dtype=np.int32)
            except ValueError:
                problems.append(RowProblem(str(path), line, "pixels contain a non-integer value"))
                continue
            except OverflowError:  # a value beyond int32, which np.array raises instead of ValueError
                problems.append(RowProblem(str(path), line, "pixel value outside 0..255"))
                continue
            if arr.size != IMAGE_SIZE * IMAGE_SIZE:
                problems.append(RowProblem(str(path), line, f"expected {IMAGE_SIZE * IMAGE_SIZE} pixels, got {arr.size}"))
                continue
            if arr.min() < 0 or arr.max() > 255:
                problems.append(RowProblem(str(path), line, "pixel value outside 0..255"))
                continue
            images.append(arr.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
            labels.append(int(emo))
            usage.append(use)
            kept_rows.append(i)
    if report is not None:
        for p in problems[:20]:
            print(f"skipped {p}", file=report)
        print(f"{path}: read {len(labels)} rows, skipped {len(problems)} malformed", file=report)
    fs = FaceSet(
        images=np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        labels=np.array(labels, dtype=np.int64),
        usage=usage,
        problems=problems,
    )
    fs.kept_rows = np.array(kept_rows, dtype=np.int64)  # type: ignore[attr-defined]
    return fs


def read_ferplus_votes(path: str | Path, n_rows: int, report: TextIO | None | bool = True) -> np.ndarray:
    """Vote distributions over the 7 FER2013 classes, one row per FER2013 row (file order).

    Contempt, unknown and not-a-face votes are dropped; a row with no usable votes is all zeros.
    """
    report = sys.stderr if report is True else (report or None)
    path = Path(path)
    out = np.zeros((n_rows, len(FER2013_LABELS)), dtype=np.float32)
    problems = 0
    with _open_text(path) as fh:
        reader = _checked_rows(csv.reader(fh), path)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        cols = [h.strip() for h in header]
        try:
            idx = {name: cols.index(name) for name in FERPLUS_TO_FER2013}
        except ValueError as e:
            raise ValueError(f"{path}: missing FER+ vote column ({e}); header is {cols!r}") from None
        i = -1
        for i, row in enumerate(reader):
            if i >= n_rows:
                raise ValueError(f"{path}: more rows than the FER2013 file ({n_rows}); files are not aligned")
            try:
                for name, j in idx.items():
                    out[i, FERPLUS_TO_FER2013[name]] = float(row[j])
            except (ValueError, IndexError):
                problems += 1
                if report is not None and problems <= 20:
                    print(f"skipped {path}:{i + 2}: malformed vote row", file=report)
                out[i] = 0
        if i + 1 != n_rows:
            raise ValueError(f"{path}: {i + 1} rows but the FER2013 file has {n_rows}; files are not aligned")
    s = out.sum(axis=1, keepdims=True)
    np.divide(out, s, out=out, where=s > 0)
    if report is not None:
        print(f"{path}: {n_rows} vote rows, {problems} malformed, {(s[:, 0] == 0).sum()} without usable votes", file=report)
    return out


def read_image_folder(root: str | Path, labels: list[str] | None = None, report: TextIO | None = sys.stderr) -> FaceSet:
    """One subfolder per label; images are converted to 48x48 grayscale. Unreadable files are reported."""
    from PIL import Image

    root = Path(root)
    names = labels or sorted(p.name for p in root.iterdir() if p.is_dir())
    images, ys, problems = [], [], []
    for li, name in enumerate(names):
        d = root / name
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if not f.is_file():
                continue
            try:
                with Image.open(f) as im:
                    g = im.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
                    images.append(np.asarray(g, dtype=np.uint8))
                    ys.append(li)
            except Exception as e:  # noqa: BLE001 - any decoder failure is a reportable row problem
                problems.append(RowProblem(str(f), 0, f"cannot decode image: {e}"))
    if report is not None:
        for p in problems[:20]:
            print(f"skipped {p}", file=report)
        print(f"{root}: read {len(ys)} images, skipped {len(problems)}", file=report)
    return FaceSet(
        images=np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        labels=np.array(ys, dtype=np.int64),
        usage=["Training"] * len(ys),
        labels_names=list(names),
        problems=problems,
    )


def source_key(csv_path: str | Path, ferplus_path: str | Path | None) -> str:
    """What a cache was made from: absolute paths, sizes and modification times of the CSV and the FER+ file."""
    def one(p: str | Path) -> dict:
        st = Path(p).stat()
        return {"path": str(Path(p).resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}

    return json.dumps({"csv": one(csv_path), "ferplus": one(ferplus_path) if ferplus_path is not None else None}, sort_keys=True)


def load_fer(csv_path: str | Path, ferplus_path: str | Path | None = None, cache: str | Path | None = None,
             log: TextIO | None | bool = True, read_only_cache: bool = False) -> FaceSet:
    """FER2013 (+ optional FER+ votes), cached as .npz because parsing the CSV takes ~20 s.

    The cache records what it was made from (source_key) and is used only for exactly those files: another CSV, a
    changed file or a FER+ file added or removed re-reads the data and rewrites the cache. A missing file is an error
    naming it, even when an old cache exists. Where the data came from is logged either way.

    `read_only_cache` (evaluation, which needs no votes): a cache made from the same CSV is used whatever FER+ file it
    also holds, and a cache that does not match is left alone instead of being rewritten.
    """
    out = sys.stderr if log is True else (log or None)
    for p, what in ((csv_path, "data file"), (ferplus_path, "FER+ votes file")):
        if p is not None and not Path(p).is_file():
            raise FileNotFoundError(f"{what} {p} does not exist")
    key = source_key(csv_path, ferplus_path)
    if cache is not None and Path(cache).exists():
        z = np.load(cache, allow_pickle=False)
        same_csv = "source" in z.files and json.loads(str(z["source"]))["csv"] == json.loads(key)["csv"]
        if "source" in z.files and (str(z["source"]) == key or (read_only_cache and ferplus_path is None and same_csv)):
            votes = z["votes"] if "votes" in z.files else None
            if out is not None:
                print(f"data: {csv_path}{' + ' + str(ferplus_path) if ferplus_path else ''} (from the cache {cache})", file=out)
            return FaceSet(images=z["images"], labels=z["labels"], usage=[str(u) for u in z["usage"]], votes=votes)
        if out is not None:
            print(f"data: the cache {cache} was made from other files; reading {csv_path} again", file=out)
    fs = read_fer2013(csv_path, report=out if out is not None else None)
    if ferplus_path is not None:
        all_votes = read_ferplus_votes(ferplus_path, n_rows=len(fs) + len(fs.problems), report=out if out is not None else None)
        fs.votes = all_votes[fs.kept_rows]  # type: ignore[attr-defined]
    if cache is not None and not read_only_cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(images=fs.images, labels=fs.labels, usage=np.array(fs.usage), source=np.array(key))
        if fs.votes is not None:
            arrays["votes"] = fs.votes
        tmp = Path(str(cache) + ".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as the allow_pickle flag
        os.replace(tmp, cache)
    return fs


def iter_batches(n: int, batch: int, rng: np.random.Generator | None) -> Iterable[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, batch):
        yield order[s : s + batch]
