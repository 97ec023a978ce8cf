"""pipeline/track.py: experiment tracking fed by the same metrics rows as metrics.jsonl; optional."""

import importlib.util
import json
import time

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline import track


class Memory:
    """A tracker backend that keeps what it was sent."""

    sent: list = []

    def __init__(self, run_dir, config):
        Memory.sent.append(("open", str(run_dir), sorted(config)))

    def log(self, stage, step, values):
        Memory.sent.append((stage, step, values))

    def finish(self, figures):
        Memory.sent.append(("finish", figures))

    def close(self):
        Memory.sent.append(("close",))


def test_numeric_keeps_finite_numbers_only():
    assert track.numeric({"step": 3, "loss": 1.0, "lr": 2, "val": [1], "bad": float("nan"), "ok": True}) == \
        {"loss": 1.0, "lr": 2.0}


def test_unknown_or_missing_trackers_are_refused_up_front(tmp_path, monkeypatch):
    with pytest.raises(ArcError, match="unknown"):
        track.Tracker(("mlflow",), tmp_path)
    monkeypatch.setitem(track.NEEDS, "wandb", "no_such_module_xyz")
    with pytest.raises(ArcError, match=r"arc-pipeline\[wandb\]"):
        track.Tracker(("wandb",), tmp_path)


@pytest.mark.integration
def test_run_sends_the_metrics_stream_to_the_tracker(tmp_path, monkeypatch, tiny_run):
    monkeypatch.setitem(track.BACKENDS, "tensorboard", Memory)
    monkeypatch.setitem(track.NEEDS, "tensorboard", "json")  # any installed module: the backend is ours
    Memory.sent = []
    result = tiny_run(tmp_path / "r", "--set", 'run.track=["tensorboard"]')
    assert result.exit_code == 0, result.output
    assert Memory.sent[0][0] == "open" and Memory.sent[-1] == ("close",)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in Memory.sent if m[0] == "train"]
    assert [m[1] for m in logged] == [r["step"] for r in rows] and logged[-1][2]["loss"] == rows[-1]["loss"]
    # at the end of the run: the score, pass@K both ways, predict and vote figures, hparams, halting steps
    assert Memory.sent[-2][0] == "finish"
    figures = Memory.sent[-2][1]
    score = json.loads((tmp_path / "r" / "score.json").read_text())
    assert figures.scalars["score/micro"] == score["micro"] and figures.step == rows[-1]["step"]
    assert figures.scalars["score/pass@2/per_task"] == score["pass_at_k"]["per_task"]["2"]
    assert figures.scalars["score/pass@2/per_output"] == score["pass_at_k"]["per_output"]["2"]
    assert {"predict/predictions", "predict/planned", "predict/fallbacks", "vote/distinct_per_input_mean"} <= set(figures.scalars)
    assert figures.hparams["run.track"] == "('tensorboard',)" and figures.hparams["model.hidden"] > 0
    assert len(figures.halt_steps) == figures.scalars["predict/predictions"]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_writes_event_files(tmp_path, tiny_run):
    result = tiny_run(tmp_path / "r", "--set", 'run.track=["tensorboard"]')
    assert result.exit_code == 0, result.output
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "r" / track.TENSORBOARD_DIR))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]


@pytest.mark.integration
@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed")
def test_wandb_offline_run_needs_no_internet(tmp_path, monkeypatch, tiny_run):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    result = tiny_run(tmp_path / "r", "--set", 'run.track=["wandb"]')
    assert result.exit_code == 0, result.output
    runs = list((tmp_path / "r" / track.WANDB_DIR).glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))


def _two_tasks(make, root):
    """A run of two tasks: one solved (3 votes for the truth), one not (3 votes for a wrong grid)."""
    truth = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    return make(root, {"a": [(truth.T, truth, [truth] * 3)], "b": [(truth.T, truth, [truth + 1] * 3)]})


def test_run_figures_read_back_what_a_run_left(tmp_path, monkeypatch, crafted_report_run):
    from arc_pipeline.config import load_config, write_config
    from arc_pipeline.manifest import Manifest

    run = _two_tasks(crafted_report_run, tmp_path / "run")
    write_config(load_config("smoke"), run / "config.toml")
    m = Manifest(run)
    for stage, summary in (("train", {"step": 850}), ("predict", {"predictions": 6, "of": 8, "candidates": 3}),
                           ("submit", {"fallbacks": 1, "entries": 3})):
        m.start(stage, "f")
        m.finish(stage, [], summary=summary)
    f = track.run_figures(run)
    assert f.step == 850 and f.halt_steps == [2] * 6
    assert f.scalars["score/pass@1/per_task"] == 0.5 and f.scalars["score/pass@1/per_output"] == 0.5
    assert f.scalars["score/micro"] == 0.5 and f.scalars["score/tasks_solved"] == 1.0
    assert f.scalars["predict/planned"] == 8 and f.scalars["predict/fallbacks"] == 1
    assert f.scalars["vote/top_share_mean"] == 1.0 and f.scalars["vote/distinct_per_input_mean"] == 1.0
    assert f.hparams["model.hidden"] == 64 and f.hparams["data.target"] == "arc1/evaluation"
    assert all(isinstance(v, (bool, int, float, str)) for v in f.hparams.values())
    Memory.sent = []
    monkeypatch.setitem(track.BACKENDS, "memory", Memory)
    tracker = track.Tracker(("memory",), run)
    tracker.finish()
    tracker.close()
    assert [m[0] for m in Memory.sent] == ["open", "finish", "close"] and Memory.sent[1][1] == f


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_gets_the_end_of_run_figures(tmp_path, crafted_report_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _two_tasks(crafted_report_run, tmp_path / "run")
    tracker = track.Tracker(("tensorboard",), run, {})
    tracker.finish()
    tracker.close()
    acc = EventAccumulator(str(run / track.TENSORBOARD_DIR), size_guidance={"histograms": 0})
    acc.Reload()
    assert acc.Scalars("score/pass@2/per_output")[0].value == 0.5 and "score/micro" in acc.Tags()["scalars"]
    assert acc.Histograms("predict/halt_step")[0].histogram_value.num == 6
    assert any((run / track.TENSORBOARD_DIR / track.HPARAMS_RUN).iterdir())


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed")
def test_wandb_gets_the_end_of_run_figures_offline(tmp_path, monkeypatch, crafted_report_run):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = _two_tasks(crafted_report_run, tmp_path / "run")
    tracker = track.Tracker(("wandb",), run, {})
    tracker.finish()
    tracker.close()
    path = next((run / track.WANDB_DIR).glob("offline-run-*/*.wandb"))  # W&B's own record stream
    for _ in range(100):  # its service process may still be writing it
        log = path.read_bytes()
        if b"vote/top_share_mean" in log:
            break
        time.sleep(0.1)
    assert b"score/pass@2/per_output" in log and b"predict/halt_step" in log and b"vote/top_share_mean" in log
