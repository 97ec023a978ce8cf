"""Manifest and runner: skip when the fingerprint matches, rerun what changed, --force, resume."""

import json

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import override
from arc_pipeline.manifest import Manifest, fingerprint
from arc_pipeline.stages import BY_NAME, STAGES, Context
from arc_pipeline.stages.runner import budgeted, execute, fingerprints, plan


def test_second_run_skips_every_stage(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    recs = execute(smoke_config, tmp_path, impl=f.impl())
    assert f.calls == list(STAGES)
    assert all(r.status == "done" for r in recs.values())
    f.calls.clear()
    execute(smoke_config, tmp_path, impl=f.impl())
    assert f.calls == []
    assert [r.action for r in plan(smoke_config, tmp_path)] == ["cached"] * len(STAGES)
    m = json.loads((tmp_path / "manifest.json").read_text())["stages"]
    assert set(m) == set(STAGES)
    for rec in m.values():
        assert {"status", "fingerprint", "outputs", "start", "end", "seconds"} <= set(rec)
        assert rec["end"] >= rec["start"]
    assert (tmp_path / "config.toml").is_file()


def test_changed_section_reruns_that_stage_and_later_only(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    f.calls.clear()
    execute(override(smoke_config, ["predict.batch_size=7"]), tmp_path, impl=f.impl())
    assert f.calls == ["predict", "submit", "score", "report"]
    f.calls.clear()
    execute(override(smoke_config, ["predict.batch_size=7", "train.steps=3"]), tmp_path, impl=f.impl())
    assert f.calls == ["train", "adapt", "predict", "submit", "score", "report"]


def test_speed_only_keys_do_not_invalidate(smoke_config):
    a = fingerprints(smoke_config)
    b = fingerprints(override(smoke_config, ["train.device=cpu", "run.devices=2", "train.log_every=3", "run.time_budget=1h"]))
    assert a == b
    assert fingerprints(override(smoke_config, ["train.lr=0.5"]))["train"] != a["train"]
    assert fingerprints(override(smoke_config, ["train.lr=0.5"]))["build"] == a["build"]


def test_force_reruns_from_the_stage(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    f.calls.clear()
    execute(smoke_config, tmp_path, impl=f.impl(), force="build")
    assert f.calls == list(STAGES[1:])
    with pytest.raises(ArcError, match="valid stages"):
        plan(smoke_config, tmp_path, force="bulid")


def test_missing_output_reruns_the_stage(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    (tmp_path / "score.out").unlink()
    f.calls.clear()
    execute(smoke_config, tmp_path, impl=f.impl())
    assert f.calls == ["score"]  # rebuilt identical: report, after it, is kept


def test_failed_stage_is_recorded_and_resumed_without_clearing(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    f.fail_on = "train"
    with pytest.raises(RuntimeError, match="train crashed"):
        execute(smoke_config, tmp_path, impl=f.impl())
    rec = Manifest(tmp_path).get("train")
    assert rec.status == "failed" and "train crashed" in rec.note
    assert [r.action for r in plan(smoke_config, tmp_path)][:3] == ["cached", "cached", "resume"]
    f.fail_on, f.calls = None, []
    (tmp_path / "checkpoints" / "progress").write_text("kept")
    execute(smoke_config, tmp_path, impl=f.impl())
    assert f.calls == list(STAGES[2:])
    assert (tmp_path / "checkpoints" / "progress").read_text() == "kept"
    # resumed in place: what train wrote before the crash is still there
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_00000005"


def test_a_resumed_stage_keeps_the_seconds_of_its_failed_attempts(tmp_path, smoke_config):
    """What a run cost counts every attempt that resumed: a failure or a stop, then a resume with the
    same inputs; a rerun with other inputs starts the count again."""
    from arc_pipeline.protocol import cost_block

    m = Manifest(tmp_path)
    for seconds in (100.0, 50.0):  # preempted twice
        m.start("train", "fp")
        m.stages["train"].start -= seconds
        m.fail("train", "SIGTERM")
    m.start("train", "fp")
    m.stages["train"].start -= 30.0
    rec = m.finish("train", [])
    assert rec.earlier_seconds == pytest.approx(150.0, abs=0.1) and rec.seconds == pytest.approx(30.0, abs=0.1)
    assert Manifest(tmp_path).get("train").earlier_seconds == rec.earlier_seconds  # persisted
    assert cost_block(smoke_config, tmp_path, 1, device=("CPU", 1))["device_seconds"]["train"] == pytest.approx(180, abs=0.3)
    m.fail("train", "crash")
    m.start("train", "other inputs")
    assert m.stages["train"].earlier_seconds == 0.0


def test_changed_inputs_clear_what_the_stage_owns(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    execute(smoke_config, tmp_path, impl=f.impl())
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "old").write_text("stale")
    execute(override(smoke_config, ["train.steps=3"]), tmp_path, impl=f.impl())
    assert "checkpoints" in BY_NAME["train"].writes
    assert not (tmp_path / "checkpoints").exists()


def test_manifest_survives_reload_and_rejects_garbage(tmp_path):
    m = Manifest(tmp_path)
    m.start("ingest", "abc")
    m.finish("ingest", ["x"], summary={"n": 1})
    again = Manifest(tmp_path)
    assert again.get("ingest").fingerprint == "abc" and again.get("ingest").summary == {"n": 1}
    assert again.why_not_current("ingest", "abc") is not None  # output x does not exist
    (tmp_path / "x").write_text("")
    assert again.why_not_current("ingest", "abc") is None and again.why_not_current("ingest", "abd") is not None
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArcError, match="manifest"):
        Manifest(tmp_path)
    assert fingerprint({"a": 1}, [1, 2]) == fingerprint({"a": 1}, (1, 2))
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_budget_cuts_train_time_and_skips_when_none_left(smoke_config):
    import time

    smoke_config = override(smoke_config, ["run.time_budget=100", "run.reserve=0.2"])
    ctx = Context(deadline=time.time() + 100)
    new, sets = budgeted("train", smoke_config, ctx)
    assert 75 <= new.train.time_budget_s <= 80 and sets == [f"train.time_budget_s={new.train.time_budget_s}"]
    late = Context(deadline=time.time() + 10)
    assert budgeted("train", smoke_config, late)[0] is None  # 10 s left < 20 s reserve: no training
    assert budgeted("predict", smoke_config, late)[0] is smoke_config
    assert budgeted("train", smoke_config, Context())[0] is smoke_config  # no deadline, no change


def test_editing_a_source_file_reruns_ingest(tmp_path, smoke_config):
    import os

    src = tmp_path / "mine_challenges.json"
    src.write_text("{}")
    smoke_config = override(smoke_config, [f"data.target={src}"])
    before = fingerprints(smoke_config)
    src.write_text('{"a": 1}')
    os.utime(src, ns=(1, 1))
    after = fingerprints(smoke_config)
    assert after["ingest"] != before["ingest"] and after["report"] != before["report"]
    (tmp_path / "mine_solutions.json").write_text("{}")  # a solutions file appearing counts too
    assert fingerprints(smoke_config)["ingest"] != after["ingest"]


def test_killed_stage_resumes_even_when_an_earlier_stage_reruns(tmp_path, smoke_config, fake_stages):
    f = fake_stages()
    f.fail_on = "train"
    with pytest.raises(RuntimeError):
        execute(smoke_config, tmp_path, impl=f.impl())
    (tmp_path / "build.out").unlink()  # build reruns (same inputs)...
    assert [r.action for r in plan(smoke_config, tmp_path)][1:3] == ["run", "resume"]
    f.fail_on = None
    execute(smoke_config, tmp_path, impl=f.impl())
    assert (tmp_path / "checkpoints" / "latest").exists()  # ...and train's checkpoints survive
