"""Every committed training config loads and passes validation (its checkpoints aside: they live in runs/)."""
from pathlib import Path

import pytest

from fer_train.train import load_config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.json"))


def test_there_are_configs() -> None:
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_committed_config_loads(path: Path) -> None:
    # init, teachers and teacher_cache name files under runs/, which only exist where the run was made.
    cfg = load_config(str(path), ["init=", "teachers=[]", "teacher_cache="])
    assert cfg.epochs >= 1 and cfg.net.widths
