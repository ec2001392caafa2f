"""tools/resume_run.sh: a long run starts in the background, in a session of its own, at the lowest priority, and
that priority holds against other sessions' work where the kernel groups scheduling by session (autogroup). Run on
a copy of the script with a stand-in python3 that only sleeps, so no training starts."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


def _resume_run(tmp_path: Path, stand_in: str):
    """A copy of resume_run.sh with `stand_in` as python3 (so no training starts); returns a runner for it."""
    tools = tmp_path / "training" / "tools"
    tools.mkdir(parents=True)
    shutil.copy(TRAINING / "tools" / "resume_run.sh", tools)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "python3").write_text(stand_in)
    (bin_ / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "FER_RUNS": str(tmp_path / "runs")}
    return lambda *args: subprocess.run(["bash", str(tools / "resume_run.sh"), *args], env=env, capture_output=True,
                                        text=True, timeout=60)


def test_the_run_gets_its_own_session_at_the_lowest_priority_and_a_second_start_is_refused(tmp_path):
    # the stand-in keeps resume_run's command line (pgrep finds the run by it) and sleeps
    resume_run = _resume_run(tmp_path, '#!/bin/bash\nexec -a "python3 $*" sleep 60\n')
    r = resume_run("tiny")
    assert r.returncode == 0, r.stderr
    m = re.search(r"\(pid (\d+), log: (\S+)\)", r.stdout)
    assert m, r.stdout
    pid = int(m.group(1))
    try:
        assert m.group(2) == str(tmp_path / "runs" / "tiny" / "train.log")
        assert "--config configs/tiny.json --out runs/tiny" in r.stdout
        assert os.getsid(pid) == pid != os.getsid(0), "the run is not in a session of its own"
        # setsid, nohup and nice exec one another in turn: wait (with a deadline) for the chain to reach python3
        deadline = time.monotonic() + 20
        while "python3 -m fer_train.train" not in Path(f"/proc/{pid}/cmdline").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
        if AUTOGROUP.is_file() and AUTOGROUP.read_text().strip() == "1":
            theirs = Path(f"/proc/{pid}/autogroup").read_text().split()
            # the kernel shows nothing for its default group: where no setsid came between boot and this test (a CI
            # runner's process tree), this process is in it, and the run must still have left it
            ours = Path("/proc/self/autogroup").read_text().split()
            assert theirs and theirs[-1] == "19", (theirs, ours)
            assert not ours or theirs[0] != ours[0], (theirs, ours)
            assert not ours or ours[-1] != "19", "resume_run lowered the caller's own group"
        again = resume_run("tiny")
        assert again.returncode == 0 and "already running" in again.stdout, again.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if not (AUTOGROUP.is_file() and AUTOGROUP.read_text().strip() == "1"):
        pytest.skip("autogroup scheduling is off here: the session's priority was not checked (the rest was)")


def test_a_run_that_has_ended_is_not_resumed_unless_asked_to_train_on(tmp_path):
    started = tmp_path / "started"
    # the stand-in records its arguments instead of training
    resume_run = _resume_run(tmp_path, f'#!/bin/bash\necho "$*" >> {started}\n')
    run = tmp_path / "runs" / "done"
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(b"x")
    (run / "final.pt").write_bytes(b"x")
    r = resume_run("done")
    assert r.returncode == 0, r.stderr
    assert "has ended" in r.stdout and "final.pt" in r.stdout, r.stdout
    assert not started.exists(), started.read_text()
    on = resume_run("done", "--set", "epochs=300")
    assert on.returncode == 0 and "--resume --set epochs=300" in on.stdout, on.stdout
    deadline = time.monotonic() + 20  # the stand-in runs in the background: wait for it, with a deadline
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "fer_train.train --out runs/done --resume --set epochs=300" in started.read_text()
