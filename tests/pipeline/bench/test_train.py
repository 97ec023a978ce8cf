"""`arc-pipeline bench train` on micro settings: it times real training steps and reports them."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from arc_pipeline.bench import train as bench
from arc_pipeline.solver.config import ModelConfig

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


def test_matmul_peak_is_a_measured_rate(monkeypatch):
    calls = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda *a, **k: calls.append(a[0].shape) or real_mm(*a, **k))
    rate = bench.matmul_peak("cpu", "float32", size=64, repeats=2)
    assert calls == [(64, 64)] * 3  # one warm-up, then the timed ones
    assert 0 < rate < 1e6  # GFLOP/s, not FLOP/s


@pytest.mark.integration
def test_cli_json_reports_rates_against_the_measured_peak(monkeypatch):
    monkeypatch.setattr(bench, "SETTINGS", {"arc": MICRO, "tiny": MICRO})
    result = CliRunner().invoke(bench.cmd, ["--json", "--steps", "1", "--warmup", "0", "--peak-size", "128"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["arc"] > 0 and out["tiny"] > 0
    assert len(out["matmul_peak_runs"]) == 2 and out["matmul_peak_gflops_per_s"] == max(out["matmul_peak_runs"])
    for name in ("arc", "tiny"):
        d = out["details"][name]
        assert out[f"{name}_gflops_per_s"] == d["gflops_per_s"] == pytest.approx(
            bench.flops_per_example(_micro_cfg()) * out[name] / 1e9)
        assert out[f"{name}_fraction_of_peak"] == pytest.approx(d["gflops_per_s"] / out["matmul_peak_gflops_per_s"])
    assert "reference" not in out and not any(k.endswith("_vs_reference") for k in out)
    table = CliRunner().invoke(bench.cmd, ["--only", "tiny", "--steps", "1", "--warmup", "0", "--batch", "2",
                                           "--threads", "1", "--peak-size", "128"])
    assert table.exit_code == 0 and "of peak" in table.output and "GFLOP/s" in table.output


def _micro_cfg() -> ModelConfig:
    m = MICRO
    return ModelConfig(vocab_size=m.vocab_size, seq_len=m.seq_len, num_puzzles=1000, hidden=m.hidden, heads=m.heads,
                       layers=m.layers, n_latent=m.n_latent, n_recursions=m.n_recursions, puzzle_emb_len=m.puzzle_emb_len)
