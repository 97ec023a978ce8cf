"""The schedule in epochs (the reference's way) or steps: the step count, config layering, the plan line."""

import dataclasses

from arc_pipeline.config import load_config, override, read_config, write_config
from arc_pipeline.stages.train import plan_text
from arc_pipeline.solver.adapt import AdaptConfig, adapt_train_config
from arc_pipeline.solver.schedule import planned_steps, resolve_schedule


def test_epochs_give_steps_from_the_samplers_epoch_length(grouped_toy_source, toy_configs, toy_source):
    _, tcfg = toy_configs(global_batch=8, epochs=24.0)
    # 8 tasks x 4 pairs (one variant of two per epoch): 32 examples per epoch -> 24 x 32 / 8
    assert resolve_schedule(tcfg, grouped_toy_source()).steps == 96
    # the uniform rule's epoch is every row: 64 -> 192 steps
    assert resolve_schedule(dataclasses.replace(tcfg, sampling="uniform"), grouped_toy_source()).steps == 192
    assert resolve_schedule(dataclasses.replace(tcfg, epochs=0.0, steps=7), toy_source()).steps == 7
    # the reference's ARC-AGI-1 figure: 100k epochs x 960 tasks x 4.15 pairs / 768
    assert planned_steps(dataclasses.replace(tcfg, global_batch=768, epochs=1e5), 960 * 4.15) == 518750
    # adaptation counts steps, whatever the pre-training schedule said
    assert adapt_train_config(tcfg, AdaptConfig(steps=50)).steps == 50
    assert adapt_train_config(tcfg, AdaptConfig(steps=50)).epochs == 0


def test_a_later_steps_replaces_a_presets_epochs(tmp_path):
    cfg = load_config("gpu")
    assert cfg.train.epochs == 100000
    cut = load_config("gpu", sets=["train.steps=200"])
    assert (cut.train.steps, cut.train.epochs) == (200, 0.0)
    assert override(cfg, ["train.steps=300"]).train.epochs == 0.0
    both = load_config("gpu", sets=["train.steps=200", "train.epochs=3"])
    assert (both.train.steps, both.train.epochs) == (200, 3.0)  # epochs given after steps: epochs rule
    write_config(cfg, tmp_path / "config.toml")  # a resolved config (both keys in one layer) reads back as is
    assert read_config(tmp_path / "config.toml").train.epochs == 100000


def test_plan_prints_the_reference_schedule_for_the_gpu_preset(tmp_path):
    text = plan_text(load_config("gpu"), tmp_path / "run")
    # ARC-AGI-1 training + ConceptARC + the evaluation demonstrations: ~3,990 pairs per epoch, ~519k steps
    assert "100000 epochs" in text and "about 519," in text and "768" in text
    smoke = plan_text(load_config("smoke"), tmp_path / "run")
    assert "1,500 steps" in smoke  # a fixed step count (issue 26)
    assert plan_text(load_config("gpu", sets=["run.checkpoint=/x"]), tmp_path) is None


def test_plan_of_large_sources_reads_ingests_table_not_the_tasks(tmp_path, monkeypatch):
    """Sources in many pieces (NVARC's 103k tasks) are not read whole for the plan line: before ingest
    the epochs are unknown, after it they are counted from the task table ingest wrote."""
    import polars as pl

    import arc_pipeline.stages.ingest as ingest
    import arc_pipeline.stages.train as train

    def read_everything(*_, **__):
        raise AssertionError("the plan read every task of a large source")

    monkeypatch.setattr(train, "PLAN_PIECES", 0)
    monkeypatch.setattr(ingest, "load_sources", read_everything)
    cfg = load_config("gpu")
    run = tmp_path / "run"
    assert plan_text(cfg, run) == "train: steps known after the build"
    (run / "tasks").mkdir(parents=True)
    pl.DataFrame({"split": ["train", "train", "train", "target"], "pairs": [3, 4, 100, 2],
                  "test_inputs": [1, 1, 1, 1], "dropped": [False, False, True, False]}).write_parquet(run / "tasks" / "tasks.parquet")
    # kept train tasks 3+1 and 4+1, plus the target's 2 demonstrations under joint: 11 examples an epoch
    assert "about 11 examples per epoch" in plan_text(cfg, run)
