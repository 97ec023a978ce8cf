"""`arc-pipeline bench train` on micro settings: it times real training steps and reports them."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from pipeline.bench import train as bench
from solver.config import ModelConfig

MICRO = bench.Setting("micro", hidden=32, layers=1, n_latent=1, n_recursions=2, seq_len=6, vocab_size=5, batch=4,
                      heads=4, puzzle_emb_len=2)



pytestmark = pytest.mark.usefixtures("one_thread")


def test_flops_count_by_hand():
    cfg = ModelConfig(hidden=8, heads=2, layers=1, n_latent=1, n_recursions=2, seq_len=3, vocab_size=4,
                      puzzle_emb_len=1, expansion=4.0)
    s, h, inner = 4, 8, 256  # swiglu inner rounds up to 256
    call = 2 * s * (4 * h * h + 3 * h * inner) + 4 * s * s * h
    assert bench.flops_per_example(cfg) == call * (2 * 2 + 2 * 2) + 2 * 3 * h * 4 * 3


def test_measure_times_trainer_steps():
    r = bench.measure(MICRO, steps=2, warmup=1, device="cpu", dtype="float32", compile=False)
    assert r["examples_per_s"] > 0 and r["batch"] == 4
    assert abs(r["examples_per_s"] * r["seconds_per_step"] - 4) < 1e-6
    assert r["timed"] == "solver.train.Trainer.step"


def test_cli_json_reports_both_configs_and_the_reference_ratio(monkeypatch):
    monkeypatch.setattr(bench, "SETTINGS", {"arc": MICRO, "tiny": MICRO})
    result = CliRunner().invoke(bench.cmd, ["--json", "--steps", "1", "--warmup", "0"])  # reference settings
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["arc"] > 0 and out["tiny"] > 0
    assert out["arc_vs_reference"] == out["arc"] / bench.REFERENCE["arc"]
    table = CliRunner().invoke(bench.cmd, ["--only", "tiny", "--steps", "1", "--warmup", "0", "--batch", "2", "--threads", "1"])
    assert table.exit_code == 0 and "n/a" in table.output
