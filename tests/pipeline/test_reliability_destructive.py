"""Commands that destroy work refuse or move aside (issue 23): a rebuild whose outputs come back
identical keeps every stage after it; links in a run directory are refused; temp files left by
killed writes are removed (ours, stale ones only); import-reference never deletes a step it did not write."""

import json

import pytest

from arc_pipeline.manifest import Manifest
from arc_pipeline.stages import STAGES, Context
from arc_pipeline.stages.runner import execute, plan

LATER = list(STAGES[2:])  # after build


def _done(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    f.calls.clear()
    return f


def test_a_damaged_build_rebuilt_identical_keeps_every_later_stage(tmp_path, smoke_config, fake_stages):
    f = _done(tmp_path, smoke_config, fake_stages)
    (tmp_path / "build.out").write_text("bu")  # truncated
    rows = {r.stage: r for r in plan(smoke_config, tmp_path)}
    assert rows["build"].action == "run" and rows["build"].expect
    assert all(rows[s].action == "cached" and "kept if build rebuilds identical" in rows[s].reason for s in LATER)
    ctx = Context()
    records = execute(smoke_config, tmp_path, impl=f.impl(), ctx=ctx)
    assert f.calls == ["build"]
    assert all(records[s].status == "done" and (tmp_path / f"{s}.out").read_text() == s for s in LATER)
    assert any("rebuilt identical" in n for n in ctx.notes)
    assert [r.action for r in plan(smoke_config, tmp_path)] == ["cached"] * len(STAGES)


def test_the_single_stage_command_keeps_later_stages_when_identical(tmp_path, smoke_config, fake_stages):
    f = _done(tmp_path, smoke_config, fake_stages)
    (tmp_path / "build.out").unlink()
    execute(smoke_config, tmp_path, stages=("build",), impl=f.impl())
    m = Manifest(tmp_path)
    assert f.calls == ["build"] and all(m.get(s).status == "done" for s in LATER)
    assert (tmp_path / "train.out").read_text() == "train" and (tmp_path / "report.out").read_text() == "report"


def test_a_rebuild_that_comes_back_different_reruns_what_follows(tmp_path, smoke_config, fake_stages):
    f = _done(tmp_path, smoke_config, fake_stages)
    (tmp_path / "build.out").write_text("bu")
    impl = f.impl()
    real = impl["build"]

    def other_build(cfg, run_dir, ctx):
        res = real(cfg, run_dir, ctx)
        (run_dir / "build.out").write_text("another build")
        return res

    impl["build"] = other_build
    ctx = Context()
    execute(smoke_config, tmp_path, impl=impl, ctx=ctx)
    assert f.calls == ["build", *LATER]
    assert any("rebuilt with different outputs" in n for n in ctx.notes)
    # a single-stage rebuild that differs marks every later stage stale and removes its outputs
    (tmp_path / "build.out").write_text("x")
    f.calls.clear()
    execute(smoke_config, tmp_path, stages=("build",), impl=f.impl())
    m = Manifest(tmp_path)
    assert all(m.get(s).status == "stale" for s in LATER) and not (tmp_path / "train.out").exists()


def test_a_rebuild_that_fails_leaves_later_stages_waiting_then_keeps_them(tmp_path, smoke_config, fake_stages):
    f = _done(tmp_path, smoke_config, fake_stages)
    (tmp_path / "build.out").write_text("bu")
    f.fail_on = "build"
    with pytest.raises(RuntimeError):
        execute(smoke_config, tmp_path, impl=f.impl())
    m = Manifest(tmp_path)
    assert m.get("build").status == "failed" and m.get("build").expected
    rows = {r.stage: r for r in plan(smoke_config, tmp_path)}
    assert rows["build"].action == "run" and all(rows[s].action == "cached" for s in LATER)
    f.fail_on, f.calls = None, []
    execute(smoke_config, tmp_path, impl=f.impl())
    assert f.calls == ["build"] and Manifest(tmp_path).get("build").expected == {}


@pytest.mark.integration
def test_truncated_dataset_run_and_build_keep_the_trained_model(tmp_path, tiny_run, cli):
    res = tiny_run(tmp_path / "r")
    assert res.exit_code == 0, res.output
    before = json.loads((tmp_path / "r" / "manifest.json").read_text())["stages"]
    ds = tmp_path / "r" / "dataset" / "examples_train.npy"
    with open(ds, "r+b") as fh:
        fh.truncate(100)
    res = cli("build", "--config", tmp_path / "r" / "config.toml", "--run-dir", tmp_path / "r")
    assert res.exit_code == 0, res.output
    after = json.loads((tmp_path / "r" / "manifest.json").read_text())["stages"]
    for s in LATER:
        assert after[s]["status"] == "done" and after[s]["digests"] == before[s]["digests"], s
    assert "rebuilt identical" in res.output
    with open(ds, "r+b") as fh:
        fh.truncate(100)
    res = tiny_run(tmp_path / "r")  # the plan rebuilds it: run no longer refuses
    assert res.exit_code == 0, res.output
    assert "rebuilt identical" in res.output and (tmp_path / "r" / "checkpoints" / "latest").is_file()
