"""`run` with an imported reference checkpoint (tests/data/reference_trm): joint evaluates it on its own
augmentations of its own tasks; pretrain-adapt starts from it with new rows at the trained mean."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from arc_pipeline.arc.load import load, save_tasks
from arc_pipeline.augment.reference import parse_name, read_identifiers
from arc_pipeline.solver import ckpt_folder, puzzle_match

pytestmark = pytest.mark.integration  # every test here drives the CLI

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "reference_trm"
TASKS = ("66e6c45b", "4cd1b7b2", "e633a9e5")  # the fixture's three ARC-AGI-1 evaluation tasks


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref_eval")
    from arc_pipeline.solver.reference import import_checkpoint

    import_checkpoint(FIXTURE / "step_8", FIXTURE / "identifiers.json", d / "ckpt", canvas=6)
    every = load("arc1/evaluation")
    save_tasks({t: every.tasks[t] for t in TASKS}, d / "fixture_tasks.json")
    save_tasks({"00576224": every.tasks["00576224"]}, d / "other_task.json")
    return d


def run(cli, setup: Path, name: str, *extra: str):
    args = ["run", "--preset", "smoke", "--run-dir", str(setup / name), "--set", f"run.checkpoint={setup / 'ckpt'}",
            "--set", "build.canvas=6", "--set", "data.train=[]", "--set", 'run.time_budget=""', *extra]
    return cli(*args)


def test_joint_evaluates_the_checkpoint_on_its_own_augmentations(setup, cli):
    result = run(cli, setup, "joint", "--target", str(setup / "fixture_tasks.json"))
    assert result.exit_code == 0, result.output
    rd = setup / "joint"
    stages = json.loads((rd / "manifest.json").read_text())["stages"]
    assert stages["train"]["summary"].get("skipped") and not (rd / "checkpoints").exists()
    names = read_identifiers(FIXTURE / "identifiers.json")
    built = pl.read_parquet(rd / "dataset" / "puzzles.parquet").filter(pl.col("role") == "target")
    pairs = {(t, a.dihedral, a.colors) for t, a in map(parse_name, names[1:])}
    assert {(t, d, tuple(c)) for t, d, c in built.select("task_id", "dihedral", "colors").iter_rows()} == pairs
    raw = pl.read_parquet(rd / "predictions_raw.parquet")
    assert raw.height == 18 and set(raw["steps"]) == {4}  # 3 tasks x 6 augmentations, all N_sup steps
    # each prediction read the checkpoint row whose reference name is that example's augmentation
    pmap = puzzle_match.read_puzzle_map(setup / "ckpt")
    rows = puzzle_match.match_rows(raw, pmap)
    assert len(rows) == 18 and (rows > 0).all()
    for row in rows:
        assert parse_name(names[row])[0] in TASKS
    # the votes predict wrote are the votes of the raw frame's last steps
    from arc_pipeline.solver.raw import predictions_at
    from arc_pipeline.solver.vote import vote

    again = vote(predictions_at(raw, raw["steps"].to_numpy())).sort("task_id", "test_index", "rank")
    written = pl.read_parquet(rd / "predictions.parquet").sort("task_id", "test_index", "rank")
    assert again.select("task_id", "rank", "grid", "votes").equals(written.select("task_id", "rank", "grid", "votes"))
    score = json.loads((rd / "score.json").read_text())
    assert set(score["pass_at_k"]) == {"per_task", "per_output"}

    analysed = cli("analyze", str(rd), "--json")
    assert analysed.exit_code == 0, analysed.output
    out = json.loads(analysed.output)
    rules = [r["rule"] for r in out["stopping_rules"]]
    assert rules[0] == "all steps" and rules[-4:] == ["step 1", "step 2", "step 3", "step 4"]
    assert [r["rule"] for r in out["augmentations"]] == ["6 augs (all)"]
    assert {r["mean_steps"] for r in out["stopping_rules"] if r["rule"].startswith("step ")} == {1.0, 2.0, 3.0, 4.0}


def test_joint_refuses_tasks_the_checkpoint_never_trained(setup, cli):
    result = run(cli, setup, "other", "--target", str(setup / "other_task.json"))
    assert result.exit_code == 1 and "not trained on target task(s) 00576224" in result.output
    assert "pretrain-adapt" in result.output
    result = run(cli, setup, "canvas", "--target", str(setup / "fixture_tasks.json"), "--set", "build.canvas=7")
    assert result.exit_code == 1 and "build.canvas=6" in result.output


def test_pretrain_adapt_starts_from_the_imported_checkpoint(setup, cli):
    result = run(cli, setup, "adapt", "--target", str(setup / "other_task.json"), "--set", "run.protocol=pretrain-adapt",
                 "--set", "adapt.steps=2", "--set", "train.global_batch=8")
    assert result.exit_code == 0, result.output
    rd = setup / "adapt"
    summary = json.loads((rd / "manifest.json").read_text())["stages"]["adapt"]["summary"]
    assert summary["step"] == 2 and summary["rows_carried"] == 0 and summary["rows_new"] > 0
    init = torch.load(ckpt_folder.latest(rd / "adapt" / "init") / "weights.pt", weights_only=True)["puzzle_emb.table"]
    trained = torch.load(FIXTURE / "step_8", weights_only=True)["_orig_mod.model.inner.puzzle_emb.weights"]
    np.testing.assert_allclose(init[1:].numpy(), trained[1:].mean(0).expand(init.shape[0] - 1, -1).numpy(), rtol=1e-6)
    assert (rd / "submission.json").is_file() and (rd / "predictions_raw.parquet").is_file()
