"""Hostile checkpoints and reference files (issue 23): one ArcError each, never a traceback, and
import-reference never deletes or repoints a checkpoint it did not write."""

import shutil
from pathlib import Path

import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver.reference import import_checkpoint

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "reference_trm"
IDS = FIXTURE / "identifiers.json"


def _reference(tmp_path, config_edit=lambda t: t, state_edit=None):
    """A copy of the reference fixture (step_8 + all_config.yaml) with its config or state dict edited."""
    d = tmp_path / "ref"
    d.mkdir(exist_ok=True)
    (d / "all_config.yaml").write_text(config_edit((FIXTURE / "all_config.yaml").read_text()))
    if state_edit is None:
        shutil.copy(FIXTURE / "step_8", d / "step_8")
    else:
        sd = torch.load(FIXTURE / "step_8", weights_only=True)
        state_edit(sd)
        torch.save(sd, d / "step_8")
    return d / "step_8"


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("num_heads: 2", "num_heads: 0"), "num_heads = 0"),
    (lambda t: t.replace("num_heads: 2", "num_heads: 3"), "heads must divide"),
    (lambda t: t.replace("hidden_size: 64", "hidden_size: wide"), "hidden_size = 'wide'"),
    (lambda t: t.replace("name: arc@ARC", 'name: "bad \\x escape"'), "line .*not a valid YAML scalar"),
])
def test_hostile_reference_config_is_one_line(tmp_path, edit, match):
    step = _reference(tmp_path, edit)
    with pytest.raises(ArcError, match=match):
        import_checkpoint(step, IDS, tmp_path / "out", canvas=6)
    assert not (tmp_path / "out").exists()


def test_a_state_dict_holding_an_int_is_refused(tmp_path):
    step = _reference(tmp_path, state_edit=lambda sd: sd.__setitem__("_orig_mod.model.inner.H_init", 7))
    with pytest.raises(ArcError, match="H_init.*holds a int, not a tensor"):
        import_checkpoint(step, IDS, tmp_path / "out", canvas=6)


def test_import_never_replaces_steps_it_did_not_write(tmp_path):
    out = tmp_path / "run" / "checkpoints"
    first = import_checkpoint(FIXTURE / "step_8", IDS, tmp_path / "first", canvas=6).checkpoint
    shutil.copytree(first, out / "step_00000003")
    shutil.copytree(first, out / "step_00000011")
    (out / "latest").write_text("step_00000011")
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ArcError, match="already holds checkpoints .*step_00000011.*never replaces"):
        import_checkpoint(FIXTURE / "step_8", IDS, out, canvas=6)
    assert sorted(p.name for p in out.iterdir()) == before and (out / "latest").read_text() == "step_00000011"


def test_malformed_checkpoint_meta_is_one_line(tmp_path):
    step = import_checkpoint(FIXTURE / "step_8", IDS, tmp_path / "c", canvas=6).checkpoint
    meta = step / "meta.json"
    for text, match in (("{not json", "unreadable checkpoint meta"), ("[1, 2]", "not an object"),
                        ('{"step": ' + "9" * 5000 + "}", "unreadable checkpoint meta"),
                        ('{"model_config": {"hidden": "x"}}', "model config|not a valid model")):
        meta.write_text(text)
        with pytest.raises(ArcError, match=match):
            ckpt.build_model(step)


def test_weights_holding_a_non_tensor_are_refused(tmp_path):
    step = import_checkpoint(FIXTURE / "step_8", IDS, tmp_path / "c", canvas=6).checkpoint
    sd = torch.load(step / "weights.pt", weights_only=True)
    sd["y_init"] = 3
    with pytest.raises(ArcError, match="y_init.*not a tensor"):
        ckpt.model_from_state(ckpt.model_config(ckpt_folder.read_meta(step)), sd, origin=step / "weights.pt")
