"""pipeline/ui.py: plain progress records off a terminal, and an ETA that respects the time budget."""

import time
from types import SimpleNamespace

import pytest

from arc_pipeline import ui


def test_eta_comes_from_the_budget_when_it_binds():
    now = time.time()
    assert ui.eta(5400.0, now + 60, now) == (pytest.approx(60, abs=1), True)
    assert ui.eta(30.0, now + 60, now) == (30.0, False)
    assert ui.eta(None, now + 60, now)[1] is True and ui.eta(30.0, None, now) == (30.0, False)
    # the terminal bar's column: a step-count ETA of 1.5 h, a budget ending in a minute
    text = ui._BudgetRemaining().render(SimpleNamespace(time_remaining=5400.0, fields={"stop_at": now + 61}))
    assert str(text).startswith("budget 0:01:0")


def test_records_carry_step_loss_accuracy_rate_eta_and_budget(monkeypatch, capsys):
    monkeypatch.setenv(ui.EVERY_ENV, "0")
    clock = [1000.0]
    monkeypatch.setattr(ui, "time", SimpleNamespace(time=lambda: clock[0]))
    # 10 steps in 60 s: 90 more take 540 s, but the budget stops the stage 30 s from now
    with ui.progress("train", 100, unit="step", stop_at=1090.0, deadline=1600.0) as advance:
        clock[0] = 1060.0
        advance(10, metrics={"loss": 1.5, "exact_accuracy": 0.25, "examples_per_s": 12.5})
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress")]
    assert len(lines) == 1  # nothing new at the end: no repeat
    assert "step 10/100 10%" in lines[0] and "loss 1.5" in lines[0] and "exact 0.250" in lines[0]
    assert "12.5 examples/s" in lines[0] and "ETA 0:00:30 (budget)" in lines[0]
    assert "budget left 0:09:00" in lines[0] and "elapsed 0:01:00" in lines[0]


def test_records_come_at_a_steady_interval(monkeypatch, capsys):
    monkeypatch.setenv(ui.EVERY_ENV, "3600")
    with ui.progress("predict", 50, unit="pred") as advance:
        for _ in range(50):
            advance(1)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress")]
    assert [line.split(" | ")[0] for line in lines] == ["progress predict pred 1/50 2%", "progress predict pred 50/50 100%"]


@pytest.mark.integration
def test_piped_run_reports_progress_during_training(tmp_path, monkeypatch, tiny_run):

    monkeypatch.setenv(ui.EVERY_ENV, "0")
    result = tiny_run(tmp_path / "r", "--time-budget", "30m")
    assert result.exit_code == 0, result.output
    out = result.output
    records = [line for line in out.splitlines() if line.startswith("progress train")]
    assert len(records) >= 6 and "step 3/6" in records[2] and "loss" in records[2] and "examples/s" in records[2]
    assert "budget left" in records[2] and "ETA" in records[2]
    assert out.index("progress train step 3/6") < out.index("step=6")  # while training, not in its summary
