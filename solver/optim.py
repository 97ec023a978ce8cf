"""Optimizers and schedule: AdamATan2 in plain torch (foreach ops, no compiled extension), AdamW as
an option, Muon for 2-D weights as an option (URM), sign-SGD for the sparse puzzle table, and
warm-up then constant or cosine."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.config import TrainConfig

MUON_TORCH = "2.9"  # the first torch with torch.optim.Muon


class AdamATan2(torch.optim.Optimizer):
    """Adam with atan2(m, sqrt(v)) in place of m / (sqrt(v) + eps): bounded, scale-invariant, no eps.

    Per step t: p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = lerp(v, g*g, 1-b2);
    p -= lr / (1 - b1^t) * atan2(m, sqrt(v) / sqrt(1 - b2^t)).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
    ):
        if lr < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"bad AdamATan2 settings: lr={lr}, betas={betas}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # bucket by step count: a parameter that sometimes gets no gradient has its own bias correction
            buckets: dict[int, tuple[list, list, list, list]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not take sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0  # a plain int: loads under torch.load(weights_only=True)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                bucket = buckets.setdefault(state["step"], ([], [], [], []))
                for lst, t in zip(bucket, (p, p.grad, state["exp_avg"], state["exp_avg_sq"])):
                    lst.append(t)
            for step, (params, grads, ms, vs) in buckets.items():
                self._update(group, params, grads, ms, vs, step)
        return loss

    @staticmethod
    def _update(group: dict, params, grads, ms, vs, step: int) -> None:
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if wd != 0:
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_lerp_(ms, grads, 1 - beta1)
        torch._foreach_lerp_(vs, torch._foreach_mul(grads, grads), 1 - beta2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, math.sqrt(1 - beta2**step))
        # torch has no foreach atan2: one fused kernel per tensor (a handful of tensors per model)
        updates = [torch.atan2(m, d) for m, d in zip(ms, denom)]
        torch._foreach_add_(params, updates, alpha=-lr / (1 - beta1**step))


def make_optimizer(params: Iterable[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer cfg.optimizer names, at cfg.lr / cfg.betas / cfg.weight_decay (see make_dense_optimizer)."""
    params = list(params)
    if cfg.optimizer == "adam_atan2":
        return AdamATan2(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, foreach=True)
    raise ValueError(f"optimizer must be 'adam_atan2' or 'adamw', got {cfg.optimizer!r}")


class SplitOptimizer:
    """Several optimizers over disjoint parameters, stepped as one (Muon for matrices + the rest).

    param_groups lists every part's groups, so `set_lr` reaches all; the state dict holds each part's."""

    def __init__(self, *parts: torch.optim.Optimizer):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        return [g for part in self.parts for g in part.param_groups]

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state.get("parts", ())) != len(self.parts):
            raise ValueError(f"optimizer state has {len(state.get('parts', ()))} parts, this optimizer {len(self.parts)} "
                             "(train.muon changed under the run?)")
        for part, s in zip(self.parts, state["parts"]):
            part.load_state_dict(s)


MUON_SPLITS = ("off", "trunk", "matrices")


def muon_parameters(model: nn.Module, split: str) -> list[torch.Tensor]:
    """The parameters Muon takes under train.muon = `split`: the blocks' 2-D weights ("trunk"),
    every 2-D parameter ("matrices", URM's), or none ("off")."""
    if split not in MUON_SPLITS:
        raise ValueError(f"muon must be one of {MUON_SPLITS}, got {split!r}")
    if split == "off":
        return []
    scope = model.blocks if split == "trunk" else model
    return [p for p in scope.parameters() if p.requires_grad and p.ndim == 2]


def make_dense_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | SplitOptimizer:
    """The optimizer of `model`'s trainable weights: cfg.optimizer for all of them, or Muon for the
    cfg.muon split and cfg.optimizer for the rest (one object either way)."""
    params = [p for p in model.parameters() if p.requires_grad]
    matrices = muon_parameters(model, cfg.muon)
    if not matrices:
        return make_optimizer(params, cfg)
    taken = {id(p) for p in matrices}
    rest = make_optimizer([p for p in params if id(p) not in taken], cfg)
    muon_cls = getattr(torch.optim, "Muon", None)
    if muon_cls is None:  # the floor stays torch>=2.4 (Kaggle's image brings its own torch); Muon is the option
        raise ArcError(f"train.muon = {cfg.muon!r} needs torch.optim.Muon (torch >= {MUON_TORCH}); this is torch "
                       f"{torch.__version__}: upgrade torch, or set train.muon = \"off\"")
    muon = muon_cls(matrices, lr=cfg.lr, weight_decay=cfg.weight_decay, adjust_lr_fn="match_rms_adamw")
    if cfg.muon_lr and cfg.lr:
        for group in muon.param_groups:
            group["lr_scale"] = cfg.muon_lr / cfg.lr  # set_lr keeps Muon's rate on lr's schedule
    return SplitOptimizer(muon, rest)


def lr_at(step: int, cfg: TrainConfig, base: float | None = None) -> float:
    """Learning rate for 0-based optimizer step `step`: linear warm-up, then constant or cosine.

    `base` defaults to cfg.lr (pass cfg.puzzle_lr for the puzzle table, which shares the schedule).
    Warm-up reaches the full rate at step cfg.lr_warmup - 1 (the first step is not wasted at 0).
    Cosine decays from the end of warm-up to base * cfg.lr_min_ratio at cfg.steps.
    """
    base = cfg.lr if base is None else base
    if step < cfg.lr_warmup:
        return base * (step + 1) / cfg.lr_warmup
    if cfg.lr_schedule == "constant":
        return base
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {cfg.lr_schedule!r}")
    progress = min(1.0, (step - cfg.lr_warmup) / max(1, cfg.steps - cfg.lr_warmup))
    floor = cfg.lr_min_ratio
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer | SplitOptimizer, lr: float) -> None:
    """Set every param group's learning rate (times the group's `lr_scale`, if it has one)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr


@torch.no_grad()
def sign_sgd_rows(
    rows: torch.Tensor, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float
) -> torch.Tensor:
    """New values of `rows` (the current table rows of `ids`, one per entry) under sparse sign-SGD with
    decoupled weight decay: the gradients of equal ids are summed first (in order of appearance), then
    row * (1 - lr*wd) - lr * sign(sum). Entries with equal ids get equal values.

    Every shape is fixed by len(ids) (a stable sort groups equal ids, where torch.unique would return a
    data-dependent size), so nothing waits for the device."""
    n = ids.shape[0]
    sorted_ids, order = torch.sort(ids, stable=True)  # stable: each group keeps its order of appearance
    starts = torch.ones(n, dtype=torch.bool, device=ids.device)
    starts[1:] = sorted_ids[1:] != sorted_ids[:-1]
    group = starts.cumsum(0) - 1  # group of each sorted entry: 0, 1, ... (trailing groups stay empty)
    summed = torch.zeros(n, grads.shape[1], dtype=torch.float32, device=grads.device)
    summed.index_add_(0, group, grads[order].float())
    entry_group = torch.empty_like(group).scatter_(0, order, group)  # back in the entries' order
    return rows.mul(1 - lr * weight_decay).sub_(lr * summed[entry_group].sign().to(rows.dtype))


@torch.no_grad()
def sign_sgd_update(
    table: torch.Tensor, ids: torch.Tensor, grads: torch.Tensor, lr: float, weight_decay: float
) -> None:
    """Sparse sign-SGD with decoupled weight decay on the rows `ids` of `table` (in place).

    Gradients of repeated ids are summed first; then for each distinct row u:
    table[u] = table[u] * (1 - lr*wd) - lr * sign(sum of its grads). Other rows are untouched.
    No host-device sync (`sign_sgd_rows`); repeated ids write equal values.
    """
    if ids.numel() == 0:
        return
    ids = ids.to(table.device).long()
    table[ids] = sign_sgd_rows(table[ids], ids, grads.to(table.device), lr, weight_decay)
