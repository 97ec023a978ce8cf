"""The predict stage is one call of `solver.predict.predict`: on a tiny run, the stage's files are
what the call returns, and the call's deadline and augmentation cut keep identities first."""

import json

import polars as pl
import pytest

pytestmark = pytest.mark.integration  # a whole tiny run through the CLI


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_run):
    """A tiny run whose predict stage takes the longest path: both weight sets, every view's table."""
    rd = tmp_path_factory.mktemp("predict") / "run"
    result = tiny_run(rd, "--set", "vote.rule=likelihood", "--set", "vote.compare=true")
    assert result.exit_code == 0, result.output
    return rd


def call(rd, **kw):
    """The library call with the decisions the stage makes for this run (joint, its own build)."""
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.config import resolve
    from arc_pipeline.rundir import RunDir
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.predict import predict

    cfg = resolve(rd)[0]
    r = RunDir(rd)
    out = predict(r.checkpoint(cfg.run), open_split(r.dataset, "test"), setup_runtime(cfg.train.device, cfg.train.dtype),
                  kw.pop("predict", cfg.predict), cfg.vote, fingerprint=read_meta(r.dataset)["fingerprint"], **kw)
    return cfg, out


def test_the_stage_writes_what_the_library_call_returns(run):
    cfg, out = call(run)
    assert out.summary["passes"] == ["ema", "live"] and not out.stopped and not out.failed
    assert pl.read_parquet(run / "predictions.parquet").equals(out.voted.filter(pl.col("rank") <= cfg.vote.top_k))
    assert pl.read_parquet(run / "predictions_raw.parquet").equals(out.raw)
    stage = json.loads((run / "manifest.json").read_text())["stages"]["predict"]["summary"]
    assert stage.pop("checkpoint_path") == f"checkpoints/{out.summary['checkpoint']}"
    assert {k: v for k, v in stage.items() if k != "seconds"} == {k: v for k, v in out.summary.items() if k != "seconds"}


def test_a_deadline_and_the_augmentation_cut_keep_every_identity_first(run):
    from dataclasses import replace

    from arc_pipeline.augment.dataset import open_split
    from arc_pipeline.config import resolve

    test = open_split(run / "dataset", "test")
    inputs = test.examples.select("task_id", "test_index").unique().height
    assert len(test) > inputs  # more than the identities, so a cut shows
    _, late = call(run, predict=replace(resolve(run)[0].predict, batch_size=1), remaining=lambda: 0.0)
    assert late.stopped.startswith("stopped by the time budget after")
    primary = late.raw.filter(pl.col("primary"))
    assert primary.height == inputs and primary["aug_index"].unique().to_list() == [0]  # the first chunk: identities
    _, cut = call(run, max_test_augs=2)
    primary = cut.raw.filter(pl.col("primary"))
    assert primary.height == 2 * inputs and sorted(primary["aug_index"].unique()) == [0, 1]
