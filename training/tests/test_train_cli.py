"""The training CLI cannot mislead: a resumed run keeps its own settings (changes are printed), bad input is a
one-line error, and the mixed precision is chosen by what the device can do."""
import json

import pytest
import torch

import fer_train.precision as precision_mod
from conftest import synthetic_faces, write_fer_csv
from fer_train.train import choose_precision, main


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    imgs, labels = synthetic_faces(40, seed=5)
    return write_fer_csv(tmp_path_factory.mktemp("clidata") / "d.csv", imgs, labels, ["Training"] * 32 + ["PublicTest"] * 8)


def _args(csv, out, *extra):
    return ["--out", str(out), "--device", "cpu", "--set", f"data_csv={csv}", "--set", "ferplus_csv=null", "--set", "cache=null",
            "--set", "net={\"widths\": [4, 8]}", "--set", "batch_size=16", *extra]


def test_resume_keeps_the_runs_own_settings_and_prints_what_a_set_changes(csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(csv, out, "--set", "epochs=1", "--set", "lr=0.03", "--set", "warmup_epochs=0.5")) == 0
    capsys.readouterr()
    # Resuming with only --out: nothing falls back to the defaults (lr 0.05, warmup 2.0).
    assert main(["--out", str(out), "--resume", "--device", "cpu", "--set", "epochs=2"]) == 0
    err = capsys.readouterr().err
    assert "resume: CHANGED epochs: 1 -> 2" in err
    assert "lr" not in "".join(line for line in err.splitlines() if "CHANGED" in line)
    saved = json.loads((out / "config.json").read_text())
    assert saved["lr"] == 0.03 and saved["warmup_epochs"] == 0.5 and saved["epochs"] == 2 and saved["data_csv"] == str(csv)
    with pytest.raises(SystemExit, match="--config cannot be given too"):
        main(["--out", str(out), "--resume", "--config", str(out / "config.json")])


def test_bad_input_is_a_one_line_error(csv, tmp_path, capsys):
    with pytest.raises(SystemExit, match="--set 'epochs' needs KEY=VALUE"):
        main(_args(csv, tmp_path / "a", "--set", "epochs"))
    assert main(_args(tmp_path / "missing.csv", tmp_path / "b")) == 1
    assert "train failed: data file " in capsys.readouterr().err
    with pytest.raises(SystemExit, match="precision = 'fp8' is invalid: expected one of"):
        main(_args(csv, tmp_path / "c", "--set", "precision=fp8"))
    with pytest.raises(SystemExit, match="config: .* does not exist"):
        main(["--out", str(tmp_path / "d"), "--config", str(tmp_path / "nope.json")])


def test_precision_follows_the_device(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: False)
    assert choose_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(precision_mod, "cpu_has_bf16", lambda: True)
    assert choose_precision("auto", cpu) == "bf16"
    with pytest.raises(SystemExit, match="fp16 is for GPUs"):
        choose_precision("fp16", cpu)
    # A GPU without bf16 (T4, V100, GTX 10/20): auto takes fp16 (with a GradScaler); asking for bf16 is an error.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")
    assert choose_precision("auto", gpu) == "fp16"
    with pytest.raises(SystemExit, match="bf16 is not supported by Tesla T4"):
        choose_precision("bf16", gpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_precision("auto", gpu) == "bf16"


def test_a_checkpoint_saved_on_another_device_resumes_its_rng_state(csv, tmp_path):
    """What --resume on a GPU does to the RNG state: it must reach torch.set_rng_state as a CPU byte tensor."""
    out = tmp_path / "run"
    assert main(_args(csv, out, "--set", "epochs=1")) == 0
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["rng"].dtype == torch.uint8 and ck["rng"].device.type == "cpu" and "scaler" in ck
    assert main(["--out", str(out), "--resume", "--device", "cpu", "--set", "epochs=2"]) == 0


def test_last_pt_loads_its_ema_weights_unless_raw_is_asked_for(csv, tmp_path):
    from fer_train.checkpoint import load_checkpoint

    out = tmp_path / "run"
    assert main(_args(csv, out, "--set", "epochs=1")) == 0
    ck = torch.load(out / "last.pt", weights_only=False)
    ema = load_checkpoint(out / "last.pt")
    raw = load_checkpoint(out / "last.pt", raw=True)
    assert ema.weights == "ema" and raw.weights == "raw"
    k = "classifier.weight"
    # One shape: "model" holds the EMA weights in every checkpoint; last.pt adds the raw ones.
    assert ck["format"] == 2
    assert torch.equal(ema.model.state_dict()[k], ck["model"][k]) and torch.equal(raw.model.state_dict()[k], ck["raw"][k])
    assert not torch.equal(ck["model"][k], ck["raw"][k])
    assert load_checkpoint(out / "final.pt").weights == "ema"


def test_defaults_have_one_source_configs_default_json_states_them():
    """configs/default.json is the dataclass defaults written out: the two cannot disagree."""
    import json as _json
    from dataclasses import asdict
    from pathlib import Path as _Path

    from fer_train.train import TrainConfig

    written = _json.loads((_Path(__file__).resolve().parents[1] / "configs" / "default.json").read_text())
    defaults = asdict(TrainConfig())
    for k, v in written.items():
        if k == "net":
            for nk, nv in v.items():
                assert list(defaults["net"][nk]) == nv if isinstance(nv, list) else defaults["net"][nk] == nv, f"net.{nk}"
        else:
            assert defaults[k] == v, f"{k}: default.json says {v!r}, TrainConfig says {defaults[k]!r}"


def test_bad_settings_fail_before_the_data_is_read(tmp_path):
    """A wrong value is reported at once, naming the key, even when the data file would fail too (it is never read)."""
    import subprocess
    import sys

    missing = tmp_path / "never-read.csv"
    for setting, words in (("epochs=0", "epochs = 0 is invalid"), ("distill_weight=2", "distill_weight = 2"),
                           ("lr=0", "lr = 0 is invalid"), ('net={"widths": [8, -1]}', "net.widths"),
                           ("warmup_epochs=-1", "warmup_epochs = -1"), ("teachers=nope.pt", "teacher checkpoint nope.pt does not exist")):
        r = subprocess.run([sys.executable, "-m", "fer_train.train", "--out", str(tmp_path / "run"), "--set", f"data_csv={missing}",
                            "--set", setting], cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and words in r.stderr, (setting, r.stderr[-500:])
        assert "never-read.csv" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-500:]
