"""Issue 24: the Python API (`arc_pipeline.run`, the stage functions) runs exactly as the CLI does:
the time budget, the run directory's lock and tracking; `import arc_pipeline` loads no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import arc_pipeline
from arc_pipeline.arc.errors import ArcError


def test_import_is_light_and_the_api_is_at_the_root():
    code = ("import sys, arc_pipeline; f = arc_pipeline.run, arc_pipeline.train, arc_pipeline.score; "
            "print(sorted(m for m in ('torch', 'numba', 'polars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert arc_pipeline.api.report.__name__ == "report" and "run" in dir(arc_pipeline)


def test_the_api_holds_the_lock_and_feeds_the_trackers(tmp_path, tiny_config, fake_stages, monkeypatch):
    from arc_pipeline import track
    from arc_pipeline.rundir import RunDir

    rows = []

    class Recorder:
        def __init__(self, *a):
            pass

        def log(self, stage, row):
            rows.append((stage, row))

        def finish(self):
            rows.append(("finished", {}))

        def close(self):
            rows.append(("closed", {}))

    monkeypatch.setattr(track, "for_run", lambda cfg, run_dir: Recorder())
    fake = fake_stages()
    impl = fake.impl()
    plain = impl["train"]

    def train(cfg, run_dir, ctx):
        ctx.metrics("train", {"step": 1, "loss": 2.0})
        with pytest.raises(ArcError, match="in use by another run"):  # a second run is refused while this holds
            arc_pipeline.run(tiny_config, run_dir, impl=fake_stages().impl())
        return plain(cfg, run_dir, ctx)

    impl["train"] = train
    result = arc_pipeline.run(tiny_config, tmp_path / "run", impl=impl)
    assert fake.calls == list(result.records) and all(r.status == "done" for r in result.records.values())
    assert ("train", {"step": 1, "loss": 2.0}) in rows and rows[-1] == ("closed", {})  # (the refused run closed its own)
    assert rows[-2] == ("finished", {})  # the end-of-run figures, sent once the whole run is through
    assert {r.action for r in result.plan.values()} == {"run"}
    again = arc_pipeline.train(tiny_config, tmp_path / "run", impl=fake_stages().impl())
    assert again.plan["train"].action == "cached" and list(again.records)[:1] == ["ingest"]
    rows.clear()  # a finished run run again, or its report verb: every stage cached, nothing sent again
    arc_pipeline.run(tiny_config, tmp_path / "run", impl=fake_stages().impl())
    arc_pipeline.api.report(tiny_config, tmp_path / "run", impl=fake_stages().impl())
    assert ("finished", {}) not in rows
    arc_pipeline.api.report(tiny_config, tmp_path / "run", force=True, impl=fake_stages().impl())
    assert rows[-2:] == [("finished", {}), ("closed", {})]  # a report made anew sends them
    with RunDir(tmp_path / "run").lock():
        with pytest.raises(ArcError, match="in use"):
            arc_pipeline.score(tiny_config, tmp_path / "run", impl=fake_stages().impl())


def test_a_pipeline_config_and_sets_resolve_like_the_cli(tmp_path, tiny_config):
    from arc_pipeline.config import load_config

    cfg, rdir, _ = arc_pipeline.resolve_config(tiny_config, tmp_path / "r", sets=["train.steps=3"])
    assert cfg == load_config(files=[tiny_config], sets=["train.steps=3"]) and rdir == tmp_path / "r"
    same, _, _ = arc_pipeline.resolve_config(load_config(files=[tiny_config]), tmp_path / "r", sets=["train.steps=3"])
    assert same == cfg
    assert arc_pipeline.resolve_config("smoke")[1].name == "smoke"
    with pytest.raises(ArcError, match="neither a preset"):
        arc_pipeline.resolve_config("no-such-preset")
    with pytest.raises(ArcError, match="run_dir is needed"):
        arc_pipeline.resolve_config(cfg)


def test_the_api_honours_the_time_budget(tmp_path, tiny_config, fake_stages):
    """What `execute(load_config(...))` ignored (a 15 s budget ran 300 steps in 90 s where the CLI stopped
    at 29 steps in 20 s): the run's budget is the deadline, and train gets its share of it."""
    seen = {}
    impl = fake_stages().impl()
    plain = impl["train"]

    def train(cfg, run_dir, ctx):
        seen.update(limit=cfg.train.time_budget_s, deadline=ctx.deadline)
        return plain(cfg, run_dir, ctx)

    impl["train"] = train
    t0 = time.time()
    arc_pipeline.run(tiny_config, tmp_path / "run", sets=['run.time_budget="15s"', "run.reserve=0.2"], impl=impl)
    assert t0 + 15 <= seen["deadline"] <= time.time() + 15
    assert 0 < seen["limit"] <= 15 * (1 - 0.2)
    seen.clear()
    arc_pipeline.train(tiny_config, tmp_path / "run", sets=['run.time_budget="15s"'], force=True, impl=impl)
    assert seen == {"limit": 0.0, "deadline": None}  # a lone stage, as `arc-pipeline train`: no deadline


@pytest.mark.integration
@pytest.mark.slow
def test_a_budgeted_api_run_stops_training_in_time(tmp_path, tiny_config):
    t0 = time.time()
    result = arc_pipeline.run(tiny_config, tmp_path / "run", sets=['run.time_budget="30s"', "run.reserve=0.4",
                                                                   "train.steps=1000000", "train.checkpoint_every=50"])
    took = time.time() - t0
    assert result.records["train"].summary["stopped"] == "time_budget", result.records["train"].summary
    assert took < 30 + 10 and result.records["submit"].status == "done"


@pytest.mark.integration
def test_the_same_run_through_the_cli_and_the_api_gives_the_same_manifest_and_outputs(tmp_path, tiny_run, tiny_config):
    by_cli = tiny_run(tmp_path / "cli")
    assert by_cli.exit_code == 0, by_cli.output
    result = arc_pipeline.run(tiny_config, tmp_path / "api")
    cli = json.loads((tmp_path / "cli" / "manifest.json").read_text())["stages"]
    api = json.loads((tmp_path / "api" / "manifest.json").read_text())["stages"]
    assert list(cli) == list(api) == list(result.records)
    for stage in cli:
        a, b = cli[stage], api[stage]
        assert (a["status"], a["fingerprint"], a["outputs"]) == (b["status"], b["fingerprint"], b["outputs"]), stage
    # every output is byte-identical but what records time (metrics, checkpoint meta, score.json's cost, the report)
    timed = ("metrics.jsonl", "meta.json", "score.json", "report", "checkpoints/")
    for stage in cli:
        for f, digest in cli[stage]["digests"].items():
            if not any(t in f for t in timed):
                assert api[stage]["digests"][f] == digest, f
    assert (tmp_path / "cli" / "config.toml").read_text() == (tmp_path / "api" / "config.toml").read_text()
