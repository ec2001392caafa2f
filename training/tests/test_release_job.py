"""tools/release_job.py: the release steps as one job that resumes where it stopped. Stand-in steps (small Python
commands) show the order, the skipping of finished steps, the stop at a failed one and the resume there, and that
another final.pt runs everything again; the real step list is checked for what it hands each tool."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import synthetic_faces, write_fer_csv

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING / "tools"))

from release_job import Step, release_steps, run_steps, verdict_printed, wait_for_final  # noqa: E402


def appender(record: Path, word: str, rc: int = 0) -> list[str]:
    return [sys.executable, "-c", f"open({str(record)!r}, 'a').write({word + ' '!r}); raise SystemExit({rc})"]


def test_finished_steps_are_skipped_and_a_failed_one_is_where_the_job_resumes(tmp_path):
    record, state, said = tmp_path / "record", tmp_path / "steps", []
    flaky = tmp_path / "flaky-fixed"
    # "check" fails until the flag file exists, like a step killed when a session ended
    check = [sys.executable, "-c", f"import os; open({str(record)!r}, 'a').write('check '); "
                                   f"raise SystemExit(0 if os.path.exists({str(flaky)!r}) else 1)"]
    steps = [Step("build", appender(record, "build"), always=True), Step("export", appender(record, "export")),
             Step("check", check), Step("calibrate", appender(record, "calibrate"))]
    assert run_steps(steps, state, "sha-a", said.append) == 1
    assert record.read_text().split() == ["build", "export", "check"]
    assert "check did not finish (exit 1" in said[-1] and "resume here" in said[-1]
    flaky.touch()
    assert run_steps(steps, state, "sha-a", said.append) == 0
    # the build runs every time; export is not redone; check is retried; calibrate runs for the first time
    assert record.read_text().split() == ["build", "export", "check", "build", "check", "calibrate"]
    assert any("export: done before, skipped" in s for s in said)
    record.write_text("")
    assert run_steps(steps, state, "sha-a", said.append) == 0
    assert record.read_text().split() == ["build"]
    # another final.pt (another hash) or another command: done again
    assert run_steps(steps, state, "sha-b", said.append) == 0
    assert record.read_text().split() == ["build", "build", "export", "check", "calibrate"]
    record.write_text("")
    steps[3] = Step("calibrate", [*appender(record, "calibrate"), "--repeats=20"])
    assert run_steps(steps, state, "sha-b", said.append) == 0
    assert record.read_text().split() == ["build", "calibrate"]
    # a step done again makes every later one run again too: they may read what it rewrote
    record.write_text("")
    steps[1] = Step("export", [*appender(record, "export"), "--margin=0.1"])
    assert run_steps(steps, state, "sha-b", said.append) == 0
    assert record.read_text().split() == ["build", "export", "check", "calibrate"]


def test_a_step_with_a_log_is_judged_by_its_text(tmp_path):
    log = tmp_path / "out" / "verdict.txt"
    verdict = '{"passes": false, "reasons": ["host: int8 71.90 % is below 75.5 %"]}'
    # release_check exits 1 on a verdict that does not pass: finished all the same, the verdict is written
    step = Step("release-check", [sys.executable, "-c", f"print('host int8: 71.90 %'); print({verdict!r}); exit(1)"],
                log=log, finished=verdict_printed)
    assert run_steps([step], tmp_path / "steps", "sha", lambda _: None) == 0
    assert log.read_text().strip().splitlines()[-1] == verdict
    # one that died before its verdict (a traceback, a kill) did not finish
    died = Step("release-check", [sys.executable, "-c", "print('host fp32: 72.1 %'); exit(1)"], log=log,
                finished=verdict_printed)
    assert run_steps([died], tmp_path / "steps2", "sha", lambda _: None) == 1
    assert not verdict_printed(-9, "") and not verdict_printed(1, "Traceback ...\nSystemExit: no qemu")
    # release_rule's last line: a judgement that does not ship is finished too
    assert verdict_printed(1, 'speed: does not hold\n{"ship": null, "clauses": {}}') and not verdict_printed(0, "[1]")


def test_waiting_ends_when_final_pt_exists_and_training_has_stopped(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    naps: list[float] = []
    asked: list[bool] = []

    def sleep(s: float) -> None:  # time passes: training writes final.pt after the third look
        naps.append(s)
        if len(naps) == 3:
            (run / "final.pt").write_bytes(b"x")

    def alive(_run: Path) -> bool:  # still running for two looks after final.pt appears (writing, then exiting)
        asked.append(len(asked) >= 2)
        return not asked[-1]

    wait_for_final(run, poll_s=7, alive=alive, say=lambda _: None, sleep=sleep)
    assert naps == [7] * 5 and asked == [False, False, True]
    naps.clear()
    wait_for_final(run, poll_s=7, alive=lambda _: False, say=lambda _: None, sleep=sleep)
    assert naps == []


def test_the_release_steps_hand_each_tool_the_run_and_read_no_public_test(tmp_path):
    a = argparse.Namespace(run=str(tmp_path / "runs" / "kd"), out=str(tmp_path / "rel"), data="fer.csv.gz",
                           name="fer-vgg-m", version="1.6.0", min_int8=0.7547, flip_tta="off", cpus="Haswell",
                           bundled_default=0.7563)
    steps = {s.name: s for s in release_steps(a)}
    assert list(steps) == ["build", "bench-export", "bench", "release-check", "calibrate", "calibrated-export",
                           "calibrated-check", "rule"]
    final = str(tmp_path / "runs" / "kd" / "final.pt")
    assert final in steps["bench-export"].cmd and final in steps["calibrate"].cmd
    bench = steps["bench"].cmd
    assert "--no-accuracy" in bench and bench[bench.index("--model") + 1] == str(tmp_path / "rel" / "bench-bundle")
    assert bench[bench.index("--out") + 1] == str(tmp_path / "rel" / "bench"), "release_rule reads OUT/bench/bench.json"
    check = steps["release-check"].cmd
    for flag, value in (("--min-int8", "0.7547"), ("--flip-tta", "off"), ("--cpus", "Haswell"), ("--frames", "0"),
                        ("--out", str(tmp_path / "rel")), ("--version", "1.6.0")):
        assert check[check.index(flag) + 1] == value, flag
    assert "--per-class" in check
    cal = steps["calibrated-export"].cmd
    assert cal[cal.index("--checkpoint") + 1] == str(tmp_path / "rel" / "calibrated.pt") and "--force" in cal
    calcheck = steps["calibrated-check"].cmd
    assert calcheck[calcheck.index("--bundle") + 1] == str(tmp_path / "rel" / "bundle-cal") and "--per-class" in calcheck
    assert steps["calibrated-check"].log == tmp_path / "rel" / "verdict-cal.txt"
    rule = steps["rule"].cmd
    assert rule[rule.index("--bundled-default") + 1] == "0.7563" and rule[rule.index("--out") + 1] == str(tmp_path / "rel")
    assert not any("PublicTest" in x for s in steps.values() for x in s.cmd)


def test_the_release_steps_export_and_calibrate_a_real_run(tmp_path, tiny_checkpoint):
    # The Python steps' command lines, run for real on a tiny run (the bench and release_check have their own tests).
    images, labels = synthetic_faces(300, seed=5)
    data = write_fer_csv(tmp_path / "fer.csv", images, labels, ["Training"] * 300)
    (tmp_path / "run").mkdir()
    shutil.copy(tiny_checkpoint, tmp_path / "run" / "final.pt")
    a = argparse.Namespace(run=str(tmp_path / "run"), out=str(tmp_path / "rel"), data=str(data), name="fer-vgg-m",
                           version="1.6.0", min_int8=0.0, flip_tta="off", cpus="", bundled_default=0.0)
    steps = {s.name: s for s in release_steps(a)}
    # release_check's own export stands in for its step here: calibration reads that bundle
    stand_in = Step("release-check", [*steps["bench-export"].cmd[:-3], "--out", str(tmp_path / "rel" / "bundle")],
                    cwd=TRAINING)
    assert stand_in.cmd[stand_in.cmd.index("--checkpoint") + 1].endswith("final.pt")
    todo = [steps["bench-export"], stand_in, steps["calibrate"], steps["calibrated-export"]]
    assert run_steps(todo, tmp_path / "rel" / "steps", "sha", lambda _: None) == 0
    rel = tmp_path / "rel"
    bench = json.loads((rel / "bench-bundle" / "manifest.json").read_text())
    assert (bench["name"], bench["version"]) == ("fer-vgg-m", "1.6.0")
    report = json.loads((rel / "calibration.json").read_text())
    assert report, "calibration wrote no report"
    cal = json.loads((rel / "bundle-cal" / "manifest.json").read_text())
    assert cal["runtime"]["flip_tta"] == "off" and "output_calibration" in cal["training"], cal["training"].keys()


def test_a_bar_given_in_percent_is_refused_before_anything_runs(tmp_path):
    r = subprocess.run([sys.executable, str(TRAINING / "tools" / "release_job.py"), "--run", str(tmp_path), "--out",
                        str(tmp_path / "out"), "--data", "d", "--name", "n", "--version", "1.0.0", "--min-int8", "75.47",
                        "--flip-tta", "off", "--bundled-default", "0.7563"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--min-int8 75.47 is not a fraction" in r.stderr and not (tmp_path / "out").exists()
