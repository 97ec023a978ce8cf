"""The halting rule, written once: training, held-out evaluation, prediction and the raw-file
analysis all stop an example with `halts`.

After supervision step k (1-based) an example halts when k reaches max_steps, or when
k >= min_steps and its halting score passes the cut. The score is the halting logit with the cut
`logit_cut(threshold)` (sigmoid(logit) > threshold; logit > 0 at 0.5, the reference's q_halt > 0),
or a recorded sigmoid probability with the threshold itself as the cut.
Training's min_steps is the exploration floor; prediction's is `predict.min_steps`.
"""

from __future__ import annotations

import math

import numpy as np


def logit_cut(threshold: float) -> float:
    """The halting logit above which sigmoid(logit) > threshold (0 for 0.5)."""
    return math.log(threshold / (1.0 - threshold))


def halts(score, steps, *, max_steps, min_steps=1, cut: float | None = 0.0):
    """Whether each example stops after `steps` supervision steps (torch or numpy, broadcast).

    `cut=None`: no early halting (every example runs max_steps, the reference's evaluation)."""
    done = steps >= max_steps
    if cut is None:
        return done
    return done | ((steps >= min_steps) & (score > cut))


def first_halt(step_score: np.ndarray, steps: np.ndarray, *, min_steps: int, cut: float) -> np.ndarray:
    """1-based step at which `halts` stops each recorded row: step_score (N, S) per step (NaN for
    steps not run), steps (N,) run; the last step run when the score never passes the cut."""
    k = np.arange(1, step_score.shape[1] + 1)[None, :]
    run = steps[:, None]
    fires = halts(np.nan_to_num(step_score, nan=0.0), k, max_steps=run, min_steps=min_steps, cut=cut) & (k <= run)
    return np.where(fires.any(1), fires.argmax(1) + 1, steps).astype(np.int16)
