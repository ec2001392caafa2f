"""A run's shipping rule judged clause by clause from what its release job wrote (tools/release_job.py), so the
decision is a command's output, not a reading of logs. The clauses are run kd-mixup-m's (training/README.md, with its
epoch-11 and epoch-28 amendments), with their bars as arguments:

    python3 training/tools/release_rule.py --out ~/.cache/fer-edge/release/kd-mixup-m --bundled-default 0.7563

1. accuracy: release_check's verdict passes (int8 on Validation at or over its bar and within its gap of float32, on
   this host and each emulated class, and the per-class checks).
2. speed, on the class the clause names (--speed-class; the bench must have run there): if int8 with flip TTA reaches
   --speed-bar times human's faces/s, the bundle may keep `runtime.flip_tta` auto and runs as `auto` decides; if not,
   it must be exported `off`, and int8 alone must reach the bar.
3. against the bundled default: the candidate's Validation figure as the agent runs it by default, plus the
   cross-fitted gain of calibration if the calibrated export ships, at least --bundled-default (that bundle's own
   figure as the agent runs it; uncalibrated, so no gain on its side).
4. calibration (the epoch-28 amendment): the calibrated export ships instead if every form it runs by default gains
   at least --min-gain points cross-fitted and its per-class checks pass (OUT/verdict-cal.txt).

The last line is JSON: every clause with its figures, and "ship": "calibrated", "uncalibrated" or null. Exit 0 when
the candidate ships, 1 when the rule says it does not, 2 when something it needs is missing. Reads no PublicTest figure.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HUMAN, OURS, FLIP = "human-tfjs-wasm", "ours-onnxruntime", "ours-onnxruntime-flip"


class Missing(Exception):
    """Something the rule reads is not there (yet), or not whole (not JSON): the message names it."""


def last_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise Missing(f"{path} does not exist (has the release job's step that writes it finished?)")
    lines = path.read_text(errors="replace").strip().splitlines()
    try:
        last = json.loads(lines[-1])
        if not isinstance(last, dict):
            raise Missing(f"{path}'s last line is not a JSON object")
        return last
    except (IndexError, json.JSONDecodeError) as e:
        raise Missing(f"{path} does not end with a JSON verdict ({e})") from e


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise Missing(f"{path} is not JSON ({e})") from e


def speed_ratios(bench: dict[str, Any]) -> dict[str, Any]:
    """faces/s of ours (as `auto` runs it without flip TTA) and ours with flip TTA over human's model, at the largest
    batch the bench ran, and the CPU class it ran on."""
    rows = bench["classifier"]["speed"]
    top = max(r["batch"] for r in rows)
    at = {r["model"]: r["facesPerS"] for r in rows if r["batch"] == top}
    missing = [m for m in (HUMAN, OURS, FLIP) if m not in at]
    if missing:
        raise Missing(f"the bench has no {missing[0]} row at batch {top}")
    return {"batch": top, "cpu_class": bench["environment"]["cpuClass"]["name"], "int8_x": at[OURS] / at[HUMAN],
            "int8_flip_x": at[FLIP] / at[HUMAN]}


def default_forms(word: str) -> list[str]:
    """The forms a bundle with this `runtime.flip_tta` word can run by default on some CPU class: int8 where it is
    faster, float32 where it is not (AVX2-only x86), each mirrored too unless the word is off."""
    return ["float32", "int8"] + ([] if word == "off" else ["float32_flip_tta", "int8_flip_tta"])


def judge(verdict: dict[str, Any], bench: dict[str, Any], word: str, calibration: dict[str, Any] | None,
          calibrated_verdict: dict[str, Any] | None, bundled_default: float, speed_bar: float, speed_class: str,
          min_gain: float) -> dict[str, Any]:
    """The rule, pure: `verdict` is release_check's on the uncalibrated export, `word` that export's runtime.flip_tta,
    `calibration` fer_train.calibrate's report, `calibrated_verdict` release_check's on the calibrated export."""
    clauses: dict[str, dict[str, Any]] = {}
    clauses["accuracy"] = {"holds": bool(verdict["passes"]), "reasons": verdict["reasons"], "scores": verdict["scores"]}
    if not isinstance(verdict["reasons"], list) or not all(isinstance(r, str) for r in verdict["reasons"]):
        raise TypeError(f"verdict.txt's 'reasons' is {verdict['reasons']!r}, not a list of strings")

    s = speed_ratios(bench)
    need = "auto" if s["int8_flip_x"] >= speed_bar else "off"
    speed = {**s, "bar": speed_bar, "word_needed": need, "word": word}
    if s["cpu_class"] != speed_class:
        speed.update(holds=False, why=f"the bench ran on {s['cpu_class']}, the clause names {speed_class}")
    elif word != need:
        speed.update(holds=False, why=f"exported with flip TTA {word}, the bench calls for {need}: run the check again "
                                      f"with --flip-tta {need}")
    else:
        ran = s["int8_flip_x"] if verdict["as_run_by_default"]["flip_tta"] else s["int8_x"]
        speed.update(holds=ran >= speed_bar, as_run_by_default_x=ran)
    clauses["speed"] = speed

    default = verdict["as_run_by_default"]
    form = ("int8" if default["precision"] == "int8" else "float32") + ("_flip_tta" if default["flip_tta"] else "")
    cal: dict[str, Any] = {"holds": False, "min_gain": min_gain}
    if calibration is None:
        cal["why"] = "no calibration report"
    else:
        gains = {f: calibration["cross_fitted_gain_points"][f]["mean"] for f in default_forms(word)}
        per_class = (calibrated_verdict or {}).get("per_class") or {}
        cal.update(gains=gains, per_class_passes=per_class.get("passes"))
        short = [f for f, g in gains.items() if g < min_gain]
        if short:
            cal["why"] = f"{', '.join(short)} gain less than {min_gain} points cross-fitted"
        elif calibrated_verdict is None:
            cal["why"] = "the calibrated export's per-class checks have not run (no verdict-cal.txt)"
        elif not per_class.get("passes"):
            cal["why"] = "the calibrated export fails its per-class checks"
        else:
            cal["holds"] = True
    clauses["calibration"] = cal

    gain = cal["gains"][form] / 100 if cal["holds"] else 0.0
    estimate = default["accuracy"] + gain
    clauses["against_bundled_default"] = {
        "holds": estimate >= bundled_default, "form": form, "as_run_by_default": default["accuracy"],
        "cross_fitted_gain": gain, "estimate": estimate, "bundled_default": bundled_default}
    ships = all(clauses[c]["holds"] for c in ("accuracy", "speed", "against_bundled_default"))
    return {"ship": ("calibrated" if cal["holds"] else "uncalibrated") if ships else None, "clauses": clauses}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the release job's folder")
    ap.add_argument("--bundled-default", type=float, required=True,
                    help="the bundled default's Validation figure as the agent runs it (0-1; 1.5.1: 0.7563)")
    ap.add_argument("--speed-bar", type=float, default=3.0, help="times human's faces/s (default 3)")
    ap.add_argument("--speed-class", default="x86-avx512-vnni", help="the CPU class the speed clause names")
    ap.add_argument("--min-gain", type=float, default=0.3, help="cross-fitted points every default form must gain")
    a = ap.parse_args(argv)
    if not 0 <= a.bundled_default <= 1:
        raise SystemExit(f"release_rule: --bundled-default {a.bundled_default} is not a fraction in [0, 1] (75.63 % is 0.7563)")
    out = Path(a.out).expanduser()
    try:
        verdict = last_json(out / "verdict.txt")
        bench_file = out / "bench" / "bench.json"
        if not bench_file.is_file():
            raise Missing(f"{bench_file} does not exist (the release job's bench step writes it)")
        manifest = out / "bundle" / "manifest.json"
        if not manifest.is_file():
            raise Missing(f"{manifest} does not exist (release_check --run exports it)")
        word = read_json(manifest).get("runtime", {}).get("flip_tta", "auto")
        cal_file = out / "calibration.json"
        calibration = read_json(cal_file) if cal_file.is_file() else None
        calibrated = last_json(out / "verdict-cal.txt") if (out / "verdict-cal.txt").is_file() else None
        result = judge(verdict, read_json(bench_file), word, calibration, calibrated, a.bundled_default,
                       a.speed_bar, a.speed_class, a.min_gain)
    except Missing as e:
        print(f"release_rule: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, AttributeError) as e:  # a file of another shape (an older tool's, a hand-edited one)
        what = f"lacks the key {e}" if isinstance(e, KeyError) else f"holds a value of another type ({e})"
        print(f"release_rule: a file in {out} {what} where the rule reads it (verdict.txt, bench/bench.json, "
              f"bundle/manifest.json, calibration.json, verdict-cal.txt)", file=sys.stderr)
        return 2
    for name, c in result["clauses"].items():
        figures = {k: v for k, v in c.items() if k not in ("holds", "why", "reasons", "scores")}
        why = c.get("why") or "; ".join(c.get("reasons", []))
        print(f"{name}: {'holds' if c['holds'] else 'does not hold'}{f' ({why})' if why else ''} {json.dumps(figures)}",
              file=sys.stderr)
    print(f"ship: {result['ship'] or 'no'}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["ship"] else 1


if __name__ == "__main__":
    sys.exit(main())
