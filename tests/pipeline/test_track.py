"""pipeline/track.py: experiment tracking fed by the same metrics rows as metrics.jsonl; optional."""

import importlib.util
import json

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
