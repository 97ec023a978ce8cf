"""`bench table`: the step with the puzzle table on the device vs off it, and a host table's checkpoint cost."""

from __future__ import annotations

import json

import pytest


@pytest.mark.integration
def test_the_command_times_both_placements_and_the_checkpoints(cli, tmp_path):
    out = cli("bench", "table", "--size", "tiny", "--rows", "3000", "--steps", "2", "--warmup", "1",
              "--checkpoint-steps", "2", "--threads", "1", "--device", "cpu", "--dir", tmp_path, "--json")
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["rows"] == 3000 and res["tables_equal_after"] and res["resumed_equal"]
    assert res["device_s_median"] > 0 and res["host_s_median"] > 0 and res["ratio_median"] > 0
    # a delta holds the rows a few steps changed, far fewer than the base's
    assert 0 < res["delta_rows"] < 3000 and 0 < res["delta_checkpoint_gb"] < res["base_checkpoint_gb"]
    assert not any(tmp_path.iterdir())  # the checkpoints were temporary; the host table's file is unlinked
