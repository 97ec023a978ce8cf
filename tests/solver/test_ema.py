"""EMA of weights: the update rule, evaluating with it, state round trip, wrapped models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from arc_pipeline.solver.ema import EMA


class Wrapper(nn.Module):
    """Stands in for DDP: the real module under `.module`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


def test_update_follows_the_rule_and_ignores_buffers():
    model = nn.Linear(3, 2)
    model.register_buffer("table", torch.zeros(4))
    ema = EMA(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    torch.testing.assert_close(ema.shadow["weight"], start + 0.1)
    assert set(ema.shadow) == {"weight", "bias"}


def test_applied_swaps_in_and_restores():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.mul_(3)
    live = model.weight.detach().clone()
    ema.update(model)
    with ema.applied(model):
        torch.testing.assert_close(model.weight, ema.shadow["weight"])
        assert not torch.equal(model.weight, live)
    assert torch.equal(model.weight, live)
    ema.copy_to(model)
    assert torch.equal(model.weight, ema.shadow["weight"])


def test_state_round_trip_and_wrapped_model():
    model = nn.Linear(3, 2)
    wrapped = Wrapper(model)
    ema = EMA(wrapped, decay=0.99)
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(wrapped)
    state = ema.state_dict()
    other = EMA(nn.Linear(3, 2), decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.99
    torch.testing.assert_close(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match="names"):
        other.load_state_dict({"decay": 0.9, "shadow": {"nope": torch.zeros(1)}})
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
