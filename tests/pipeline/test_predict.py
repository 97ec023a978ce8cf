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
    runtime = setup_runtime(cfg.train.device, kw.pop("dtype", cfg.train.dtype))
    out = predict(r.checkpoint(cfg.run), open_split(r.dataset, "test"), runtime,
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


def _ranks_worker(rank: int, world: int, rd: str, out: str) -> None:
    """One rank of a gloo group calling the library as the predict stage does; rank 0 keeps the frames."""
    from pathlib import Path

    _, got = call(Path(rd))
    if rank == 0:
        got.voted.write_parquet(f"{out}/voted.parquet")
        got.raw.write_parquet(f"{out}/raw.parquet")
        Path(out, "summary.json").write_text(json.dumps({**got.summary, "failed": got.failed}))
    else:
        assert got.voted.height == 0  # rank 0 alone was handed the predictions and voted


@pytest.mark.slow  # a gloo group per world size: about 15 s each on an idle 2-core box
@pytest.mark.parametrize("world", [2, 4])
def test_several_ranks_predict_what_one_process_predicts(world, run, tmp_path, gloo_ranks):
    """Each rank predicts its shard; rank 0 gathers the compact blocks (uint8 tokens, float16 tables, ...)
    and decodes once: the voted candidates, every raw prediction with its view likelihood, and the
    summary are those of one process (gloo)."""
    _, one = call(run)
    gloo_ranks(_ranks_worker, world, str(run), str(tmp_path))
    assert pl.read_parquet(tmp_path / "voted.parquet").equals(one.voted)
    raw = pl.read_parquet(tmp_path / "raw.parquet")
    assert raw.equals(one.raw), [(c, raw[c].head(4).to_list(), one.raw[c].head(4).to_list()) for c in raw.columns
                                 if not raw[c].equals(one.raw[c])]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failed"] == {} and summary["predictions"] == one.summary["predictions"] == one.raw.height > 0


def test_batch_auto_on_the_cpu_and_float16_predicts_as_float32(run):
    """predict.batch_size = "auto" (no GPU memory to measure: 256) predicts as a fixed batch does;
    predict.dtype = "float16" (for GPUs without bf16) against float32 on the CPU: the same voted answers
    for this model, and halting probabilities within float16's precision."""
    from dataclasses import replace

    from arc_pipeline.config import resolve

    cfg = resolve(run)[0]
    notes = []
    _, fixed = call(run)
    _, auto = call(run, predict=replace(cfg.predict, batch_size="auto"), on_note=notes.append)
    assert auto.voted.equals(fixed.voted) and any("predict.batch_size auto on the CPU: " in n for n in notes)
    _, half = call(run, dtype="float16")
    top = [pl.col("task_id"), pl.col("test_index"), pl.col("rank")]
    a, b = (f.sort(top).filter(pl.col("rank") <= 2) for f in (fixed.voted, half.voted))
    assert a["grid"].to_list() == b["grid"].to_list()
    same = fixed.raw.sort("index").join(half.raw.sort("index"), on=["index", "weights"], suffix="_half")
    assert same.height == fixed.raw.height
    assert (same["steps"] == same["steps_half"]).all()
    assert (same["halt_prob"] - same["halt_prob_half"]).abs().max() < 2e-2
