"""`arc-pipeline run` end to end on a tiny CPU configuration, and the ingest overlap rule."""

import json

import polars as pl
import pytest


@pytest.mark.integration
def test_tiny_run_end_to_end_then_everything_cached(tmp_path, tiny_run, cli):
    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    result = tiny_run(run_dir)
    assert result.exit_code == 0, result.output
    target = load(str(run_dir / "tasks" / "target.json"))
    assert len(target) == 3 and all(t.has_solutions for t in target)  # solutions inline
    assert validate(run_dir / "submission.json", target) == []
    sub = json.loads((run_dir / "submission.json").read_text())
    assert set(sub) == set(target.tasks)
    score = json.loads((run_dir / "score.json").read_text())
    assert {"micro", "macro", "tasks_solved", "outputs", "outputs_correct", "pass_at_k"} <= set(score)
    assert score["outputs"] == target.n_test and 0.0 <= score["micro"] <= 1.0
    assert set(score["pass_at_k"]) == {"per_task", "per_output"}  # labelled: the paper's and Kaggle's
    assert score["pass_at_k"]["per_output"]["2"] <= 1.0 and score["pass_at_k"]["per_task"]["2"] <= 1.0
    per_task = pl.read_parquet(run_dir / "scores.parquet")
    assert sorted(per_task["task_id"].to_list()) == sorted(target.tasks)
    tasks = pl.read_parquet(run_dir / "tasks" / "tasks.parquet")
    assert set(tasks["split"].to_list()) == {"train", "target"} and tasks["max_side"].max() <= 5
    preds = pl.read_parquet(run_dir / "predictions.parquet")
    assert {"task_id", "test_index", "rank", "votes"} <= set(preds.columns)
    assert (run_dir / "checkpoints" / "latest").is_file()
    html = (run_dir / "report.html").read_text()
    assert all(tid in html for tid in target.tasks) and "data:image/png;base64" in html and "<svg" in html
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert all(manifest[s]["status"] == "done" for s in manifest)
    assert manifest["train"]["summary"]["step"] == 6
    config = (run_dir / "config.toml").read_text()
    assert "[model]" in config and "hidden = 32" in config
    # the plan, per-stage summary and final summary were printed
    assert "plan" in result.output and "micro" in result.output and "submission.json" in result.output

    again = cli("run", "--run-dir", str(run_dir))  # reuses run_dir/config.toml
    assert again.exit_code == 0, again.output
    after = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert {s: after[s]["start"] for s in after} == {s: manifest[s]["start"] for s in manifest}


@pytest.mark.integration
def test_pretrain_adapt_protocol_adapts_then_predicts_from_adapt(tmp_path, tiny_run):
    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    result = tiny_run(run_dir, "--set", "run.protocol=pretrain-adapt", "--set", "adapt.steps=3")
    assert result.exit_code == 0, result.output
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    adapt = stages["adapt"]["summary"]
    assert adapt["step"] == 3 and adapt["rows_new"] > 0  # the targets' puzzle rows were added
    assert stages["predict"]["summary"]["checkpoint"] == "step_00000003"  # predicted from adapt/
    meta = json.loads((run_dir / "dataset" / "meta.json").read_text())
    assert meta["protocol"] == "pretrain-adapt" and meta["counts"]["adapt"] > 0
    assert validate(run_dir / "submission.json", load(str(run_dir / "tasks" / "target.json"))) == []


def test_ingest_drops_training_tasks_holding_a_target_test_pair(tmp_path):
    from arc_pipeline.config import load_config
    from arc_pipeline.stages import Context, ingest

    sets = ["data.train=arc1/evaluation", "data.target=arc1/evaluation", "data.max_side=5",
            "data.limit_train=5", "data.limit_target=3"]
    ctx = Context()
    res = ingest.run(load_config("smoke", sets=sets), tmp_path / "a", ctx)
    assert res.summary["train_dropped"] == 3 and res.summary["train_tasks"] == 2
    assert any("dropped 3" in n for n in ctx.notes)
    train = json.loads((tmp_path / "a" / "tasks" / "train.json").read_text())
    target = json.loads((tmp_path / "a" / "tasks" / "target.json").read_text())
    assert not set(train) & set(target)
    rows = pl.read_parquet(tmp_path / "a" / "tasks" / "tasks.parquet")
    assert rows.filter(pl.col("dropped"))["id"].sort().to_list() == sorted(target)
    kept = ingest.run(load_config("smoke", sets=sets + ["data.keep_overlap=true"]), tmp_path / "b")
    assert kept.summary["train_tasks"] == 5 and kept.summary["train_dropped"] == 0


@pytest.mark.integration
def test_unknown_key_on_the_command_line_is_one_line_error(tmp_path, cli):
    result = cli("run", "--preset", "smoke", "--run-dir", str(tmp_path), "--set", "train.stepz=1")
    assert result.exit_code == 1
    assert "stepz" in result.output and "steps" in result.output and "Traceback" not in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_devices_2_runs_train_and_predict_under_torchrun(tmp_path, tiny_run):
    from arc_pipeline.arc.load import load
    from arc_pipeline.solver import ckpt_folder
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    result = tiny_run(run_dir, "--devices", "2")
    assert result.exit_code == 0, result.output
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    train, predict = manifest["train"]["summary"], manifest["predict"]["summary"]
    assert train["devices"] == 2 and train["step"] == 6  # the stage's own summary, from rank 0
    assert predict["devices"] == 2 and predict["predictions"] == predict["of"] and "failed_tasks" not in predict
    assert ckpt_folder.read_meta(run_dir / "checkpoints")["world_size"] == 2
    assert validate(run_dir / "submission.json", load(str(run_dir / "tasks" / "target.json"))) == []


@pytest.mark.integration
@pytest.mark.slow
def test_devices_2_runs_adapt_under_torchrun_too(tmp_path, tiny_run):
    from arc_pipeline.arc.load import load
    from arc_pipeline.solver import ckpt_folder
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    result = tiny_run(run_dir, "--devices", "2", "--set", "run.protocol=pretrain-adapt", "--set", "adapt.steps=3")
    assert result.exit_code == 0, result.output
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert manifest["adapt"]["summary"]["devices"] == 2 and manifest["adapt"]["summary"]["step"] == 3
    assert ckpt_folder.read_meta(run_dir / "adapt")["world_size"] == 2
    assert validate(run_dir / "submission.json", load(str(run_dir / "tasks" / "target.json"))) == []
