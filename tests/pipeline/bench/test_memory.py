"""`bench memory`: the saved-for-backward count behind the presets' per-example memory figures."""

from __future__ import annotations

import json

import pytest
import torch

from arc_pipeline.bench.memory import per_example, saved_bytes
from arc_pipeline.solver.config import ModelConfig
from arc_pipeline.solver.device import Runtime
from arc_pipeline.solver.model import TRM

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = dict(hidden=32, n_latent=2, n_recursions=2, seq_len=20, puzzle_emb_len=4, layers=1)


def test_saved_state_grows_linearly_with_the_batch_and_fixed_terms_drop_out():
    model = TRM(ModelConfig(num_puzzles=8, heads=2, **TINY)).train()
    rt = Runtime(torch.device("cpu"), torch.float32)
    two, three, four = (saved_bytes(model, rt, b) for b in (2, 3, 4))
    assert four - three == three - two > 0
    # a lower bound: each of the n+1 calls with gradients keeps at least one (S, H) fp32 norm output per block
    positions, calls = 24, TINY["n_latent"] + 1
    assert three - two >= calls * 2 * positions * 32 * 4


def test_math_attention_keeps_the_probability_matrices_flash_does_not():
    long = dict(TINY, seq_len=60)  # S large beside the head width, as at ARC scale
    flash = per_example(**long, dtype="float32", attention="flash")
    math = per_example(**long, dtype="float32", attention="math")
    bf16 = per_example(**long, dtype="bfloat16", attention="flash")
    heads, s, calls = 8, 64, TINY["n_latent"] + 1
    probs = calls * heads * s * s * 4 / 2**20  # one fp32 (heads, S, S) softmax output per call
    extra = math["saved_mib_per_example"] - flash["saved_mib_per_example"]
    assert 0.75 * probs <= extra <= 1.25 * probs  # less flash's own output and logsumexp
    assert bf16["saved_mib_per_example"] < flash["saved_mib_per_example"]
    assert flash["peak_mib_per_example"] == pytest.approx(flash["saved_mib_per_example"] + 2 * flash["carry_mib_per_example"])


@pytest.mark.integration
def test_the_command_prints_json(cli):

    args = ["bench", "memory", "--json", "--hidden", "32", "--n-latent", "1", "--n-recursions", "1",
            "--seq-len", "8", "--layers", "1", "--batch", "768", "--threads", "1"]
    out = cli(*args)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["rows"]
    assert [(r["dtype"], r["attention"]) for r in rows] == [("bfloat16", "flash"), ("bfloat16", "math"),
                                                            ("float32", "flash"), ("float32", "math")]
    assert all(r["gib_at_batch"]["768"] > 0 for r in rows)
