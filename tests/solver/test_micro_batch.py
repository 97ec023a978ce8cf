"""Gradient accumulation (`train.micro_batch`): the same optimizer step as the whole batch, dense
weights, EMA, the puzzle table's sign-SGD rows and the ACT carries (slots, halting, refill)."""

from __future__ import annotations

import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.memory import auto_micro_batch, check_micro_batch, fit_line, pick_micro_batch, probe_sizes
from arc_pipeline.solver.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def halting_trainer(toy_configs, toy_source, cpu_runtime):
    """`halting_trainer(**train_kw)`: a toy trainer whose halting head fires for some slots and not others from the first step."""

    def make(**kw) -> Trainer:
        tr = Trainer(*toy_configs(global_batch=8, puzzle_lr=0.05, halt_exploration=0.5, **kw), toy_source(), cpu_runtime)
        with torch.no_grad():
            g = torch.Generator().manual_seed(1)
            tr.model.halt_head.weight.copy_(torch.randn(tr.model.halt_head.weight.shape, generator=g))
            tr.model.halt_head.bias.zero_()
        return tr

    return make


@pytest.mark.parametrize("micro", [1, 2, 4])
def test_micro_batches_make_the_same_update_as_the_whole_batch(micro, halting_trainer):
    whole, chunked = halting_trainer(), halting_trainer(micro_batch=micro)
    assert chunked.micro_batch == micro and whole.micro_batch == 8
    halted_some = False
    for _ in range(6):
        a, b = whole.step(), chunked.step()
        assert torch.allclose(a["loss"], b["loss"], rtol=1e-5, atol=1e-6)
        for key in ("inputs", "labels", "puzzle_ids", "steps", "min_steps", "halted"):
            assert torch.equal(whole.carry[key], chunked.carry[key]), key
        for key in ("y", "z"):
            # fp32 sums in another order; carries live longer under the reference's per-step exploration
            assert torch.allclose(whole.carry[key], chunked.carry[key], rtol=1e-4, atol=1e-4), key
        halted_some |= bool(whole.carry["halted"].any() and not whole.carry["halted"].all())
        assert whole.sampler.position == chunked.sampler.position
        for p, q in zip(whole.model.parameters(), chunked.model.parameters()):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-6)
        table_a, table_b = whole.model.puzzle_emb.table, chunked.model.puzzle_emb.table
        assert torch.allclose(table_a, table_b, atol=1e-6)
        for name, p in whole.ema.shadow.items():
            assert torch.allclose(p, chunked.ema.shadow[name], rtol=1e-4, atol=1e-6), name
        for p, q in zip(whole.optimizer.param_groups[0]["params"], chunked.optimizer.param_groups[0]["params"]):
            sa, sb = whole.optimizer.state[p], chunked.optimizer.state[q]
            assert sa["step"] == sb["step"] and torch.allclose(sa["exp_avg_sq"], sb["exp_avg_sq"], rtol=1e-3, atol=1e-12)
    assert halted_some, "the test must see slots halt and refill mid-run"
    assert not torch.equal(whole.model.puzzle_emb.table, torch.zeros_like(whole.model.puzzle_emb.table))
    ma, mb = whole.take_metrics(), chunked.take_metrics()
    assert ma.keys() == mb.keys() and all(abs(ma[k] - mb[k]) < 1e-4 for k in ma)


def test_micro_batch_must_divide_the_per_rank_batch(cpu_runtime, toy_configs, toy_source):
    with pytest.raises(ArcError, match=r"micro_batch 3 does not divide the per-rank batch 8 .*\(2, 4\)"):
        Trainer(*toy_configs(global_batch=8, micro_batch=3), toy_source(), cpu_runtime)
    with pytest.raises(ArcError, match="micro_batch"):
        check_micro_batch(-1, 8, 8, 1)
    assert check_micro_batch("auto", 8, 16, 2) == "auto"


def test_auto_on_the_cpu_is_the_whole_batch_and_says_so(cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(global_batch=8, micro_batch="auto"), toy_source(), cpu_runtime)
    assert tr.micro_batch == 8
    assert any("auto on the CPU: the whole per-rank batch" in n for n in tr.notes)


def test_auto_fits_a_line_through_the_probes_and_picks_the_largest_divisor_that_fits():
    mib, gib = 2**20, 2**30
    assert probe_sizes(768) == [2, 8] and probe_sizes(6) == [2, 6] and probe_sizes(1) == [1]
    assert fit_line([(2, 10 * mib + 2 * 148 * mib), (8, 10 * mib + 8 * 148 * mib)]) == (10 * mib, 148 * mib)
    # the model: ~148 MiB per example; an 80 GB card takes 384 of 768, a 141 GB one all 768
    peak = lambda m: 3 * gib + m * 148 * mib  # noqa: E731
    m80, note = auto_micro_batch(768, peak, 80 * 10**9, extra=0)
    assert m80 == 384 and "148 MiB per example" in note and "chunks of 384" in note
    assert auto_micro_batch(768, peak, 141 * 10**9, extra=0)[0] == 768
    assert auto_micro_batch(192, peak, 24 * 10**9, extra=0)[0] == 96  # an L4's share of the kaggle batch
    assert pick_micro_batch(768, 100 * gib, 1, 80 * gib) == 1  # nothing fits: one example at a time


def test_accumulated_gradients_equal_the_whole_batch_gradients(halting_trainer):
    """Gradients themselves, before the scale-invariant updates (AdamATan2, sign-SGD) could hide a scale error."""
    whole, chunked = halting_trainer(), halting_trainer(micro_batch=2)
    for tr in (whole, chunked):
        tr.refill()
        tr._forward_backward()
    for p, q in zip(whole.model.parameters(), chunked.model.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-7)
    (ia, ga), (ib, gb) = whole.model.puzzle_emb.pop_grads(), chunked.model.puzzle_emb.pop_grads()
    assert torch.equal(ia, ib) and torch.allclose(ga, gb, rtol=1e-4, atol=1e-8)


def test_the_probe_step_leaves_no_trace(cpu_runtime, halting_trainer):
    from arc_pipeline.solver.memory import probe_step

    probed, fresh = halting_trainer(), halting_trainer()
    weights = [p.detach().clone() for p in probed.model.parameters()]
    assert probe_step(probed.model, cpu_runtime, 2) == 0  # the CPU's memory is not measured
    assert all(torch.equal(a, b) for a, b in zip(weights, probed.model.parameters()))
    assert all(p.grad is None or not p.grad.any() for p in probed.model.parameters())
    assert probed.model.puzzle_emb.pop_grads()[0].numel() == 0  # no gathered rows left behind
    assert torch.equal(probed.step()["loss"], fresh.step()["loss"])


def test_auto_on_a_real_meter_picks_the_chunk_the_budget_allows(cpu_runtime, halting_trainer):
    """The saved-for-backward count (bench memory's meter) as the probe: linear, so the pick is exact."""
    from arc_pipeline.bench.memory import saved_bytes
    from arc_pipeline.solver.memory import HEADROOM

    tr = halting_trainer()
    meter = lambda m: 10_000 + saved_bytes(tr.model, cpu_runtime, m)  # noqa: E731
    per = meter(3) - meter(2)
    capacity = int((meter(2) + 6 * per + per // 2) / HEADROOM)  # room for 8 examples, not 16
    m, note = auto_micro_batch(16, meter, capacity, extra=0)
    assert m == 8 and "chunks of 8 of the per-rank batch 16" in note


def test_auto_plans_for_the_free_memory_and_two_carry_sets(monkeypatch, halting_trainer):
    """On a GPU (faked: a runtime that reports memory): the budget is the free memory (plus what this
    process holds), not the card's total, and the step's input and output carries are both counted."""
    from types import SimpleNamespace

    from arc_pipeline.solver import memory

    tr = halting_trainer()
    model, b = tr.model, 16
    per, fixed = 1_000_000, 5_000_000
    monkeypatch.setattr(memory, "probe_step", lambda model, runtime, m: fixed + per * m)
    act = 2  # bf16
    carries = memory.carry_bytes(b, model.positions, model.cfg.hidden, act)
    assert carries == 2 * 2 * b * model.positions * model.cfg.hidden * act  # (y, z) in and (y, z) out
    params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    free = int((fixed + 4 * per + per // 2 + 2 * params + carries) / memory.HEADROOM)  # room for 4 examples
    rt = SimpleNamespace(is_gpu=True, distributed=False, world_size=1, dtype=torch.bfloat16, free_cached_memory=lambda: None,
                         memory_available=lambda: free, memory_capacity=lambda: 10 * free)  # a card 10x larger
    m, note = memory.resolve_micro_batch("auto", model, rt, b, b)
    assert m == 4 and "GiB free" in note
