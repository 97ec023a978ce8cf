"""Issue 11, checkpoint resolution: a broken `latest`/`best` pointer or a corrupt newest step falls
back to the newest intact step and says so; only no usable checkpoint at all means none."""

import json
from pathlib import Path

import pytest

from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def trained(tmp_path, toy_configs, toy_source) -> Path:
    mcfg, tcfg = toy_configs(steps=6, checkpoint_every=2, keep_checkpoints=3)
    train(mcfg, tcfg, toy_source(), tmp_path / "ck")
    return tmp_path / "ck"


def test_pointer_to_a_missing_step_falls_back_to_the_newest_intact_step(trained):
    (trained / "latest").write_text("step_00000099")
    got, note = ckpt_folder.find(trained)
    assert got == trained / "step_00000006" and "step_00000099" in note and "step_00000006" in note
    assert ckpt_folder.latest(trained) == got and ckpt_folder.resolve(trained) == got
    (trained / "best").write_text("step_00000099")
    assert ckpt_folder.best(trained) is None and "unusable" in ckpt_folder.find(trained, "best")[1]


def test_a_corrupt_newest_step_is_skipped_for_the_previous_intact_one(trained, toy_configs, toy_source):
    w = trained / "step_00000006" / "weights.pt"
    w.write_bytes(w.read_bytes()[:100])  # truncated by a full disk or a bad copy
    assert ckpt_folder.latest(trained) == trained / "step_00000004"
    assert "weights.pt" in ckpt_folder.problem(trained / "step_00000006")
    mcfg, tcfg = toy_configs(steps=8, checkpoint_every=2, keep_checkpoints=3)
    result = train(mcfg, tcfg, toy_source(), trained)  # resumes from step 4, not from the corrupt 6
    assert result.step == 8 and ckpt_folder.problem(trained / "step_00000006") is None
    assert json.loads((trained / "step_00000008" / "meta.json").read_text())["files"]["weights.pt"][0] > 0


def test_predict_uses_an_intact_step_when_the_pointers_are_broken(trained, tmp_path):
    from arc_pipeline.config import load_config
    from arc_pipeline.rundir import RunDir

    run_dir = tmp_path
    assert trained == run_dir / "ck"
    trained.rename(run_dir / "checkpoints")
    (run_dir / "checkpoints" / "latest").write_text("step_00000099")
    (run_dir / "checkpoints" / "best").write_text("step_00000098")
    notes = []
    assert RunDir(run_dir).checkpoint(load_config("smoke").run, notes.append) == run_dir / "checkpoints" / "step_00000006"
    assert len(notes) == 2 and all("step_0000009" in n for n in notes), notes  # both broken pointers named
    for step in ckpt_folder.steps(run_dir / "checkpoints"):
        (step / "meta.json").write_text("{trunc")
    assert RunDir(run_dir).checkpoint(load_config("smoke").run) is None  # nothing usable at all
    assert len(ckpt_folder.drop_broken(run_dir / "checkpoints")) == 3 and not ckpt_folder.steps(run_dir / "checkpoints")
