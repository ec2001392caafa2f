"""A run's release steps as one unattended job that survives being stopped: started again with the same arguments, it
skips every step already done for the same final.pt and resumes at the first one that is not (training/README.md,
"The release, in one go"). Started with --wait while the run is still training, it sleeps until the run has ended.

    nohup python3 training/tools/release_job.py --run ~/.cache/fer-edge/runs/kd-mixup-m --out OUT \\
        --data ../shared/datasets/fer2013/fer2013.csv.gz --name fer-vgg-m --version 1.6.0 --min-int8 0.7547 \\
        --flip-tta off --bundled-default 0.7563 --wait >> OUT/release.log 2>&1 &

The steps, each writing into OUT: the agent's build; a bench export (OUT/bench-bundle) and the classifier bench on it
without PublicTest scoring (OUT/bench.txt, OUT/bench/bench.json); release_check.py with --per-class --frames 0
(OUT/verdict.txt: its last line is the verdict; a verdict that does not pass is still a finished step, and
release_check keeps its own passes in OUT/memo, so a stop inside it loses at most one pass); calibration of final.pt
on Validation (OUT/calibration.json), the calibrated export (OUT/bundle-cal) and its per-class checks
(OUT/verdict-cal.txt); then release_rule.py's judgement of every clause (OUT/rule.txt). A step that fails stops the
job, naming the step and its log. What is left to a person (npm test with the candidate in place, then PublicTest
once) is not a step here. Nothing here reads PublicTest.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from release_check import tree_sha256

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "training"


@dataclass(frozen=True)
class Step:
    name: str
    cmd: list[str]
    cwd: Path = ROOT
    #: where stdout goes (stderr too); None: the job's own output
    log: Path | None = None
    #: whether the step finished, from its exit status and log text; default: exit status 0
    finished: Callable[[int, str], bool] = field(default=lambda rc, _text: rc == 0)
    #: run every time (the build: cheap, and what the memo keys on)
    always: bool = False


def run_steps(steps: list[Step], state: Path, made_from: str, say: Callable[[str], None] = print) -> int:
    """Runs `steps` in order. A step whose marker in `state` records the same command and the same `made_from` (the
    checkpoint's hash) is done and skipped, unless a step before it ran again (it may read what that one rewrote);
    the others run, and a finished one writes its marker. Returns 0 when every step is done, else 1 at the first that
    did not finish (its marker is left absent, so the next start retries it)."""
    state.mkdir(parents=True, exist_ok=True)
    redone = False
    for i, step in enumerate(steps, 1):
        marker = state / f"{i:02d}-{step.name}.json"
        want = {"cmd": step.cmd, "made_from": made_from}
        if not step.always and not redone and marker.is_file() and json.loads(marker.read_text()) == want:
            say(f"[{i}/{len(steps)}] {step.name}: done before, skipped")
            continue
        marker.unlink(missing_ok=True)
        redone = redone or not step.always
        say(f"[{i}/{len(steps)}] {step.name}: {' '.join(step.cmd)}" + (f" > {step.log}" if step.log else ""))
        start = time.monotonic()
        if step.log:
            step.log.parent.mkdir(parents=True, exist_ok=True)
            with open(step.log, "w") as fh:
                rc = subprocess.run(step.cmd, cwd=step.cwd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
            text = step.log.read_text(errors="replace")
        else:
            rc, text = subprocess.run(step.cmd, cwd=step.cwd, check=False).returncode, ""
        minutes = (time.monotonic() - start) / 60
        if not step.finished(rc, text):
            say(f"[{i}/{len(steps)}] {step.name} did not finish (exit {rc}, {minutes:.1f} min)"
                + (f"; see {step.log}" if step.log else "") + ". Start the job again to resume here.")
            return 1
        tmp = marker.with_name(marker.name + ".tmp")  # whole or absent, even if the job is killed here
        tmp.write_text(json.dumps(want))
        tmp.replace(marker)
        say(f"[{i}/{len(steps)}] {step.name}: finished in {minutes:.1f} min")
    say("every step is done")
    return 0


def verdict_printed(_rc: int, text: str) -> bool:
    """release_check (release_rule) finished if it printed its verdict (its exit status is 1 for a verdict that does
    not pass)."""
    lines = text.strip().splitlines()
    try:
        last = json.loads(lines[-1]) if lines else None
        return isinstance(last, dict) and ("passes" in last or "ship" in last)
    except (json.JSONDecodeError, TypeError):
        return False


def training_alive(run: Path) -> bool:
    """Whether a fer_train.train process is writing into `run` (matched by the run folder's name in its --out)."""
    r = subprocess.run(["pgrep", "-f", f"fer_train.train .*--out (\\S*/)?{run.name}/?( |$)"], capture_output=True,
                       check=False)
    return r.returncode == 0


def wait_for_final(run: Path, poll_s: float = 60, alive: Callable[[Path], bool] = training_alive,
                   say: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> None:
    """Returns once `run`/final.pt exists and no training process writes into the run any more."""
    said = False
    while not (run / "final.pt").is_file() or alive(run):
        if not said:
            say(f"waiting for {run / 'final.pt'} (every {poll_s:g} s)")
            said = True
        sleep(poll_s)


def release_steps(a: argparse.Namespace) -> list[Step]:
    run, out, data = (Path(x).expanduser().resolve() for x in (a.run, a.out, a.data))
    final, py = run / "final.pt", sys.executable
    export = [py, "-m", "fer_train.export", "--checkpoint", str(final), "--name", a.name, "--version", a.version,
              "--int8-data", str(data), "--force"]
    check = [py, str(TRAINING / "tools" / "release_check.py"), "--run", str(run), "--name", a.name, "--version",
             a.version, "--min-int8", str(a.min_int8), "--flip-tta", a.flip_tta, "--data", str(data), "--out", str(out),
             "--cpus", a.cpus, "--per-class", "--frames", "0"]
    calibrated = out / "calibrated.pt"
    return [
        Step("build", ["npm", "run", "build", "--silent"], always=True),
        # The bench gets an export of its own: the speed clause decides the flip-TTA word release_check exports with.
        Step("bench-export", [*export, "--out", str(out / "bench-bundle")], cwd=TRAINING),
        Step("bench", ["npm", "run", "bench", "--", "--only", "classifier", "--model", str(out / "bench-bundle"),
                       "--no-accuracy", "--out", str(out / "bench")], log=out / "bench.txt"),
        Step("release-check", check, log=out / "verdict.txt", finished=verdict_printed),
        Step("calibrate", [py, "-m", "fer_train.calibrate", "--checkpoint", str(final), "--data", str(data), "--bundle",
                           str(out / "bundle"), "--out", str(calibrated), "--report", str(out / "calibration.json")],
             cwd=TRAINING),
        Step("calibrated-export", [py, "-m", "fer_train.export", "--checkpoint", str(calibrated), "--out",
                                   str(out / "bundle-cal"), "--name", a.name, "--version", a.version, "--int8-data",
                                   str(data), "--flip-tta", a.flip_tta, "--force"], cwd=TRAINING),
        # The calibrated export is judged on its per-class checks alone (its Validation figures are in-sample for the
        # offsets; the cross-fitted gains decide), so no emulated passes and no bar.
        Step("calibrated-check", [py, str(TRAINING / "tools" / "release_check.py"), "--bundle", str(out / "bundle-cal"),
                                  "--data", str(data), "--out", str(out / "cal"), "--cpus", "", "--per-class",
                                  "--min-int8", "0", "--max-gap", "100"], log=out / "verdict-cal.txt",
             finished=verdict_printed),
        Step("rule", [py, str(TRAINING / "tools" / "release_rule.py"), "--out", str(out), "--bundled-default",
                      str(a.bundled_default)], log=out / "rule.txt", finished=verdict_printed),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="the run's folder (final.pt)")
    ap.add_argument("--out", required=True, help="where every step writes, outside the repository")
    ap.add_argument("--data", required=True, help="FER2013 CSV(.gz)")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--min-int8", type=float, required=True, help="the run's int8 bar on Validation (0-1)")
    ap.add_argument("--flip-tta", choices=("auto", "off"), required=True, help="the export's word, as release_check's")
    ap.add_argument("--cpus", default="Haswell", help="release_check's emulated x86 classes")
    ap.add_argument("--bundled-default", type=float, required=True,
                    help="the bundled default's Validation figure as the agent runs it, for release_rule.py (0-1)")
    ap.add_argument("--wait", action="store_true", help="wait for the run to end (final.pt, no training process)")
    ap.add_argument("--poll", type=float, default=60, help="seconds between looks while waiting")
    a = ap.parse_args(argv)
    for flag, x in (("--min-int8", a.min_int8), ("--bundled-default", a.bundled_default)):
        if not 0 <= x <= 1:  # a percentage here would make every rule fail (or pass) after hours of work
            raise SystemExit(f"release_job: {flag} {x} is not a fraction in [0, 1] (75.47 % is 0.7547)")
    run = Path(a.run).expanduser().resolve()
    say = lambda s: print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {s}", flush=True)  # noqa: E731
    if a.wait:
        wait_for_final(run, a.poll, say=say)
    elif not (run / "final.pt").is_file():
        raise SystemExit(f"release_job: {run / 'final.pt'} does not exist yet (the run has not ended; --wait waits)")
    out = Path(a.out).expanduser().resolve()
    return run_steps(release_steps(a), out / "steps", tree_sha256(run / "final.pt"), say)


if __name__ == "__main__":
    sys.exit(main())
