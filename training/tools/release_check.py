"""A run's shipping rule, checked as the agent runs the model: exports the run's final.pt (float + int8 on Training
calibration rows) as a release is exported (with its Validation report), writes the Validation split, scores it with `fer-agent eval` natively and under
`qemu-x86_64-static -cpu <class>` in both forms, and says whether the rule holds. Nothing here reads PublicTest.

    npm run build && python3 training/tools/release_check.py --run ~/.cache/fer-edge/runs/kd-mixup --version 1.4.0 \\
        --data ../shared/datasets/fer2013/fer2013.csv.gz --out ~/.cache/fer-edge/release/kd-mixup [--cpus Haswell]

Beside the verdict, `as_run_by_default` scores the bundle as the agent runs it by default on this host (precision and
flip TTA as `auto` decides them here), the figure a rule compares with the bundled default's.

The rule (training/README.md, run kd-mixup): int8 >= --min-int8 (0.72) on Validation and no more than --max-gap
points (0.3) below float32 there, on this host and on every emulated class. The last line is JSON with every figure
and `"passes"`; the exit status is 0 only when it passes. OUT keeps the bundle (OUT/bundle), the Python report of
Validation (OUT/report) and the split (OUT/validation.csv.gz, dataset rows: keep OUT outside the repository).

`--bundle DIR` in place of `--run` checks a bundle as it stands (one requantized by `fer_train.requantize`, say):
nothing is exported, and the Python figures reported beside the agent's are the bundle's own Validation ones.

`--per-class` also runs the per-class checks with the candidate (FER_CANDIDATE_MODEL=bundle): the x86 CPU classes
under qemu (Haswell, Nehalem) and arm64 (Cortex-A72/A76), test/deploy's int8-against-native and int8-against-float32
comparisons on the sample photos and demo frames, 10-30 minutes on 2 cores. The rule then needs them to pass too.
The bundled default stays in place throughout: npm test with the candidate installed remains the last step.

`--frames N` also reports (beside the verdict, not part of it) accuracy on whole frames: N frames of Validation faces
(`tools/make_frame_set.py --usage Validation --seed 4`; 0: all 2,725) through the agent's real path (detector, crop,
classifier) at its defaults, with the int8 and with the float32 detector, for the candidate and the bundled default
side by side. FER2013's crops are tightly framed, so a net that reads them well may still read the detector's crop
worse; the Validation rows cannot show that, these frames can (docs/model.md, "Accuracy on whole frames").

A check stopped part-way (a session that ended during the hours of emulated passes) resumes where it stopped when it
is run again with the same OUT: with --run, an export of the same final.pt with the same settings is kept
(OUT/bundle.export.json), and each `fer-agent eval` pass and a passing per-class check are kept in OUT/memo, keyed by
the hashes of everything they read (the bundle's files, the Validation split, the built agent, the settings, the CPU
class). A kept result is reused, and the log says so; --fresh ignores them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dist" / "agent" / "cli" / "main.js"


def tree_sha256(path: Path) -> str:
    """One hash of a file, or of every file under a folder with its path inside it (a renamed file changes it)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        h.update(b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


class Memo:
    """Results of the long passes, kept in one folder and keyed by `identity` (the hashes of what every pass reads)
    plus each pass's own parts, so a check run again after a stop reuses what it finished. `read` False (--fresh)
    runs every pass again, and still keeps the new results."""

    def __init__(self, directory: Path, identity: dict[str, str], read: bool = True):
        self.directory, self.identity, self.read = directory, identity, read

    def get_or_run(self, what: str, own: dict[str, str], run: Callable[[], dict[str, Any]],
                   keep: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        parts = {**self.identity, **own}
        key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]
        path = self.directory / f"{''.join(c if c.isalnum() else '-' for c in what)}-{key}.json"
        if self.read and path.is_file():
            kept = json.loads(path.read_text())
            if kept.get("parts") == parts:
                print(f"{what}: reused the result kept in {path}", file=sys.stderr)
                return dict(kept["result"])
        result = run()
        if keep(result):
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"what": what, "parts": parts, "result": result}))
            tmp.replace(path)
        return result


PER_CLASS_TESTS = ["dist/test/deploy/cpu-classes/x86-cpu-classes.test.js", "dist/test/deploy/arm64/classify-arm64.test.js"]


def verdict(scores: dict[str, dict[str, float]], min_int8: float, max_gap_points: float,
            per_class: dict[str, Any] | None = None) -> dict[str, Any]:
    """`scores`: per place ("host", "Haswell", ...) the Validation accuracy of "fp32" and "int8" (0-1); `per_class`:
    per_class_check's result when those checks ran. Pure."""
    reasons = []
    if per_class is not None and not per_class["passes"]:
        reasons.append(f"per-class checks failed (exit {per_class['exit']}); see per_class.tail")
    for place, s in scores.items():
        gap = (s["fp32"] - s["int8"]) * 100
        if s["int8"] < min_int8:
            reasons.append(f"{place}: int8 {s['int8'] * 100:.2f} % is below {min_int8 * 100:.1f} %")
        if gap > max_gap_points:
            reasons.append(f"{place}: int8 is {gap:.2f} points below float32 ({s['fp32'] * 100:.2f} %), over {max_gap_points}")
    return {"passes": bool(scores) and not reasons, "reasons": reasons if scores else ["nothing was scored"],
            "scores": scores, "min_int8": min_int8, "max_gap_points": max_gap_points, "per_class": per_class}


def per_class_check(bundle: Path, cmd: list[str] | None = None) -> dict[str, Any]:
    """Runs `cmd` (ava on PER_CLASS_TESTS) from the repository root with FER_CANDIDATE_MODEL=bundle. A skip (no
    qemu, no arm64 sysroot) counts as a failure: a candidate is not checked by a check that did not run."""
    if cmd is None:
        ava = ROOT / "node_modules" / ".bin" / "ava"
        missing = [p for p in [ava, *(ROOT / t for t in PER_CLASS_TESTS)] if not p.is_file()]
        if missing:
            raise SystemExit(f"release_check: --per-class needs {missing[0]}: run npm ci and npm run build")
        cmd = [str(ava), "--verbose", "--timeout=40m", *PER_CLASS_TESTS]
    env = {**os.environ, "FER_CANDIDATE_MODEL": str(bundle)}
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    text = r.stdout + r.stderr
    skipped = [line.strip() for line in text.splitlines() if "skipped" in line.lower()]
    passes = r.returncode == 0 and not skipped
    print(text[-6000:], file=sys.stderr)
    return {"passes": passes, "exit": r.returncode, "skipped": skipped, "tail": text[-3000:]}


def agent_identity() -> str:
    """The built agent and the node that runs it: a rebuilt agent or another node scores again."""
    node = shutil.which("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip() if node else ""
    agent = ROOT / "dist" / "agent"
    return f"{version} {tree_sha256(agent) if agent.is_dir() else 'not built'}"


def agent_eval_json(bundle: Path, csv: Path, settings: list[str], qemu_cpu: str | None,
                    memo: Memo | None = None) -> dict[str, Any]:
    """`fer-agent eval` of the Validation CSV with `settings` (`--set k=v` pairs; none: the agent's defaults); with
    `memo`, a pass already kept for the same inputs is not run again."""
    if memo is not None:
        own = {"pass": "eval", "settings": " ".join(settings), "cpu": qemu_cpu or "host"}
        return memo.get_or_run(f"eval {own['cpu']} {own['settings'] or 'defaults'}", own,
                               lambda: agent_eval_json(bundle, csv, settings, qemu_cpu))
    node = shutil.which("node")
    if not node or not CLI.is_file():
        raise SystemExit(f"release_check: needs node and the built agent ({CLI}): run npm run build")
    cmd = [node, str(CLI), "eval", "--model", str(bundle), "--data", str(csv), "--usage", "Validation",
           "--log-level", "error", *(x for kv in settings for x in ("--set", kv))]
    if qemu_cpu:
        qemu = shutil.which("qemu-x86_64-static")
        if not qemu:
            raise SystemExit("release_check: qemu-x86_64-static is missing (apt-get install qemu-user-static)")
        cmd = [qemu, "-cpu", qemu_cpu, *cmd]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"release_check: {' '.join(cmd[-12:])} failed: {r.stderr[-2000:]}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def agent_eval(bundle: Path, csv: Path, precision: str, qemu_cpu: str | None, memo: Memo | None = None) -> float:
    """One form, flip TTA off: the rule's accuracy clause."""
    j = agent_eval_json(bundle, csv, [f"model.precision={precision}", "model.flip_tta=false"], qemu_cpu, memo)
    if j["precision"] != precision:
        raise SystemExit(f"release_check: asked for {precision}, the agent ran {j['precision']}")
    print(f"{qemu_cpu or 'host'} {precision}: {j['accuracy'] * 100:.2f} % of {j['n']}", file=sys.stderr)
    return float(j["accuracy"])


FRAME_KEYS = ("frames", "found", "detection_recall", "accuracy_found", "accuracy", "model", "precision", "flip_tta")


def frames_report(candidate: Path, frames: Path) -> dict[str, Any]:
    """`fer-agent eval --frames` of the candidate and of the bundled default at the agent's defaults, once with each
    detector precision. The int8 detector's row names the threshold it applied on its own scale. A failed pass is
    reported in its row as `error`, so the verdict printed after hours of checks is never lost to it."""
    node = shutil.which("node")
    if not node or not CLI.is_file():
        return {"error": f"needs node and the built agent ({CLI}): run npm run build"}
    out: dict[str, Any] = {}
    for who, model in (("candidate", ["--model", str(candidate)]), ("bundled_default", [])):
        for det in ("int8", "fp32"):
            cmd = [node, str(CLI), "eval", "--frames", str(frames), *model, "--set", f"detection.precision={det}",
                   "--log-level", "error"]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                out.setdefault(who, {})[f"{det}_detector"] = {"error": f"{' '.join(cmd[1:])} failed: {r.stderr[-2000:]}"}
                continue
            j = json.loads(r.stdout.strip().splitlines()[-1])
            row = {k: j[k] for k in FRAME_KEYS}
            row["applied_score_threshold"] = j["detection"]["applied_score_threshold"]
            out.setdefault(who, {})[f"{det}_detector"] = row
            # accuracy_found is null when no face was found
            found_right = "-" if row["accuracy_found"] is None else f"{row['accuracy_found'] * 100:.2f} %"
            print(f"frames, {who} ({row['model']}), {det} detector: {found_right} of {row['found']} faces found right, "
                  f"{row['accuracy'] * 100:.2f} % of {row['frames']} frames", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", help="run directory holding final.pt")
    what.add_argument("--bundle", help="a bundle directory to check as it stands (no export)")
    ap.add_argument("--version", help="the version the bundle would ship as (with --run)")
    ap.add_argument("--name", default="fer-vgg-s")
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz): Validation is carved from its Training rows")
    ap.add_argument("--out", required=True, help="working directory, outside the repository")
    ap.add_argument("--cpus", default="Haswell", help="qemu x86 CPU models to check besides the host ('' for none)")
    ap.add_argument("--min-int8", type=float, default=0.72)
    ap.add_argument("--max-gap", type=float, default=0.3, help="points int8 may lose against float32")
    ap.add_argument("--flip-tta", choices=("auto", "off"), default="auto",
                    help="with --run: fer_train.export's word on flip TTA (off where two passes miss the speed target)")
    ap.add_argument("--per-class", action="store_true",
                    help="also run the per-class checks (x86 CPU classes, arm64) with the candidate bundle")
    ap.add_argument("--frames", type=int, metavar="N", default=None,
                    help="also report whole-frame accuracy on N frames of Validation faces (0: all), beside the verdict")
    ap.add_argument("--jobs", type=int, default=2, help="agent eval passes run side by side (default 2)")
    ap.add_argument("--fresh", action="store_true",
                    help="export and run every pass again, even those kept in OUT from an earlier check of the same inputs")
    a = ap.parse_args(argv)
    if a.jobs < 1:
        raise SystemExit(f"release_check: --jobs {a.jobs} must be at least 1")
    if a.frames is not None and a.frames < 0:
        raise SystemExit(f"release_check: --frames {a.frames} is negative (0 means every Validation face)")
    # The steps run from training/, so every path is made absolute against the caller's directory first.
    out = Path(a.out).expanduser().resolve()
    data = str(Path(a.data).expanduser().resolve())
    py = [sys.executable, "-m"]
    env_cwd = ROOT / "training"
    report, csv = out / "report", out / "validation.csv.gz"
    if a.bundle:
        bundle = Path(a.bundle).expanduser().resolve()
        if not (bundle / "manifest.json").is_file():
            raise SystemExit(f"release_check: {bundle} has no manifest.json")
        out.mkdir(parents=True, exist_ok=True)
    else:
        if not a.version:
            raise SystemExit("release_check: --run needs --version (the version the bundle would ship as)")
        final = Path(a.run).expanduser().resolve() / "final.pt"
        if not final.is_file():
            raise SystemExit(f"release_check: {final} does not exist yet (the run has not ended)")
        out.mkdir(parents=True, exist_ok=True)
        bundle = out / "bundle"
        export = [*py, "fer_train.export", "--checkpoint", str(final), "--out", str(bundle), "--name", a.name,
                  "--version", a.version, "--int8-data", data, "--flip-tta", a.flip_tta, "--force"]
        # What the export below was made from: the same again keeps it (its bytes, so the memo's keys, stay the same).
        made_from = {"checkpoint": tree_sha256(final), "data": tree_sha256(Path(data)), "export": export[2:]}
        marker = out / "bundle.export.json"
        kept = json.loads(marker.read_text()) if marker.is_file() else {}
        # ... and only as it was written: a bundle changed since (requantized in place, say) is exported again
        if (not a.fresh and kept.get("made_from") == made_from and (report / "summary.json").is_file()
                and (bundle / "manifest.json").is_file() and kept.get("bundle") == tree_sha256(bundle)):
            print(f"release_check: {bundle} is already the export of this final.pt; kept", file=sys.stderr)
        else:
            marker.unlink(missing_ok=True)
            subprocess.run(export, cwd=env_cwd, check=True)
            subprocess.run([*py, "fer_train.evaluate", "--checkpoint", str(final), "--bundle", str(bundle), "--data",
                            data, "--usage", "Validation", "--out", str(report)], cwd=env_cwd, check=True)
            # Again with the Validation report, as a release is exported: the same bytes, now carrying the figures
            # that `model.flip_tta: auto` reads, so the bundle runs by default as its release would.
            subprocess.run([*export, "--report", str(report)], cwd=env_cwd, check=True)
            marker.write_text(json.dumps({"made_from": made_from, "bundle": tree_sha256(bundle)}))
    subprocess.run([*py, "fer_train.split", "--data", data, "--usage", "Validation", "--out", str(csv)], cwd=env_cwd, check=True)
    memo = Memo(out / "memo", {"bundle": tree_sha256(bundle), "split": tree_sha256(csv), "agent": agent_identity()},
                read=not a.fresh)
    # The passes run side by side, the emulated ones (the longest) first: on 2 cores the agent's eval runs one
    # inference thread (its default leaves a core free), so two passes at once use the machine a serial check idles.
    # A pass that fails raises when its result is read, after the passes running beside it have finished and been kept.
    emulated = [c for c in a.cpus.split(",") if c]
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        passes = {(p, prec): pool.submit(agent_eval, bundle, csv, prec, p, memo)
                  for p in [*emulated, None] for prec in ("fp32", "int8")}
        by_default = pool.submit(agent_eval_json, bundle, csv, [], None, memo)
        scores = {p or "host": {prec: passes[(p, prec)].result() for prec in ("fp32", "int8")} for p in [None, *emulated]}
        d = by_default.result()
    # A per-class check is kept only when it passed: a failure (a qemu run killed at its bound on a busy host, say) is
    # run again rather than remembered.
    per_class = (memo.get_or_run("per-class checks", {"pass": "per-class", "tests": tree_sha256(ROOT / "dist" / "test")},
                                 lambda: per_class_check(bundle), keep=lambda r: bool(r["passes"]))
                 if a.per_class else None)
    v = verdict(scores, a.min_int8, a.max_gap, per_class)
    # As the agent runs it by default on this host (precision and flip TTA as `auto` decides them here): what a rule
    # compares against the bundled default's own figure, reported beside the verdict, not part of it.
    v["as_run_by_default"] = {k: d[k] for k in ("accuracy", "precision", "flip_tta")}
    print(f"host as run by default ({d['precision']}{' + flip TTA' if d['flip_tta'] else ''}): "
          f"{d['accuracy'] * 100:.2f} % of {d['n']}", file=sys.stderr)
    if a.bundle:  # the bundle's own figures, Validation only: this check reads no PublicTest figure
        metrics = json.loads((bundle / "manifest.json").read_text()).get("training", {}).get("metrics", {})
        v["python_report"] = {k: x for k, x in metrics.items() if k.startswith("validation_")} or None
    else:
        v["python_report"] = json.loads((report / "summary.json").read_text())["metrics"]
    if a.frames is not None:
        frames = out / "frames"
        shutil.rmtree(frames, ignore_errors=True)
        made = subprocess.run([sys.executable, str(ROOT / "training" / "tools" / "make_frame_set.py"), "--data", data,
                               "--usage", "Validation", "--seed", "4", "--count", str(a.frames), "--out", str(frames)],
                              capture_output=True, text=True, check=False)
        v["frames"] = (frames_report(bundle, frames) if made.returncode == 0
                       else {"error": f"make_frame_set.py failed: {made.stderr[-2000:]}"})
    print(json.dumps(v))
    return 0 if v["passes"] else 1


if __name__ == "__main__":
    sys.exit(main())
