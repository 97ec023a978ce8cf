"""Issue 11, the run directory: one run at a time (a live holder is named, a dead one's lock taken
over), cached stages trusted only when their outputs verify, downstream results marked stale before
any work, and a read-only directory served when everything is cached."""

import json
import os
import subprocess
import sys
import time

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import override
from arc_pipeline.manifest import Manifest
from arc_pipeline.stages import STAGES, Context
from arc_pipeline.stages.runner import execute, plan


def _hold_lock(run_dir):
    """A second process holding the run directory's lock until killed."""
    code = ("import sys, time; from arc_pipeline.rundir import RunDir; "
            "l = RunDir(sys.argv[1]).lock('arc-pipeline run --preset smoke').acquire(); "
            "print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_on_the_same_directory_is_refused_naming_the_holder(tmp_path, smoke_config, fake_stages):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = _hold_lock(run_dir)
    try:
        f = fake_stages()
        with pytest.raises(ArcError) as e:
            execute(smoke_config, run_dir, impl=f.impl())
        msg = str(e.value)
        assert f"pid {holder.pid}" in msg and "in use" in msg and "arc-pipeline run --preset smoke" in msg
        assert f.calls == [] and not (run_dir / "manifest.json").exists()  # nothing was touched
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and the next run takes it over, saying so
    ctx = Context()
    f = fake_stages()
    execute(smoke_config, run_dir, impl=f.impl(), ctx=ctx)
    assert f.calls == list(STAGES)
    assert any("took over the lock" in n and f"pid {holder.pid}" in n for n in ctx.notes)
    assert (run_dir / "run.lock").read_text() == ""  # released at the end


def test_a_cached_stage_whose_outputs_changed_is_rerun_with_a_note(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    digests = Manifest(tmp_path).get("predict").digests
    assert list(digests) == ["predict.out"] and digests["predict.out"][0] == len("predict")
    (tmp_path / "predict.out").write_text("PREDICT")  # same size, other bytes
    rows = {r.stage: r for r in plan(smoke_config, tmp_path)}
    assert rows["predict"].action == "run" and "predict.out changed" in rows["predict"].reason
    assert rows["build"].action == "cached" and "verified" in rows["build"].reason
    f.calls.clear()
    ctx = Context()
    execute(smoke_config, tmp_path, impl=f.impl(), ctx=ctx)
    assert f.calls == ["predict"]  # it came back identical: what follows is kept
    assert any(n.startswith("predict: outputs changed") for n in ctx.notes)
    assert any("rebuilt identical" in n and "submit, score, report" in n for n in ctx.notes)
    (tmp_path / "score.out").write_text("sc")  # truncated
    assert {r.stage: r.action for r in plan(smoke_config, tmp_path)}["score"] == "run"


def test_a_failed_rerun_never_leaves_old_results_marked_done(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    f.fail_on, f.calls = "predict", []
    new = override(smoke_config, ["train.steps=3"])
    with pytest.raises(RuntimeError):
        execute(new, tmp_path, impl=f.impl())
    m = Manifest(tmp_path)
    assert f.calls == ["train", "adapt", "predict"]
    assert m.get("predict").status == "failed"
    for stage in ("submit", "score", "report"):  # stale, and their old outputs are gone
        assert m.get(stage).status == "stale" and not (tmp_path / f"{stage}.out").exists()
    assert [r.action for r in plan(new, tmp_path)][-3:] == ["run", "run", "run"]


def test_one_stage_rerun_marks_every_later_stage_stale(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    f.calls = []
    execute(override(smoke_config, ["train.steps=3"]), tmp_path, stages=("train",), impl=f.impl())
    m = Manifest(tmp_path)
    assert f.calls == ["train"] and m.get("train").status == "done"
    assert [m.get(s).status for s in STAGES[3:]] == ["stale"] * 5
    assert not (tmp_path / "score.out").exists() and (tmp_path / "build.out").exists()


def _read_only(path):
    """Make `path` read-only for this process: chmod for a normal user, a read-only remount as root."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        return lambda: os.chmod(path, 0o755)
    pytest.skip("root: needs the mount variant")


@pytest.fixture
def ro_dir(tmp_path):
    """A directory and a function that makes it read-only (real: chmod, or a read-only tmpfs as root)."""
    d = tmp_path / "ro"
    d.mkdir()
    mounted = False
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(d)], capture_output=True).returncode:
            pytest.skip("running as root and cannot mount a tmpfs to make a truly read-only directory")
        mounted = True

    def freeze():
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        else:
            os.chmod(d, 0o555)

    yield d, freeze
    if mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)
    else:
        os.chmod(d, 0o755)


def test_a_read_only_run_directory_works_when_everything_is_cached(ro_dir, smoke_config, fake_stages):
    d, freeze = ro_dir
    f = fake_stages()
    execute(smoke_config, d, impl=f.impl())
    freeze()
    with pytest.raises(OSError):
        (d / "probe").write_text("x")
    f.calls, ctx = [], Context()
    recs = execute(smoke_config, d, impl=f.impl(), ctx=ctx)
    assert f.calls == [] and all(r.status == "done" for r in recs.values())
    assert any("read-only" in n for n in ctx.notes)
    with pytest.raises(ArcError, match="not writable.*train"):
        execute(override(smoke_config, ["train.steps=3"]), d, impl=f.impl())


@pytest.mark.integration
def test_corrupt_score_json_is_rescored_and_the_summary_never_crashes(tmp_path, tiny_run, cli):


    run_dir = tmp_path / "run"
    assert tiny_run(run_dir, "--set", "train.steps=2").exit_code == 0
    good = json.loads((run_dir / "score.json").read_text())
    sub = (run_dir / "submission.json").read_text()
    (run_dir / "score.json").write_text("{not json")
    (run_dir / "submission.json").write_text(sub[: len(sub) // 2])  # truncated: must not pass as done
    again = cli("run", "--run-dir", str(run_dir))
    assert again.exit_code == 0, again.output
    assert "Traceback" not in again.output and "outputs changed" in again.output
    untimed = lambda s: {k: v for k, v in s.items() if k != "cost"}  # noqa: E731 - cost records seconds per stage
    assert untimed(json.loads((run_dir / "score.json").read_text())) == untimed(good)
    assert (run_dir / "submission.json").read_text() == sub
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert stages["train"]["start"] < stages["submit"]["start"]  # train stayed cached; submit reran
    assert stages["train"]["summary"]["step"] == 2 and time.time() - stages["submit"]["end"] < 120
