"""TRM losses: stablemax cross-entropy on the answer tokens (PAD ignored), plus the halting head's
binary cross-entropy against "the whole answer is exactly right". Per-example terms; the trainer
reduces them (sum over the local batch / global batch size)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

PAD = 0  # label positions holding PAD carry no loss (every domain)


class LossTerms(NamedTuple):
    """Per-example (B,) terms of one supervision step."""

    loss: torch.Tensor  # ce + halt_weight * halt (float32)
    ce: torch.Tensor  # stablemax CE averaged over the example's non-PAD label positions
    halt: torch.Tensor  # BCE of the halting logit against `exact`
    exact: torch.Tensor  # bool: every non-PAD label position predicted right (and there is one)
    token_correct: torch.Tensor  # int64: non-PAD positions predicted right
    token_count: torch.Tensor  # int64: non-PAD positions


def log_stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log of stablemax: s(x) = x + 1 for x >= 0, 1 / (1 - x) below, normalised along `dim`.

    Computed in log space (log s = log1p(x) or -log1p(-x), then logsumexp) so float32 is
    accurate where the direct ratio would need float64: no large sums, no cancellation.
    """
    x = logits.float()
    # clamp keeps the unused branch finite, so its zero gradient stays zero (never 0 * inf)
    log_s = torch.where(x >= 0, torch.log1p(x.clamp(min=0)), -torch.log1p((-x).clamp(min=0)))
    return log_s - torch.logsumexp(log_s, dim=dim, keepdim=True)


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = PAD) -> torch.Tensor:
    """Per-position stablemax CE (..., V) x (...) -> (...) float32; 0 where labels == ignore_index."""
    labels = labels.long()
    mask = labels != ignore_index
    logp = log_stablemax(logits)
    picked = logp.gather(-1, torch.where(mask, labels, 0).unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, -picked, 0.0)


def trm_loss(
    logits: torch.Tensor, halt_logit: torch.Tensor, labels: torch.Tensor, halt_weight: float = 0.5
) -> LossTerms:
    """Loss terms of one supervision step: logits (B, L, V), halt_logit (B,), labels (B, L)."""
    labels = labels.long()
    mask = labels != PAD
    count = mask.sum(-1)
    ce = stablemax_cross_entropy(logits, labels).sum(-1) / count.clamp(min=1)
    # stablemax is monotonic, so its argmax is the logits' argmax
    correct = mask & (logits.argmax(-1) == labels)
    token_correct = correct.sum(-1)
    exact = (token_correct == count) & (count > 0)
    halt = F.binary_cross_entropy_with_logits(halt_logit.float(), exact.float(), reduction="none")
    return LossTerms(
        loss=ce + halt_weight * halt,
        ce=ce,
        halt=halt,
        exact=exact,
        token_correct=token_correct,
        token_count=count,
    )
