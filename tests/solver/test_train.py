"""The training loop: slots, halting and refill, exploration, the sampler, sparse puzzle rows,
frozen trunk, time budget and metrics. Tiny models on CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import Runtime
from arc_pipeline.solver.sampler import Sampler
from arc_pipeline.solver.evaluate import evaluate
from arc_pipeline.solver.train import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def forced_halts(tr: Trainer, schedule: list[list[float]]) -> None:
    """Replace the halting logits the loop sees with a fixed schedule (one row per step)."""
    real = tr.forward
    calls = iter(schedule)

    def forward(*args):
        y, z, logits, _ = real(*args)
        return y, z, logits, torch.tensor(next(calls))

    tr.forward = forward


def test_halting_and_refill_on_a_fixed_batch(cpu_runtime, toy_configs, toy_source):
    src = toy_source()
    tr = Trainer(*toy_configs(), src, cpu_runtime)
    forced_halts(tr, [[1.0, -1.0, -1.0, 1.0], [-1.0] * 4, [-1.0] * 4])
    stream = Sampler(len(src), tr.cfg.seed)

    tr.step()  # step 1: every slot fresh; slots 0 and 3 ask to halt
    first = stream.indices_at(0, 4)
    assert torch.equal(tr.carry["inputs"], torch.from_numpy(src.inputs[first]).long())
    assert tr.carry["halted"].tolist() == [True, False, False, True]
    assert tr.carry["steps"].tolist() == [1, 1, 1, 1]
    assert tr.sampler.position == 4

    y_before = tr.carry["y"].clone()
    tr.refill()  # only the halted slots take the next examples of the stream, with reset state
    fresh = stream.indices_at(4, 2)
    assert torch.equal(tr.carry["inputs"][[0, 3]], torch.from_numpy(src.inputs[fresh]).long())
    assert torch.equal(tr.carry["inputs"][[1, 2]], torch.from_numpy(src.inputs[first[[1, 2]]]).long())
    assert tr.carry["steps"].tolist() == [0, 1, 1, 0]
    y0, _ = tr.model.initial_state(1, "cpu")
    assert torch.equal(tr.carry["y"][[0, 3]], y0.expand(2, -1, -1))
    assert torch.equal(tr.carry["y"][[1, 2]], y_before[[1, 2]])
    assert tr.sampler.position == 6
    tr.carry["halted"][:] = False  # refill is idempotent only through the loop; mark them taken

    tr.step()  # step 2: nobody asks to halt
    assert tr.carry["halted"].tolist() == [False] * 4
    assert tr.carry["steps"].tolist() == [1, 2, 2, 1]
    tr.step()  # step 3: slots 1 and 2 reach max_steps = 3
    assert tr.carry["halted"].tolist() == [False, True, True, False]
    assert tr.carry["steps"].tolist() == [2, 3, 3, 2]
    assert tr.sampler.position == 6  # nothing drawn for slots that did not halt


def test_per_example_exploration_sets_a_minimum_and_delays_halting(cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(halt_exploration=1.0, global_batch=16, exploration="per_example"), toy_source(), cpu_runtime)
    forced_halts(tr, [[5.0] * 16] * 2)
    tr.step()
    mins = tr.carry["min_steps"]
    assert ((mins >= 2) & (mins <= 3)).all()
    assert not tr.carry["halted"].any()  # a positive logit does not halt before the minimum
    tr.step()
    assert torch.equal(tr.carry["halted"], mins <= 2)

    tr0 = Trainer(*toy_configs(halt_exploration=0.0), toy_source(), cpu_runtime)
    forced_halts(tr0, [[5.0] * 4])
    tr0.step()
    assert tr0.carry["halted"].all()  # without exploration a positive logit halts after one step


def _always_halt_mean_steps(exploration: str, toy_configs, toy_source, cpu_runtime, steps: int = 200) -> float:
    """Mean supervision steps per finished example with a head that always says halt (N_sup 16, p 0.1).

    The network is replaced by a cheap stand-in (the halting rule, refill and sampler are the real
    ones): halting logit +20 for every slot, zero answer logits."""
    mcfg, tcfg = toy_configs(halt_exploration=0.1, global_batch=512, exploration=exploration, lr=0.0, puzzle_lr=0.0)
    mcfg = ModelConfig(**{**mcfg.__dict__, "max_steps": 16})
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    bias = tr.model.halt_head.bias

    def forward(inputs, puzzle_ids, y, z):
        b, seq = inputs.shape
        halt = (bias * 0 + 20.0).expand(b)
        return y, z, torch.zeros(b, seq, mcfg.vocab_size) + 0 * bias, halt

    tr.forward = forward
    for i in range(steps):
        tr.step()
        if i == 30:
            tr.take_metrics()  # burn-in: every slot started at step 0
    return tr.take_metrics()["mean_steps"]


def test_exploration_distributions_reference_vs_per_example(toy_configs, toy_source, cpu_runtime):
    # reference: P(run past step s) = 0.1 * prod_{k=2..s} 0.1 * (1 - (k-1)/15) -> 1.11 steps per example;
    # per example: 0.9 * 1 + 0.1 * mean(2..16) = 1.8
    ref = 1 + sum(0.1 * np.prod([0.1 * (16 - k) / 15 for k in range(2, s + 1)]) for s in range(1, 16))
    assert ref == pytest.approx(1.11, abs=0.005)
    assert _always_halt_mean_steps("reference", toy_configs, toy_source, cpu_runtime) == pytest.approx(ref, abs=0.02)
    assert _always_halt_mean_steps("per_example", toy_configs, toy_source, cpu_runtime) == pytest.approx(1.8, abs=0.06)


def test_reference_exploration_redraws_the_minimum_every_step(cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(halt_exploration=1.0, global_batch=64), toy_source(), cpu_runtime)
    forced_halts(tr, [[5.0] * 64] * 2)
    tr.step()
    assert not tr.carry["halted"].any()  # every minimum is >= 2
    tr.step()
    frac = tr.carry["halted"].double().mean().item()
    assert 0.25 < frac < 0.75  # step 2 halts where this step's draw (2 or 3) allows: about half
    assert torch.equal(tr.carry["min_steps"], torch.ones_like(tr.carry["min_steps"]))  # nothing kept per example


def test_sampler_streams_are_disjoint_across_ranks_and_cover_each_epoch():
    counts = [3, 2]
    one = Sampler(7, seed=3)
    ranks = [Sampler(7, seed=3) for _ in counts]
    for _ in range(4):
        combined, _ = one.take([sum(counts)])
        parts = [s.take(counts, r)[0] for r, s in enumerate(ranks)]
        assert np.array_equal(np.concatenate(parts), combined)
    stream = Sampler(7, seed=3).indices_at(0, 14)
    assert sorted(stream[:7]) == list(range(7)) and sorted(stream[7:]) == list(range(7))
    assert not np.array_equal(stream[:7], stream[7:])  # each epoch its own permutation
    assert not np.array_equal(stream, Sampler(7, seed=4).indices_at(0, 14))


def test_only_puzzle_rows_in_the_batch_change(cpu_runtime, toy_configs, toy_source):
    src = toy_source(puzzles=5)
    src.puzzle_ids[:] = np.where(np.arange(len(src)) % 2 == 0, 1, 2)  # rows 3, 4 never appear
    tr = Trainer(*toy_configs(puzzle_lr=0.1), src, cpu_runtime)
    before = tr.model.puzzle_emb.table.clone()
    tr.step()
    after = tr.model.puzzle_emb.table
    used = set(tr.carry["puzzle_ids"].tolist())
    for row in range(5):
        assert torch.equal(after[row], before[row]) != (row in used), row


def test_frozen_trunk_trains_only_puzzle_rows(cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(puzzle_lr=0.1), toy_source(), cpu_runtime)
    tr.trunk_frozen_until = 2
    params = [p.detach().clone() for p in tr.model.parameters()]
    table = tr.model.puzzle_emb.table.clone()
    tr.step(), tr.step()
    assert all(torch.equal(a, b) for a, b in zip(params, tr.model.parameters()))
    assert not torch.equal(table, tr.model.puzzle_emb.table)
    tr.step()
    assert not all(torch.equal(a, b) for a, b in zip(params, tr.model.parameters()))


def test_train_logs_metrics_and_stops_on_time_budget(tmp_path, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=10_000, time_budget_s=1.0, log_every=2)
    rows = []
    res = train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", on_metrics=rows.append, val_source=toy_source(16, seed=1))
    assert res.stopped == "time_budget" and 0 < res.step < 10_000
    assert res.checkpoint is not None and res.checkpoint.name == f"step_{res.step:08d}"
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == rows and lines[-1]["step"] == res.step
    keys = {"loss", "ce", "halt_loss", "token_accuracy", "exact_accuracy", "halt_accuracy", "mean_steps", "lr", "examples_per_s"}
    assert keys <= set(lines[0])
    assert "val_exact" in lines[-1] and res.val is not None and res.best is not None


def test_training_learns_a_toy_task(tmp_path, cpu_runtime, toy_source):
    """Reversing 4 tokens: loss falls and held-out exact accuracy rises well above chance."""
    src = toy_source(256, length=4)
    mcfg = ModelConfig(vocab_size=6, seq_len=4, num_puzzles=5, hidden=32, heads=2, layers=1, n_latent=1,
                       n_recursions=1, max_steps=2, puzzle_emb_len=1, halt_exploration=0.1)
    tcfg = TrainConfig(global_batch=32, steps=150, lr=3e-3, lr_warmup=10, weight_decay=0.01, log_every=50,
                       checkpoint_every=0, device="cpu", ema=0.0)
    rows = []
    res = train(mcfg, tcfg, src, tmp_path / "ckpt", on_metrics=rows.append, val_source=src, runtime=cpu_runtime)
    assert rows[-1]["loss"] < 0.6 * rows[0]["loss"]
    assert res.val["exact"] > 0.8  # chance is 4^-4


def test_evaluate_reports_per_step_accuracy(cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(), toy_source(), cpu_runtime)
    out = evaluate(tr.model, toy_source(10), cpu_runtime, batch_size=4)
    assert out["examples"] == 10 and len(out["exact_by_step"]) == 3
    assert 0.0 <= out["exact"] <= 1.0 and 1.0 <= out["mean_halt_step"] <= 3.0
    assert tr.model.training  # evaluation restores the mode it found
    assert evaluate(tr.model, toy_source(10), cpu_runtime, batch_size=4, limit=4)["examples"] == 4


def test_mismatched_source_is_a_user_error(cpu_runtime, toy_configs, toy_source):
    from arc_pipeline.arc.errors import ArcError

    mcfg, tcfg = toy_configs()
    with pytest.raises(ArcError, match="seq_len"):
        Trainer(mcfg, tcfg, toy_source(length=7), cpu_runtime)
    with pytest.raises(ArcError, match="global_batch"):
        Trainer(mcfg, tcfg, toy_source(), Runtime(torch.device("cpu"), torch.float32, world_size=3))


def test_without_puzzle_positions_the_table_is_untouched(cpu_runtime, toy_configs, toy_source):
    from dataclasses import replace

    mcfg, tcfg = toy_configs(puzzle_lr=0.1)
    tr = Trainer(replace(mcfg, puzzle_emb_len=0), tcfg, toy_source(), cpu_runtime)
    out = tr.step()
    assert torch.isfinite(out["loss"])
    assert torch.equal(tr.model.puzzle_emb.table, torch.zeros_like(tr.model.puzzle_emb.table))


@pytest.mark.slow
def test_compiled_step_matches_eager(cpu_runtime, toy_configs, toy_source):
    eager = Trainer(*toy_configs(), toy_source(), cpu_runtime)
    compiled = Trainer(*toy_configs(compile=True), toy_source(), cpu_runtime)
    for _ in range(3):
        a, b = eager.step(), compiled.step()
        assert torch.allclose(a["loss"], b["loss"], rtol=1e-4, atol=1e-5)


def test_trainer_uses_the_reference_rule_on_a_grouped_source_and_resumes_it(tmp_path, cpu_runtime, grouped_toy_source, toy_configs):
    from arc_pipeline.solver.sampler import GroupSampler

    mcfg, tcfg = toy_configs(global_batch=8, steps=6, checkpoint_every=3, halt_exploration=0.5)
    src = grouped_toy_source()
    straight = train(mcfg, tcfg, src, tmp_path / "a" / "ckpt")
    assert tcfg.sampling == "reference"
    tr = Trainer(mcfg, tcfg, src, cpu_runtime)
    assert isinstance(tr.sampler, GroupSampler)
    half = train(mcfg, TrainConfig(**{**tcfg.__dict__, "steps": 3}), src, tmp_path / "b" / "ckpt")
    assert half.step == 3
    resumed = train(mcfg, tcfg, src, tmp_path / "b" / "ckpt")
    a = torch.load(straight.checkpoint / "weights.pt", weights_only=True)
    b = torch.load(resumed.checkpoint / "weights.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
