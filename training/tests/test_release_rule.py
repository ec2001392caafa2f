"""tools/release_rule.py: run kd-mixup-m's rule judged clause by clause from the release job's outputs. Each clause is
shown to fail on its own, with figures shaped like the ones the tools write (the epoch-9 bench's ratios among them),
and the command reads a release folder and says what is missing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

TRAINING = Path(__file__).resolve().parents[1]
TOOL = TRAINING / "tools" / "release_rule.py"
sys.path.insert(0, str(TRAINING / "tools"))

from release_rule import judge  # noqa: E402


def verdict(passes: bool = True, default: float = 0.7620, flip: bool = False) -> dict[str, Any]:
    return {"passes": passes, "reasons": [] if passes else ["host: int8 75.30 % is below 75.5 %"],
            "scores": {"host": {"fp32": 0.763, "int8": 0.762}},
            "as_run_by_default": {"accuracy": default, "precision": "int8", "flip_tta": flip}}


def bench(int8: float = 659, flip: float = 324, human: float = 176, cls: str = "x86-avx512-vnni") -> dict[str, Any]:
    rows = [{"model": m, "batch": b, "facesPerS": f * (0.5 if b == 8 else 1)}
            for m, f in (("ours-onnxruntime", int8), ("ours-onnxruntime-flip", flip), ("human-tfjs-wasm", human))
            for b in (8, 64)]
    return {"environment": {"cpuClass": {"name": cls}}, "classifier": {"speed": rows}}


def calibration(gain: float = 0.5, **forms: float) -> dict[str, Any]:
    names = ("float32", "int8", "float32_flip_tta", "int8_flip_tta")
    return {"cross_fitted_gain_points": {f: {"mean": forms.get(f, gain)} for f in names}}


CAL_OK = {"passes": True, "per_class": {"passes": True}}


def rule(v=None, b=None, word="off", cal=None, calv=None, default=0.7563) -> dict[str, Any]:
    return judge(v or verdict(), b or bench(), word, cal, calv, default, 3.0, "x86-avx512-vnni", 0.3)


def test_a_candidate_that_clears_every_clause_ships_calibrated_or_not():
    r = rule(cal=calibration(0.5), calv=CAL_OK)
    assert r["ship"] == "calibrated", r
    against = r["clauses"]["against_bundled_default"]
    assert against["form"] == "int8" and abs(against["estimate"] - (0.7620 + 0.005)) < 1e-9
    speed = r["clauses"]["speed"]
    assert speed["word_needed"] == "off" and abs(speed["as_run_by_default_x"] - 659 / 176) < 1e-9 and speed["batch"] == 64
    # no calibration report, or gains under the bar: the uncalibrated export ships, on its own figure
    assert rule()["ship"] == "uncalibrated"
    r = rule(cal=calibration(0.5, float32=0.2), calv=CAL_OK)
    assert r["ship"] == "uncalibrated" and "float32 gain less than 0.3" in r["clauses"]["calibration"]["why"]
    assert r["clauses"]["against_bundled_default"]["cross_fitted_gain"] == 0.0


def test_each_clause_fails_on_its_own():
    assert rule(v=verdict(passes=False))["ship"] is None
    # int8 alone under 3x with the word off
    r = rule(b=bench(int8=500))
    assert r["ship"] is None and not r["clauses"]["speed"]["holds"]
    # the bench ran on another class than the clause names
    r = rule(b=bench(cls="x86-avx2"))
    assert r["ship"] is None and "ran on x86-avx2" in r["clauses"]["speed"]["why"]
    # flip TTA reaches 3x but the export said off: the check must be run again with auto
    r = rule(b=bench(int8=1400, flip=700))
    assert r["ship"] is None and "--flip-tta auto" in r["clauses"]["speed"]["why"]
    # ... and with auto, mirrored by default, the mirrored speed is what counts
    r = rule(v=verdict(flip=True), b=bench(int8=1400, flip=700), word="auto")
    assert r["ship"] == "uncalibrated" and abs(r["clauses"]["speed"]["as_run_by_default_x"] - 700 / 176) < 1e-9
    # with auto but the mirror under 3x, the word should have been off
    r = rule(v=verdict(flip=True), b=bench(int8=1400, flip=500), word="auto")
    assert r["ship"] is None and "--flip-tta off" in r["clauses"]["speed"]["why"]
    # under the bundled default's figure; a cross-fitted gain counts only when the calibrated export ships
    r = rule(v=verdict(default=0.7540))
    assert r["ship"] is None and not r["clauses"]["against_bundled_default"]["holds"]
    assert rule(v=verdict(default=0.7540), cal=calibration(0.5), calv=CAL_OK)["ship"] == "calibrated"
    failed = {"passes": False, "per_class": {"passes": False}}
    r = rule(v=verdict(default=0.7540), cal=calibration(0.5), calv=failed)
    assert r["ship"] is None and "fails its per-class checks" in r["clauses"]["calibration"]["why"]
    assert "have not run" in rule(cal=calibration(0.5))["clauses"]["calibration"]["why"]
    # with the word auto, the mirrored forms must gain too
    r = rule(v=verdict(flip=True), b=bench(int8=1400, flip=700), word="auto", cal=calibration(0.5, int8_flip_tta=0.1),
             calv=CAL_OK)
    assert r["ship"] == "uncalibrated" and "int8_flip_tta" in r["clauses"]["calibration"]["why"]


def test_the_command_reads_a_release_folder_and_names_what_is_missing(tmp_path):
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path), "--bundled-default", "0.7563"],
                              capture_output=True, text=True, timeout=60)

    r = run()
    assert r.returncode == 2 and "verdict.txt does not exist" in r.stderr
    (tmp_path / "verdict.txt").write_text("host int8: 76.20 %\n" + json.dumps(verdict()) + "\n")
    assert "bench.json does not exist" in run().stderr
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "bench.json").write_text(json.dumps(bench()))
    assert "manifest.json does not exist" in run().stderr
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps({"runtime": {"flip_tta": "off"}}))
    r = run()
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["ship"] == "uncalibrated", r.stderr
    assert "speed: holds" in r.stderr and "ship: uncalibrated" in r.stderr
    (tmp_path / "calibration.json").write_text(json.dumps(calibration(0.6)))
    (tmp_path / "verdict-cal.txt").write_text(json.dumps(CAL_OK) + "\n")
    assert json.loads(run().stdout.splitlines()[-1])["ship"] == "calibrated"
    (tmp_path / "verdict.txt").write_text(json.dumps(verdict(passes=False)) + "\n")
    r = run()
    assert r.returncode == 1 and "accuracy: does not hold (host: int8 75.30 % is below 75.5 %)" in r.stderr
    (tmp_path / "verdict.txt").write_text("Traceback (most recent call last):\n")
    assert run().returncode == 2
    # a verdict of another shape, or a bar given in percent, gets a clear refusal, not a traceback
    (tmp_path / "verdict.txt").write_text('{"ok": true}\n')
    r = run()
    assert r.returncode == 2 and "lacks the key 'passes'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    # values of another type: each reaches the rule (the files exist and parse) and is named as such, not as a key
    for bad in ({**verdict(), "reasons": None}, {**verdict(passes=False), "reasons": [1]},
                {**verdict(), "as_run_by_default": "int8"}):
        (tmp_path / "verdict.txt").write_text(json.dumps(bad) + "\n")
        r = run()
        assert r.returncode == 2 and "holds a value of another type" in r.stderr, r.stderr
        assert "lacks" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "verdict.txt").write_text(json.dumps(verdict()) + "\n")
    assert run().returncode == 0
    (tmp_path / "bench" / "bench.json").write_text("{truncated")
    r = run()
    assert r.returncode == 2 and "bench.json is not JSON" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path), "--bundled-default", "75.63"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--bundled-default 75.63 is not a fraction" in r.stderr
