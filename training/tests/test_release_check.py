"""tools/release_check.py: the shipping rule's verdict (pure), and the whole check on a tiny run as the agent scores it
(export, the Validation split, `fer-agent eval` in both forms): it passes a bar the model clears and fails one it
cannot, saying why."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import synthetic_faces, write_fer_csv

TRAINING = Path(__file__).resolve().parents[1]
ROOT = TRAINING.parent
CLI = ROOT / "dist" / "agent" / "cli" / "main.js"
TOOL = TRAINING / "tools" / "release_check.py"
sys.path.insert(0, str(TRAINING / "tools"))

from release_check import Memo, frames_report, per_class_check, tree_sha256, verdict  # noqa: E402


def test_verdict_needs_the_bar_and_the_gap_on_every_place():
    ok = {"host": {"fp32": 0.731, "int8": 0.729}, "Haswell": {"fp32": 0.731, "int8": 0.730}}
    assert verdict(ok, 0.72, 0.3)["passes"]
    low = verdict({"host": {"fp32": 0.721, "int8": 0.719}}, 0.72, 0.3)
    assert not low["passes"] and low["reasons"] == ["host: int8 71.90 % is below 72.0 %"]
    gap = verdict({"host": {"fp32": 0.74, "int8": 0.73}, "Haswell": {"fp32": 0.74, "int8": 0.738}}, 0.72, 0.3)
    assert not gap["passes"] and len(gap["reasons"]) == 1 and gap["reasons"][0].startswith("host: int8 is 1.00 points below")
    assert not verdict({}, 0.72, 0.3)["passes"]
    failed = {"passes": False, "exit": 1, "skipped": [], "tail": "Nehalem: int8 differs"}
    pc = verdict(ok, 0.72, 0.3, failed)
    assert not pc["passes"] and pc["reasons"] == ["per-class checks failed (exit 1); see per_class.tail"]
    assert pc["per_class"] is failed
    assert verdict(ok, 0.72, 0.3, {**failed, "passes": True})["passes"]


def test_per_class_check_hands_the_candidate_over_and_counts_a_skip_as_a_failure(tmp_path):
    bundle = tmp_path / "bundle"

    def run(script: str) -> dict:
        return per_class_check(bundle, [sys.executable, "-c", script])

    wants = f"import os, sys; sys.exit(0 if os.environ.get('FER_CANDIDATE_MODEL') == {str(bundle)!r} else 3)"
    assert run(wants)["passes"]
    # the per-class tests' own verdict decides, exit status and all
    r = run("import sys; print('x Nehalem differs'); sys.exit(1)")
    assert not r["passes"] and r["exit"] == 1 and "Nehalem differs" in r["tail"]
    # a check that did not run (no qemu, no arm64 sysroot) does not pass a candidate
    r = run("print('- x86 Nehalem (skipped: qemu-x86_64-static is missing)'); print('1 test skipped')")
    assert not r["passes"] and r["exit"] == 0 and len(r["skipped"]) == 2


def test_the_memo_reuses_a_pass_only_for_the_same_inputs(tmp_path):
    runs: list[str] = []

    def pass_(name: str, result: dict):
        return lambda: (runs.append(name), result)[1]

    memo = Memo(tmp_path / "memo", {"bundle": "b1", "split": "s1"})
    assert memo.get_or_run("eval host", {"cpu": "host"}, pass_("a", {"accuracy": 0.75})) == {"accuracy": 0.75}
    assert memo.get_or_run("eval host", {"cpu": "host"}, pass_("b", {"accuracy": 0.1})) == {"accuracy": 0.75}
    assert runs == ["a"]
    # another pass, another bundle, or --fresh runs again
    memo.get_or_run("eval Haswell", {"cpu": "Haswell"}, pass_("c", {"accuracy": 0.74}))
    assert Memo(tmp_path / "memo", {"bundle": "b2", "split": "s1"}).get_or_run(
        "eval host", {"cpu": "host"}, pass_("d", {"accuracy": 0.7})) == {"accuracy": 0.7}
    assert Memo(tmp_path / "memo", {"bundle": "b1", "split": "s1"}, read=False).get_or_run(
        "eval host", {"cpu": "host"}, pass_("e", {"accuracy": 0.76})) == {"accuracy": 0.76}
    assert runs == ["a", "c", "d", "e"]
    # a result not worth keeping (a failed per-class check) is run again next time
    failed = {"passes": False}
    for _ in range(2):
        memo.get_or_run("per-class checks", {"pass": "per-class"}, pass_("f", failed), keep=lambda r: bool(r["passes"]))
    assert runs[-2:] == ["f", "f"]
    # the hash of a folder covers its files' names and bytes
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a").write_bytes(b"x")
    h = tree_sha256(tmp_path / "t")
    (tmp_path / "t" / "a").rename(tmp_path / "t" / "b")
    assert tree_sha256(tmp_path / "t") != h
    (tmp_path / "t" / "b").rename(tmp_path / "t" / "a")
    assert tree_sha256(tmp_path / "t") == h
    (tmp_path / "t" / "a").write_bytes(b"y")
    assert tree_sha256(tmp_path / "t") != h


def test_a_failed_frames_pass_is_reported_in_its_row_not_raised(tmp_path):
    # The frames come after hours of checks: a pass that fails must not take the verdict down with it.
    if not (CLI.is_file() and shutil.which("node")):
        pytest.skip(f"the agent is not built ({CLI}); run npm run build")
    rows = frames_report(ROOT / "agent" / "assets" / "models" / "fer-default", tmp_path / "no-such-frames")
    assert set(rows) == {"candidate", "bundled_default"}
    for who in rows.values():
        assert set(who) == {"int8_detector", "fp32_detector"}
        assert all("no-such-frames" in r["error"] for r in who.values()), who


def test_the_whole_check_on_a_tiny_run(tmp_path, tiny_checkpoint):
    if not (CLI.is_file() and shutil.which("node")):
        if os.environ.get("CI"):
            pytest.fail(f"the agent is not built ({CLI}): npm test builds it before the Python tests")
        pytest.skip(f"the agent is not built ({CLI}); run npm run build")
    images, labels = synthetic_faces(300, seed=21)
    csv = write_fer_csv(tmp_path / "fer.csv", images, labels, ["Training"] * 300)
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_checkpoint, run / "final.pt")

    log: list[str] = []

    def check(min_int8: float) -> tuple[int, dict]:
        # Paths relative to the caller's directory, as a person types them (the steps themselves run in training/).
        r = subprocess.run([sys.executable, str(TOOL), "--run", "run", "--version", "9.9.9", "--data", csv.name,
                            "--out", "out", "--cpus", "", "--min-int8", str(min_int8)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        log.append(r.stderr)
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1])

    rc, v = check(0.0)
    assert rc == 0 and v["passes"], v
    assert "reused" not in log[-1] and "kept" not in log[-1]
    host = v["scores"]["host"]
    assert set(host) == {"fp32", "int8"} and all(0 <= x <= 1 for x in host.values())
    # the form `auto` picks on this host, whichever it is, scored on the same rows
    d = v["as_run_by_default"]
    assert d["precision"] in ("fp32", "int8") and isinstance(d["flip_tta"], bool) and 0 <= d["accuracy"] <= 1
    if not d["flip_tta"]:
        assert d["accuracy"] == host[d["precision"]]
    # the bundle was exported as a release is, with its Validation report, so `auto` has the figures it reads
    manifest = json.loads((tmp_path / "out" / "bundle" / "manifest.json").read_text())
    assert "validation_accuracy_int8_flip_tta" in manifest["training"]["metrics"]
    # --flip-tta off: the release's word, which keeps auto from mirroring whatever the figures say
    r = subprocess.run([sys.executable, str(TOOL), "--run", "run", "--version", "9.9.9", "--data", csv.name, "--out", "off",
                        "--cpus", "", "--min-int8", "0", "--flip-tta", "off"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    off = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0 and off["as_run_by_default"]["flip_tta"] is False, off
    assert json.loads((tmp_path / "off" / "bundle" / "manifest.json").read_text())["runtime"]["flip_tta"] == "off"
    # The agent scored exactly the held-out tenth (30 of 300 rows), the split training never sees.
    split = (tmp_path / "out" / "validation.csv.gz")
    assert split.is_file()
    assert v["python_report"]["validation_rows"] == 30
    assert abs(v["python_report"]["validation_accuracy_int8"] - host["int8"]) <= 1 / 30 + 1e-9
    # Run again with the same OUT (a check stopped part-way, resumed): the export and every pass are kept, not redone.
    int8_made = (tmp_path / "out" / "bundle" / "model.int8.onnx").stat().st_mtime_ns
    rc, v2 = check(1.01)
    assert rc == 1 and not v2["passes"] and v2["reasons"][0].startswith("host: int8")
    assert v2["scores"] == v["scores"] and v2["as_run_by_default"] == v["as_run_by_default"]
    assert "is already the export of this final.pt" in log[-1] and log[-1].count("reused the result") == 3, log[-1]
    assert (tmp_path / "out" / "bundle" / "model.int8.onnx").stat().st_mtime_ns == int8_made
    # a bundle changed in place since its export is exported again
    (tmp_path / "out" / "bundle" / "labels.txt").write_text("changed")
    check(0.0)
    assert "is already the export" not in log[-1] and not (tmp_path / "out" / "bundle" / "labels.txt").exists()
    # another final.pt is exported and scored afresh
    ck = torch.load(tiny_checkpoint, weights_only=False)
    torch.save({**ck, "epoch": ck["epoch"] + 1}, run / "final.pt")
    check(0.0)
    assert "kept" not in log[-1] and "reused" not in log[-1], log[-1]

    # --bundle checks a bundle as it stands (a requantized one): the same agent scores, nothing exported again, and
    # only the bundle's own Validation figures beside them (those of the report --run exported it with).
    exported = (tmp_path / "out" / "bundle" / "model.int8.onnx").stat().st_mtime_ns
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", "out/bundle", "--data", csv.name, "--out", "out2",
                        "--cpus", "", "--min-int8", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    vb = json.loads(r.stdout.strip().splitlines()[-1])
    own = {k: x for k, x in manifest["training"]["metrics"].items() if k.startswith("validation_")}
    assert r.returncode == 0 and vb["scores"]["host"] == host and vb["python_report"] == own, vb
    assert not any(k.startswith("public_test") for k in manifest["training"]["metrics"]), "the rule read no PublicTest"
    assert (tmp_path / "out" / "bundle" / "model.int8.onnx").stat().st_mtime_ns == exported
    # --frames: whole frames of the Validation faces through the agent's real path, the candidate beside the bundled
    # default, each with both detector precisions; reported, not part of the verdict.
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", "out/bundle", "--data", csv.name, "--out", "out4",
                        "--cpus", "", "--min-int8", "0", "--frames", "12"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    vf = json.loads(r.stdout.strip().splitlines()[-1])
    assert r.returncode == 0 and vf["passes"], vf
    default_model = json.loads((ROOT / "agent" / "assets" / "models" / "fer-default" / "manifest.json").read_text())
    assert vf["frames"]["candidate"]["int8_detector"]["model"] == "fer-vgg-s@9.9.9"
    assert vf["frames"]["bundled_default"]["fp32_detector"]["model"] == f"{default_model['name']}@{default_model['version']}"
    for who in ("candidate", "bundled_default"):
        rows = vf["frames"][who]
        assert set(rows) == {"int8_detector", "fp32_detector"} and all(x["frames"] == 12 for x in rows.values()), rows
        # the int8 detector maps the threshold onto its own scale: proof that each row ran the precision it names
        assert rows["int8_detector"]["applied_score_threshold"] < rows["fp32_detector"]["applied_score_threshold"]
    assert len(list((tmp_path / "out4" / "frames").rglob("*.jpg"))) == 12
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", "out/bundle", "--data", csv.name, "--out", "out5",
                        "--frames", "-1"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--frames -1 is negative" in r.stderr
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", "out/bundle", "--data", csv.name, "--out", "out5",
                        "--jobs", "0"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--jobs 0 must be at least 1" in r.stderr
    r = subprocess.run([sys.executable, str(TOOL), "--bundle", "nowhere", "--data", csv.name, "--out", "out3"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "nowhere has no manifest.json" in r.stderr
