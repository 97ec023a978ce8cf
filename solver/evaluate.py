"""The trainer's held-out evaluation: every example for all N_sup supervision steps, the accuracies
at the last step, after each step and where the halting head fired."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from arc_pipeline.solver.device import Runtime
from arc_pipeline.solver.halting import halts
from arc_pipeline.solver.losses import trm_loss
from arc_pipeline.solver.model import TRM


@torch.no_grad()
def evaluate(model: TRM, source, runtime: Runtime, *, batch_size: int = 256, max_steps: int | None = None,
             limit: int | None = None) -> dict[str, Any]:
    """Run every example (or `limit` evenly spaced ones) for all max_steps supervision steps.

    Returns exact and token accuracy at the last step, exact accuracy after each step
    (`exact_by_step`) and at the step where the halting head first fired (`exact_halted`)."""
    was_training = model.training
    model.eval()
    n_sup = max_steps or model.cfg.max_steps
    n = len(source)
    # a limited evaluation takes evenly spaced examples (a split is often ordered by task)
    chosen = np.arange(n) if not limit or limit >= n else np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))
    mine = chosen[runtime.rank :: runtime.world_size]
    sums = torch.zeros(n_sup + 5, dtype=torch.float64, device=runtime.device)
    for lo in range(0, len(mine), batch_size):
        b = source.batch(mine[lo : lo + batch_size], 0)
        inputs = torch.from_numpy(np.asarray(b.inputs)).to(runtime.device, torch.long)
        labels = torch.from_numpy(np.asarray(b.labels)).to(runtime.device, torch.long)
        ids = torch.from_numpy(np.asarray(b.puzzle_ids)).to(runtime.device, torch.long)
        y, z = model.initial_state(len(inputs), runtime.device)
        halted_exact = torch.zeros(len(inputs), dtype=torch.bool, device=runtime.device)
        halted = torch.zeros_like(halted_exact)
        halt_step = torch.full((len(inputs),), float(n_sup), dtype=torch.float64, device=runtime.device)
        with runtime.autocast():
            x = model.embed(inputs, ids)
            for s in range(n_sup):
                y, z, logits, halt_logit = model.step(x, y, z)
                terms = trm_loss(logits.float(), halt_logit.float(), labels)
                sums[s] += terms.exact.double().sum()
                fire = ~halted & halts(halt_logit, s + 1, max_steps=n_sup)
                halted_exact |= fire & terms.exact
                halt_step[fire] = s + 1
                halted |= fire
        sums[n_sup] += len(inputs)
        sums[n_sup + 1] += terms.token_correct.double().sum()
        sums[n_sup + 2] += terms.token_count.double().sum()
        sums[n_sup + 3] += halted_exact.double().sum()
        sums[n_sup + 4] += halt_step.sum()
    s = runtime.all_reduce_sum(sums).tolist()
    model.train(was_training)
    count = max(s[n_sup], 1.0)
    by_step = [v / count for v in s[:n_sup]]
    return {"exact": by_step[-1], "token_accuracy": s[n_sup + 1] / max(s[n_sup + 2], 1.0), "exact_by_step": by_step,
            "exact_halted": s[n_sup + 3] / count, "mean_halt_step": s[n_sup + 4] / count, "examples": int(s[n_sup])}
