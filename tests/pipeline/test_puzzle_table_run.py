"""A whole run with the puzzle table off the device (train.puzzle_table = "host") predicts exactly what
the same run with the table on the device predicts."""

import json

import polars as pl
import pytest


@pytest.mark.integration
def test_a_run_with_the_host_table_predicts_what_the_device_table_predicts(tmp_path, tiny_run):
    run_dir = tmp_path / "run"
    assert tiny_run(run_dir).exit_code == 0
    device = pl.read_parquet(run_dir / "predictions.parquet")
    result = tiny_run(run_dir, "--from", "train", "--set", "train.puzzle_table=host")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(run_dir / "predictions.parquet").equals(device)
    latest = run_dir / "checkpoints" / (run_dir / "checkpoints" / "latest").read_text().strip()
    assert "table" in json.loads((latest / "meta.json").read_text())  # stored apart, not in weights.pt
    assert any((run_dir / "checkpoints" / "table").iterdir())
