"""`bench memory`: the saved-for-backward count behind the presets' per-example memory figures."""

from __future__ import annotations

import json

import pytest
import torch

from arc_pipeline.bench.memory import counts, device_bytes, per_example, saved_bytes
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


# ---- the memory model ---------------------------------------------------------------------------------------


def test_saved_bytes_at_a_fifth_batch_are_what_two_and_three_predict():
    """The model's activation term, fixed + per example x chunk, against a measurement at another batch."""
    model = TRM(ModelConfig(num_puzzles=8, heads=2, **TINY)).train()
    rt = Runtime(torch.device("cpu"), torch.float32)
    two, three, five = (saved_bytes(model, rt, b) for b in (2, 3, 5))
    per, fixed = three - two, 3 * two - 2 * three
    assert fixed + 5 * per == five


@pytest.mark.parametrize("where", ["device", "host"])
def test_the_model_parts_are_the_bytes_a_trainer_holds(cpu_runtime, toy_configs, toy_source, where):
    """Weights, gradients, optimizer moments, EMA, buffers, the table, carries, tokens and puzzle rows in
    flight, each against the tensors of a real (tiny) trainer in the middle of a step."""
    from arc_pipeline.solver.train import Trainer

    mcfg, tcfg = toy_configs(global_batch=4, puzzle_table=where)
    mcfg = ModelConfig(**{**mcfg.__dict__, "num_puzzles": 50})
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    tr.step()  # optimizer moments exist
    tr.refill()
    tr._forward_backward()
    c = counts(mcfg, {"saved_mib_per_example": 0.0, "fixed_saved_mib": 0.0, "dtype": "float32"})
    parts = device_bytes(c, mcfg.num_puzzles, tr.batch, tr.batch, where == "device", tcfg.global_batch)

    def nbytes(tensors) -> int:
        return sum(t.numel() * t.element_size() for t in tensors)

    params = [p for p in tr.model.parameters() if p.requires_grad]
    emb = tr.model.puzzle_emb
    assert parts["weights"] == nbytes(params) and parts["grads"] == nbytes(p.grad for p in params)
    assert parts["optimizer"] == nbytes(t for s in tr.optimizer.state.values() for t in s.values() if torch.is_tensor(t))
    assert parts["ema"] == nbytes(tr.ema.shadow.values())
    assert parts["buffers"] == nbytes(b for n, b in tr.model.named_buffers() if n != "puzzle_emb.table")
    assert parts["table"] == (nbytes([emb.table]) if where == "device" else 0)
    assert parts["carries"] == 2 * nbytes([tr.carry["y"], tr.carry["z"]])  # the old ones and the step's new ones
    assert parts["slots"] == nbytes([tr.carry["inputs"], tr.carry["labels"]])
    ids, grads = emb.pop_grads()  # one process: the gathered ids and gradients are these
    assert parts["puzzle_rows"] == 2 * nbytes([grads]) + nbytes([ids, grads])
    if where == "host":  # the host side: the shared table, and the writer's two bytes per row once it counts rows
        emb.host.count_rows(None, "rows 1..")
        assert nbytes([emb.host.tensor]) == 4 * mcfg.num_puzzles * mcfg.hidden
        assert emb.host.changed.nbytes + emb.host.counted.nbytes == 2 * mcfg.num_puzzles


def test_the_model_at_scale_says_what_fits_an_80_gb_card():
    # the ARC configuration's counts as `bench memory` measures them (6.83M parameters, 158 MiB saved per example)
    from arc_pipeline.bench.memory import GIB, MIB, Counts, scale_rows

    c = Counts(params=6_828_545, buffers=238_592, hidden=512, positions=916, seq_len=900,
               saved_per_example=158.0 * MIB, saved_fixed=30 * MIB, act_bytes=2)
    rows = {(r["data"], r["gpus"], r["placement"]): r for r in scale_rows(c)}
    assert len(rows) == 3 * 3 * 2
    one = rows[("ARC-AGI-1 x 1000", 1, "device")]
    assert one["fits_80gb"].startswith("micro_batch") and one["device_gib_whole_batch"] > 100
    assert one["device_gib"] <= 0.9 * 81_559 * MIB / GIB
    big = rows[("ARC-AGI-2 + NVARC x 1000", 8, "device")]
    assert big["fits_80gb"] == "no" and big["table_gb"] > 200  # the table alone is larger than the card
    host = rows[("ARC-AGI-2 + NVARC x 1000", 8, "host")]
    assert host["fits_80gb"] == "yes" and host["host_gib_steady"] > big["table_gb"] * 1e9 / GIB
    assert host["written_per_checkpoint_gb"] < big["written_per_checkpoint_gb"] / 100
