"""Why a test output failed: one category per test output with a known truth, judged on the
submission's attempts (exact) and then on attempt 1, the top candidate.

The categories, most telling first when several apply: exact (an attempt is the truth); no valid
grid (no candidate: nothing decoded to a grid, or nothing was predicted, so both attempts are the
test input); a copy of the input; all background (every cell one colour, where the truth has
several); wrong shape; near miss
(right shape, at most NEAR_CELLS cells and a quarter of the cells wrong); right shape (more wrong).
"""

from __future__ import annotations

import numpy as np

NEAR_CELLS = 3  # a near miss: at most this many cells wrong (and at most a quarter of them)

# (key, label, legend); the order is the page's: failures nearest the truth first
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("near", "near miss", f"right shape, at most {NEAR_CELLS} cells (and a quarter of the cells) wrong"),
    ("shape", "right shape", "right shape, more cells wrong"),
    ("wrongshape", "wrong shape", "attempt 1 has another shape than the truth"),
    ("background", "all background", "attempt 1 is one colour throughout (the truth is not)"),
    ("copy", "copy of the input", "attempt 1 is the test input unchanged"),
    ("novalid", "no valid grid", "no candidate: the predictions decoded to no valid grid, or none were made; "
                                 "both attempts are the test input"),
    ("exact", "exact", "an attempt is the truth"),
)
LABELS = {k: label for k, label, _ in CATEGORIES}
ORDER = {k: i for i, (k, _, _) in enumerate(CATEGORIES)}


def wrong_cells(attempt: np.ndarray | None, truth: np.ndarray | None) -> int | None:
    """Cells of `attempt` that differ from `truth` (None when either is missing or the shapes differ)."""
    if attempt is None or truth is None or attempt.shape != truth.shape:
        return None
    return int(np.count_nonzero(attempt != truth))


def categorise(attempts: list[np.ndarray | None], truth: np.ndarray | None, test_input: np.ndarray,
               no_candidate: bool) -> str | None:
    """The category key of one test output (None when the truth is unknown)."""
    if truth is None:
        return None
    if any(a is not None and a.shape == truth.shape and np.array_equal(a, truth) for a in attempts):
        return "exact"
    first = attempts[0] if attempts else None
    if no_candidate or first is None:
        return "novalid"
    if first.shape == test_input.shape and np.array_equal(first, test_input):
        return "copy"
    if _one_colour(first) and not _one_colour(truth):
        return "background"
    wrong = wrong_cells(first, truth)
    if wrong is None:
        return "wrongshape"
    return "near" if wrong <= NEAR_CELLS and 4 * wrong <= first.size else "shape"


def _one_colour(grid: np.ndarray) -> bool:
    return bool(grid.size) and bool((grid == grid.flat[0]).all())
