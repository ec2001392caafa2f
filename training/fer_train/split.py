"""Writes the rows of one Usage, as training sees them, to a FER2013-format CSV that other tools can score: the agent's
`fer-agent eval --usage Validation` on the Validation split carved from the Training rows (data.validation_mask),
which the agent cannot carve itself. The file holds dataset rows: write it outside the repository.

    python3 -m fer_train.split --data ../shared/datasets/fer2013/fer2013.csv.gz --usage Validation \\
        --out ~/.cache/fer-edge/validation.csv.gz
"""
from __future__ import annotations

import argparse
import gzip
import os
import sys
from pathlib import Path

from .data import FaceSet, read_fer2013


def write_usage(fs: FaceSet, usage: str, out: str | Path) -> int:
    """The rows `fs.select(usage)` gives, as `emotion,pixels,Usage` (Usage = `usage`), gzipped for a .gz name."""
    rows = fs.select(usage)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    lines += [f"{int(y)},{' '.join(map(str, im.ravel()))},{usage}" for im, y in zip(rows.images, rows.labels)]
    text = "\n".join(lines) + "\n"
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # per writer: two writers of one split cannot clash
    if out.suffix == ".gz":
        # No time or (per-writer) file name in the header: the same rows give the same bytes, so release_check's
        # memo, keyed by them, survives a rewrite
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
            fh.write(text.encode("utf-8"))
    else:
        tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_train.split", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="FER2013 CSV (plain or .gz)")
    ap.add_argument("--usage", default="Validation", help="Training, Validation (default), TrainingAll or PublicTest")
    ap.add_argument("--out", required=True, help="CSV to write (.gz: gzipped)")
    a = ap.parse_args(argv)
    n = write_usage(read_fer2013(a.data), a.usage, a.out)
    if n == 0:
        print(f"split: {a.data} has no {a.usage} rows", file=sys.stderr)
        return 1
    print(f"split: {n} {a.usage} rows written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
