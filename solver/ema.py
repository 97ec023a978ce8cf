"""Exponential moving average of the model's trainable parameters, used for evaluation and saved
in checkpoints. Buffers (the puzzle table included) are not averaged: evaluation uses the live
ones, and nothing 1.8 GB is ever copied."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


class EMA:
    """shadow = decay * shadow + (1 - decay) * param, in fp32, after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().float().clone() for name, p in self._params(model)
        }

    @staticmethod
    def _params(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
        return [(n, p) for n, p in unwrap(model).named_parameters() if p.requires_grad]

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = self._params(model)
        names = [n for n, _ in params]
        if set(names) != set(self.shadow):
            raise ValueError(f"EMA was made for other parameters: {sorted(set(names) ^ set(self.shadow))[:5]}")
        return [self.shadow[n] for n in names], [p for _, p in params]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow weights toward the model's current ones."""
        shadow, params = self._pairs(model)
        torch._foreach_lerp_(shadow, [p.detach().float() for p in params], 1 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's parameters with the averaged ones."""
        shadow, params = self._pairs(model)
        for s, p in zip(shadow, params):
            p.copy_(s)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Evaluate with the EMA weights inside the block; the live weights are restored after."""
        _, params = self._pairs(model)
        saved = [p.detach().clone() for p in params]
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)

    def state_dict(self) -> dict:
        """{"decay": float, "shadow": {name: tensor}} (weights_only-safe)."""
        return {"decay": self.decay, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        """Restore from `state_dict()`; the parameter names must match."""
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            raise ValueError(f"EMA state names differ: {sorted(set(shadow) ^ set(self.shadow))[:5]}")
        for name, t in shadow.items():
            self.shadow[name].copy_(t)
        self.decay = float(state["decay"])
