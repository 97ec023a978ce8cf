"""Commands that destroy work refuse or move aside (issue 23): a rebuild whose outputs come back
identical keeps every stage after it; links in a run directory are refused; temp files left by
killed writes are removed (ours, stale ones only); import-reference never deletes a step it did not write."""

import json
from pathlib import Path

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


# ------------------------------------------------------------------ links and temp files


@pytest.mark.parametrize("name", ["run.lock", "metrics.jsonl", "dataset"])
def test_a_link_in_the_run_directory_is_refused_and_its_target_untouched(tmp_path, smoke_config, fake_stages, name):
    from arc_pipeline.arc.errors import ArcError

    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "precious"
    target.mkdir() if name == "dataset" else target.write_text("keep me\n")
    (run / name).symlink_to(target)
    f = fake_stages()
    with pytest.raises(ArcError, match="symbolic link"):
        execute(smoke_config, run, impl=f.impl())
    assert f.calls == []
    assert target.is_dir() if name == "dataset" else target.read_text() == "keep me\n"


def test_a_hard_linked_metrics_file_is_refused(tmp_path, smoke_config, fake_stages):
    import os

    from arc_pipeline.arc.errors import ArcError

    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "snapshot.jsonl").write_text('{"step": 1}\n')
    os.link(tmp_path / "snapshot.jsonl", run / "metrics.jsonl")
    with pytest.raises(ArcError, match="hard link"):
        execute(smoke_config, run, impl=fake_stages().impl())
    assert (tmp_path / "snapshot.jsonl").read_text() == '{"step": 1}\n'


def test_temp_files_of_killed_writes_are_removed_only_when_their_writer_is_gone(tmp_path, smoke_config, fake_stages):
    import os
    import subprocess
    import sys
    import time

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = tmp_path / "run"
        (run / "checkpoints" / ".tmp_step_00000009").mkdir(parents=True)
        (run / "checkpoints" / ".tmp_step_00000009" / "weights.pt").write_bytes(b"x")
        old = time.time() - 3600
        for p in (run / "checkpoints" / ".tmp_step_00000009" / "weights.pt", run / "checkpoints" / ".tmp_step_00000009"):
            os.utime(p, (old, old))
        (run / "checkpoints" / ".tmp_step_00000010").mkdir()  # fresh: perhaps still being written
        gone = [run / f".manifest.json.{dead}.abcd1234.tmp", run / f".dataset.tmp-{dead}"]
        kept = [run / f".manifest.json.{live.pid}.abcd1234.tmp", run / "notes.tmp", run / ".hidden"]
        for p in gone + kept:
            p.write_text("half")
        ctx = Context()
        execute(smoke_config, run, impl=fake_stages().impl(), ctx=ctx, stages=("ingest",))
        assert not any(p.exists() for p in gone) and all(p.exists() for p in kept)
        assert not (run / "checkpoints" / ".tmp_step_00000009").exists()
        assert (run / "checkpoints" / ".tmp_step_00000010").exists()
        assert any("removed 3 temporary file(s)" in n for n in ctx.notes), ctx.notes
    finally:
        live.kill()
        live.wait()


def test_atomic_writes_name_their_writer():
    import os

    from arc_pipeline.arc.io import atomic_path

    with atomic_path(Path("/tmp") / f"arc-test-{os.getpid()}.json") as tmp:
        assert f".{os.getpid()}." in tmp.name and tmp.name.endswith(".tmp")
        tmp.write_text("{}")
    (Path("/tmp") / f"arc-test-{os.getpid()}.json").unlink()


def test_a_stage_on_a_missing_run_directory_creates_nothing(tmp_path, smoke_config, fake_stages):
    from arc_pipeline.arc.errors import ArcError

    for stage in ("score", "build", "report"):
        with pytest.raises(ArcError, match="no such run directory"):
            execute(smoke_config, tmp_path / "typo", stages=(stage,), impl=fake_stages().impl())
        assert not (tmp_path / "typo").exists()
    execute(smoke_config, tmp_path / "new", stages=("ingest",), impl=fake_stages().impl())  # the first stage starts one
    assert (tmp_path / "new" / "manifest.json").is_file()


def test_a_checkpoint_folder_the_stage_never_wrote_is_moved_aside(tmp_path, smoke_config, fake_stages):
    run = tmp_path / "run"
    (run / "checkpoints" / "step_00000008").mkdir(parents=True)
    (run / "checkpoints" / "step_00000008" / "meta.json").write_text("{}")
    ctx = Context()
    execute(smoke_config, run, impl=fake_stages().impl(), ctx=ctx)
    aside = [p for p in run.iterdir() if p.name.startswith("checkpoints.aside-")]
    assert len(aside) == 1 and (aside[0] / "step_00000008" / "meta.json").is_file()
    assert any("not written by this run's train stage" in n for n in ctx.notes)


@pytest.mark.integration
def test_score_on_a_missing_run_directory_is_one_line(tmp_path, cli):
    res = cli("score", "--run-dir", tmp_path / "nope")
    assert res.exit_code == 1 and "no such run directory" in res.output and not (tmp_path / "nope").exists()
