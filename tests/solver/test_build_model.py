"""A checkpoint as a model (`checkpoint.build_model`) and the one puzzle-row matcher (`match_rows`)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import puzzle_match
from arc_pipeline.solver.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=4, lr=1e-2, ema=0.5)
    d = tmp_path_factory.mktemp("build") / "ckpt"
    return train(mcfg, tcfg, toy_source(), d, dataset_fingerprint="fp1", runtime=cpu_runtime).checkpoint


def test_build_model_applies_the_ema_weights_only_when_asked(trained):
    live = torch.load(trained / "weights.pt", weights_only=True)
    shadow = torch.load(trained / "ema.pt", weights_only=True)["shadow"]
    with_ema, without = ckpt.build_model(trained), ckpt.build_model(trained.parent, use_ema=False)  # folder = latest
    assert not with_ema.training and not without.training
    for name, p in with_ema.named_parameters():
        assert torch.equal(p, shadow[name]) and not torch.equal(p, live[name])
    for name, t in without.state_dict().items():
        assert torch.equal(t, live[name])
    assert torch.equal(with_ema.puzzle_emb.table, live["puzzle_emb.table"])  # buffers are not averaged


def test_build_model_checks_the_build_only_when_told_which(trained):
    ckpt.build_model(trained, fingerprint="fp1")
    with pytest.raises(ArcError, match="fp1.*fp2"):
        ckpt.build_model(trained, fingerprint="fp2")


def test_a_config_that_does_not_fit_the_weights_or_this_code_names_the_problem(trained, tmp_path):
    import shutil

    step = tmp_path / trained.name
    shutil.copytree(trained, step)
    meta = json.loads((step / "meta.json").read_text())
    (step / "meta.json").write_text(json.dumps(dict(meta, model_config=dict(meta["model_config"], hidden=32))))
    with pytest.raises(ArcError, match=r"has shape \(16,\) but the model config implies \(32,\)"):
        ckpt.build_model(step)
    (step / "meta.json").write_text(json.dumps(dict(meta, model_config=dict(meta["model_config"], loops=3))))
    with pytest.raises(ArcError, match="loops"):
        ckpt.build_model(step)


def test_model_config_gives_tuples_back():
    from arc_pipeline.solver.config import ModelConfig

    meta = {"model_config": {"hidden": 32, "heads": 2}}
    assert ckpt.model_config(meta) == ModelConfig(hidden=32, heads=2)
    with pytest.raises(ArcError, match="no model_config"):
        ckpt.model_config({})


def _map(ids, tasks, dihedral, demos=None):
    cols = {"puzzle_id": ids, "task_id": tasks, "dihedral": dihedral,
            "colors": [list(range(10))] * len(ids)}
    if demos is not None:
        cols["demos"] = demos
    return pl.DataFrame(cols)


def test_match_rows_needs_task_record_and_demonstrations_when_both_know_them():
    theirs = _map([1, 2, 3], ["a", "b", "c"], [0, 0, 1], demos=["x", "y", "z"])
    mine = _map([1, 2, 3, 4], ["c", "a", "b", "a"], [1, 0, 0, 5], demos=["z", "x", "other", "x"])
    # c matches; a matches; b has another task's demonstrations under its id; a with dihedral 5 is new
    assert puzzle_match.match_rows(mine, theirs).tolist() == [3, 1, -1, -1]
    older = mine.drop("demos")  # a map without demonstrations: task and record decide
    assert puzzle_match.match_rows(older, theirs).tolist() == [3, 1, 2, -1]
    colors_as_array = theirs.with_columns(pl.col("colors").list.to_array(10).cast(pl.Array(pl.UInt8, 10)))
    assert puzzle_match.match_rows(older, colors_as_array).tolist() == [3, 1, 2, -1]


def test_match_rows_falls_back_to_shared_columns_and_refuses_none():
    theirs = pl.DataFrame({"puzzle_id": [1, 2], "board": ["p", "q"]})
    assert puzzle_match.match_rows(pl.DataFrame({"puzzle_id": [7, 8], "board": ["q", "r"]}), theirs).tolist() == [2, -1]
    with pytest.raises(ArcError, match="cannot match puzzle rows"):
        puzzle_match.match_rows(pl.DataFrame({"puzzle_id": [1], "other": ["p"]}), theirs)


def test_halting_rule_in_logit_and_probability_space():
    from arc_pipeline.solver.halting import first_halt, halts, logit_cut

    assert logit_cut(0.5) == 0.0
    logits = torch.tensor([-1.0, 0.5, 0.5, -3.0])
    steps = torch.tensor([1, 1, 2, 3])
    assert halts(logits, steps, max_steps=3, min_steps=2).tolist() == [False, False, True, True]
    assert halts(logits, steps, max_steps=3, cut=None).tolist() == [False, False, False, True]
    probs = np.array([[0.1, 0.9, 0.9], [0.1, 0.2, np.nan], [0.95, 0.1, 0.1]], dtype=np.float32)
    ran = np.array([3, 2, 3])
    assert first_halt(probs, ran, min_steps=1, cut=0.5).tolist() == [2, 2, 1]
    assert first_halt(probs, ran, min_steps=2, cut=0.5).tolist() == [2, 2, 3]
