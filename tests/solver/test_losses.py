"""Stablemax CE in float32 against a float64 computation; the halting BCE; per-example terms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from arc_pipeline.solver.losses import log_stablemax, stablemax_cross_entropy, trm_loss


def stablemax_ce_float64(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The direct definition, in float64: -log(s(x_label) / sum s(x)), 0 on PAD labels."""
    x = logits.double()
    s = torch.where(x >= 0, x + 1, 1 / (1 - x))
    p = s / s.sum(-1, keepdim=True)
    ce = -torch.log(p.gather(-1, labels.long().clamp(min=0).unsqueeze(-1)).squeeze(-1))
    return torch.where(labels != 0, ce, 0.0)


def test_stablemax_matches_float64_over_a_wide_range():
    g = torch.Generator().manual_seed(0)
    for scale in (0.01, 1.0, 30.0, 1e3, 1e5):
        logits = torch.randn(8, 50, 12, generator=g) * scale
        labels = torch.randint(0, 12, (8, 50), generator=g)
        ours = stablemax_cross_entropy(logits, labels)
        ref = stablemax_ce_float64(logits, labels)
        assert ours.dtype == torch.float32
        torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-5)


def test_stablemax_gradient_matches_float64_and_is_finite():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 20, 12, generator=g) * 10
    logits[0, 0, :3] = torch.tensor([0.0, -1e4, 1e4])  # kink at 0 and extreme values
    labels = torch.randint(1, 12, (4, 20), generator=g)
    a = logits.clone().requires_grad_(True)
    stablemax_cross_entropy(a, labels).sum().backward()
    b = logits.double().requires_grad_(True)
    stablemax_ce_float64(b, labels).sum().backward()
    assert torch.isfinite(a.grad).all()
    torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-4, atol=1e-6)


def test_log_stablemax_is_a_distribution():
    x = torch.tensor([[-3.0, 0.0, 2.0, 100.0]])
    p = log_stablemax(x).exp()
    torch.testing.assert_close(p.sum(-1), torch.ones(1))
    s = torch.tensor([1 / 4, 1.0, 3.0, 101.0])
    torch.testing.assert_close(p[0], s / s.sum())


def test_pad_labels_carry_no_loss():
    logits = torch.randn(2, 5, 6)
    labels = torch.tensor([[0, 3, 0, 2, 0], [1, 1, 1, 1, 1]])
    ce = stablemax_cross_entropy(logits, labels)
    assert torch.all(ce[0, [0, 2, 4]] == 0) and torch.all(ce[0, [1, 3]] > 0)


def test_trm_loss_terms():
    v = 5
    labels = torch.tensor([[2, 3, 0, 0], [2, 3, 4, 0], [0, 0, 0, 0]])
    predicted = torch.tensor([[2, 3, 1, 4], [2, 1, 4, 0], [1, 1, 1, 1]])  # pad positions predict anything
    logits = F.one_hot(predicted, v).float() * 4 - 1
    halt = torch.tensor([3.0, -2.0, 0.0])
    t = trm_loss(logits, halt, labels, halt_weight=0.5)
    assert t.exact.tolist() == [True, False, False]  # an example without labels is never "exact"
    assert t.token_correct.tolist() == [2, 2, 0] and t.token_count.tolist() == [2, 3, 0]
    per_pos = stablemax_ce_float64(logits, labels)
    expected_ce = per_pos.sum(-1) / torch.tensor([2.0, 3.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(t.ce.double(), expected_ce, rtol=1e-6, atol=1e-6)
    assert t.ce[2] == 0
    expected_halt = torch.tensor([math.log1p(math.exp(-3.0)), math.log1p(math.exp(-2.0)), math.log(2.0)])
    torch.testing.assert_close(t.halt, expected_halt)
    torch.testing.assert_close(t.loss, t.ce + 0.5 * t.halt)
    assert t.loss.shape == (3,) and t.loss.dtype == torch.float32


def test_trm_loss_backpropagates_to_both_heads():
    logits = torch.randn(2, 4, 6, requires_grad=True)
    halt = torch.zeros(2, requires_grad=True)
    trm_loss(logits, halt, torch.randint(1, 6, (2, 4))).loss.sum().backward()
    assert logits.grad.abs().sum() > 0 and halt.grad.abs().sum() > 0
