"""AdamATan2 against a per-parameter loop, AdamW option, lr schedule, sparse sign-SGD."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch

from arc_pipeline.solver.config import TrainConfig
from arc_pipeline.solver.optim import AdamATan2, lr_at, make_optimizer, set_lr, sign_sgd_update


def reference_adam_atan2(params, grads_per_step, lr, betas, wd):
    """Straightforward per-parameter, per-step version of the update, written out longhand."""
    params = [p.clone().double() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = betas
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            g = g.double()
            params[i] = params[i] * (1 - lr * wd)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            denom_hat = torch.sqrt(v[i]) / math.sqrt(1 - b2**t)
            params[i] = params[i] - lr * torch.atan2(m[i], denom_hat) / (1 - b1**t)
            assert m_hat.shape == params[i].shape
    return params


def test_adam_atan2_matches_per_parameter_loop():
    g = torch.Generator().manual_seed(0)
    shapes = [(7, 5), (5,), (3, 4, 2)]
    init = [torch.randn(s, generator=g) for s in shapes]
    grads_per_step = [[torch.randn(s, generator=g) * 10 ** (k - 2) for k, s in enumerate(shapes)] for _ in range(6)]
    grads_per_step[2][1] = torch.zeros(5)  # atan2(0, 0) = 0: no eps needed, no NaN
    params = [torch.nn.Parameter(p.clone()) for p in init]
    opt = AdamATan2(params, lr=0.05, betas=(0.9, 0.95), weight_decay=0.1)
    for grads in grads_per_step:
        for p, gr in zip(params, grads):
            p.grad = gr.clone()
        opt.step()
    expected = reference_adam_atan2(init, grads_per_step, 0.05, (0.9, 0.95), 0.1)
    for p, e in zip(params, expected):
        torch.testing.assert_close(p.detach().double(), e, rtol=1e-5, atol=1e-6)
    assert all(opt.state[p]["step"] == 6 for p in params)


def test_adam_atan2_skips_params_without_grad_and_reloads_state():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = AdamATan2([a, b], lr=0.1, weight_decay=0.0)
    a.grad = torch.ones(3)
    opt.step()
    assert torch.all(b == 1) and torch.all(a < 1)
    twin = AdamATan2([a, b], lr=0.1, weight_decay=0.0)
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))  # torch shares tensors otherwise
    for o in (opt, twin):
        o.param_groups[0]["params"][0].grad = torch.ones(3)
    before = a.detach().clone()
    opt.step()
    step_a = a.detach() - before
    a.data.copy_(before)
    twin.step()
    torch.testing.assert_close(a.detach() - before, step_a)


def test_make_optimizer_and_set_lr():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(p, TrainConfig()), AdamATan2)
    adamw = make_optimizer(p, TrainConfig(optimizer="adamw", weight_decay=0.5))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["weight_decay"] == 0.5
    set_lr(adamw, 0.123)
    assert adamw.param_groups[0]["lr"] == 0.123
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(p, TrainConfig(optimizer="sgd"))


def test_lr_schedule():
    cfg = TrainConfig(lr=1e-3, lr_warmup=10, steps=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(4, cfg) == pytest.approx(5e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(500, cfg) == pytest.approx(1e-3)
    assert lr_at(0, cfg, base=1e-2) == pytest.approx(1e-3)
    cos = replace(cfg, lr_schedule="cosine", lr_min_ratio=0.1)
    assert lr_at(10, cos) == pytest.approx(1e-3)
    assert lr_at(60, cos) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(110, cos) == pytest.approx(1e-4)
    assert lr_at(1000, cos) == pytest.approx(1e-4)
    assert all(lr_at(s, cos) >= lr_at(s + 1, cos) for s in range(10, 120))


def test_sign_sgd_sums_repeated_ids_and_touches_only_their_rows():
    table = torch.randn(6, 4)
    before = table.clone()
    ids = torch.tensor([1, 3, 1])
    grads = torch.tensor(
        [[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 0.0, 3.0], [-2.0, 1.0, 0.5, 0.0]]
    )  # row 1 sums to [-1, -1, 1, 0]
    sign_sgd_update(table, ids, grads, lr=0.1, weight_decay=0.5)
    decay = 1 - 0.1 * 0.5
    torch.testing.assert_close(table[1], before[1] * decay - 0.1 * torch.tensor([-1.0, -1.0, 1.0, 0.0]))
    torch.testing.assert_close(table[3], before[3] * decay - 0.1 * torch.tensor([-1.0, 1.0, 0.0, 1.0]))
    untouched = [0, 2, 4, 5]
    assert torch.equal(table[untouched], before[untouched])
    sign_sgd_update(table, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4), lr=0.1, weight_decay=0.5)
    assert torch.equal(table[untouched], before[untouched])


def _sign_sgd_with_unique(table, ids, grads, lr, weight_decay):
    """The update as it was written before (torch.unique, a host-device sync): the naive twin."""
    unique, inverse = torch.unique(ids, return_inverse=True)
    summed = torch.zeros(len(unique), table.shape[1]).index_add_(0, inverse, grads.float())
    rows = table[unique]
    rows.mul_(1 - lr * weight_decay).sub_(lr * summed.sign())
    table[unique] = rows


@pytest.mark.parametrize("seed", range(4))
def test_sign_sgd_is_bit_identical_to_the_unique_version(seed):
    g = torch.Generator().manual_seed(seed)
    table = torch.randn(50, 8, generator=g)
    ids = torch.randint(0, 12, (96,), generator=g)  # many repeats: the order of summation matters
    grads = torch.randn(96, 8, generator=g) * torch.logspace(-8, 8, 96)[:, None]  # sums that round
    grads[::7] = 0.0
    ours, twin = table.clone(), table.clone()
    sign_sgd_update(ours, ids, grads, lr=0.01, weight_decay=0.1)
    _sign_sgd_with_unique(twin, ids, grads, lr=0.01, weight_decay=0.1)
    assert torch.equal(ours, twin)


def test_sign_sgd_has_no_data_dependent_shapes():
    """Under FakeTensorMode an op whose output size depends on values (unique, nonzero, .item()) raises:
    the update never makes the host wait for the device."""
    from torch._subclasses.fake_tensor import DynamicOutputShapeException, FakeTensorMode

    with FakeTensorMode():
        table, ids, grads = torch.zeros(10, 4), torch.tensor([1, 3, 1]), torch.ones(3, 4)
        sign_sgd_update(table, ids, grads, lr=0.1, weight_decay=0.1)
        with pytest.raises(DynamicOutputShapeException):
            torch.unique(ids)  # the guard catches what the update used to do


def test_parameters_with_different_step_counts_keep_their_own_bias_correction():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = AdamATan2([a, b], lr=0.1, weight_decay=0.0)
    a.grad = torch.ones(2)
    opt.step()  # b has no gradient: its state stays empty
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    fresh = torch.nn.Parameter(torch.zeros(2))
    once = AdamATan2([fresh], lr=0.1, weight_decay=0.0)
    fresh.grad = torch.ones(2)
    once.step()
    torch.testing.assert_close(b.detach(), fresh.detach())  # b took a first step, not a second
