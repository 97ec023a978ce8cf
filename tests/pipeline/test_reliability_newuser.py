"""What a new user saw (issue 23): notes printed over the live bar, a speed note that ignored the
time budget, a grid decoding to 0x0 called "no prediction"."""

import io

import pytest

from rich.console import Console

from arc_pipeline import ui


def test_a_note_during_a_live_bar_is_printed_above_it_through_the_bar_s_console(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(ui, "console", Console(file=out, force_terminal=True, width=100, highlight=False))
    monkeypatch.setattr(ui, "err_console", Console(file=err, force_terminal=True, width=100, highlight=False))
    monkeypatch.delenv(ui.PROGRESS_ENV, raising=False)
    with ui.progress("train", 10, unit="step") as advance:
        advance(1)
        ui.note("train: 3 steps/s so far")
    ui.note("after the bar")
    assert "train: 3 steps/s so far" in err.getvalue() and "so far" not in out.getvalue()
    assert "after the bar" in out.getvalue() and not ui._live


def test_the_speed_note_says_where_the_budget_stops_training():
    from arc_pipeline.stages.train import speed_note

    text = speed_note(rate=2.0, step=100, steps=10_000, budget_left=480.0)  # 4,950 s needed, 8 min left
    assert "the time budget (8 min left) stops training at about step 1,060 of 10,000" in text
    assert text.endswith("the remaining 9,900 steps would need about 82 min")
    assert speed_note(rate=2.0, step=100, steps=200, budget_left=480.0).endswith("about 50 s for the remaining 100 steps")
    assert "budget" not in speed_note(rate=2.0, step=100, steps=10_000, budget_left=None)


@pytest.mark.integration
def test_a_prediction_that_decodes_to_no_grid_is_not_called_no_prediction(tmp_path, tiny_config, cli):
    import json

    import polars as pl

    run = tmp_path / "r"
    assert cli("ingest", "--config", tiny_config, "--run-dir", run).exit_code == 0
    target = json.loads((run / "tasks" / "target.json").read_text())
    first = sorted(target)[0]
    # the model ran on the first task (every prediction decoded to a 0x0 grid, so no candidate), not on the rest
    pl.DataFrame({"task_id": [first], "test_index": [0], "rows_halt": [0], "cols_halt": [0]}).write_parquet(
        run / "predictions_raw.parquet")
    res = cli("submit", "--run-dir", run)
    assert res.exit_code == 0, res.output
    n = sum(len(t["test"]) for t in target.values())
    assert f"{n} of {n} test inputs had no usable candidate: 1 were predicted but no prediction decoded" in res.output
    summary = json.loads((run / "manifest.json").read_text())["stages"]["submit"]["summary"]
    assert summary["fallbacks_undecoded"] == 1 and summary["fallbacks"] == n
