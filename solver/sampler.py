"""Deterministic example streams: epochs from the seed, one global position.

Every rank walks the same global stream. Each step the ranks agree on how many fresh examples
each needs (their halted slots); rank r takes the run that follows ranks 0..r-1, and the position
advances by the total. So nothing is drawn and thrown away, no example is duplicated or dropped
across ranks, and the state to save is the position (plus, for epochs of varying length, where
the current epoch starts), valid for any world size.

Two rules for what an epoch is (`train.sampling`):
- `reference` (the default; the reference's loader): an epoch visits every group (an ARC task)
  once, in a seeded shuffled order, picks ONE of its puzzles (augmented copies) at random and
  streams ALL of that puzzle's pairs. A task's share of training is its share of pairs, whatever the
  number of puzzles it reached. Unlike the reference, nothing is cut: the reference truncates the
  puzzle that overflows a batch and drops an epoch's last partial batch; a stream has no batch
  edge, so every pair of every chosen puzzle is fed.
- `uniform` (ours before; kept for comparison): an epoch is a seeded permutation of all example
  rows, so a task's share is puzzles x pairs (tasks with few colours reach few distinct
  puzzles: on the ARC-AGI-1 1000-augmentation build one task gets 0.01x the reference's share).

Per-group weights plug into the reference rule: a group of weight w is visited floor(w) times per
epoch, plus once more with probability frac(w) (seeded per epoch); weight 1 everywhere is the
reference. A source without groups (Sudoku, mazes) has every example as its own group with one
member, and then the two rules coincide (one seeded permutation of the rows per epoch).
"""

from __future__ import annotations

from typing import Literal, Mapping

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.source import Groups, UniformGroups

Rule = Literal["reference", "uniform"]
RULES: tuple[str, ...] = ("reference", "uniform")


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, step, purpose...), independent of global RNG state."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts] + [len(parts)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class Sampler:
    """The `uniform` rule: indices into `n` examples, each epoch a seeded permutation of all of them."""

    rule = "uniform"

    def __init__(self, n: int, seed: int, position: int = 0) -> None:
        if n <= 0:
            raise ValueError("cannot sample from an empty source")
        self.n = n
        self.seed = seed
        self.position = position  # examples handed out so far, over all ranks
        self._epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng(derive_seed(self.seed, epoch, 0x5A)).permutation(self.n)
            self._epoch = epoch
        return self._perm

    def _locate(self, position: int) -> tuple[int, int, int]:
        """(epoch, its first stream position, its length) of the epoch holding `position`."""
        e = position // self.n
        return e, e * self.n, self.n

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        return self._permutation(epoch)

    def indices_at(self, start: int, count: int) -> np.ndarray:
        """Stream positions start .. start+count-1 as example indices (crossing epochs as needed)."""
        out = np.empty(count, dtype=np.int64)
        done = 0
        while done < count:
            epoch, first, length = self._locate(start + done)
            offset = start + done - first
            take = min(count - done, length - offset)
            out[done : done + take] = self._epoch_indices(epoch)[offset : offset + take]
            done += take
        return out

    def take(self, counts: np.ndarray | list[int], rank: int = 0) -> tuple[np.ndarray, int]:
        """This rank's indices given every rank's count; returns (indices, their stream start)."""
        counts = np.asarray(counts, dtype=np.int64)
        start = self.position + int(counts[:rank].sum())
        idx = self.indices_at(start, int(counts[rank]))
        self.position += int(counts.sum())
        return idx, start

    @property
    def epoch_length(self) -> float:
        """Examples per epoch (the mean, when epochs vary in length)."""
        return float(self.n)

    @property
    def epoch(self) -> float:
        e, first, length = self._locate(self.position)
        return e + (self.position - first) / length

    def state(self) -> dict[str, int]:
        """What a checkpoint must keep (small): the position, and the epoch cursor it sits in."""
        return {"position": int(self.position)}

    def restore(self, state: Mapping[str, int]) -> None:
        self.position = int(state["position"])


class GroupSampler(Sampler):
    """The `reference` rule (see the module docstring), optionally with per-group visit weights."""

    rule = "reference"

    def __init__(self, groups: Groups | UniformGroups, seed: int, position: int = 0,
                 weights: np.ndarray | None = None) -> None:
        g = len(groups)
        if g == 0 or groups.rows() == 0:
            raise ValueError("cannot sample from an empty source")
        self._npuzzles = groups.puzzles()
        if np.any(self._npuzzles < 1):
            raise ValueError("every group needs at least one puzzle")
        w = np.ones(g) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (g,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"group weights must be {g} finite values >= 0, not all 0")
        super().__init__(groups.rows(), seed, position)
        self.groups, self.weights = groups, w
        whole, frac = np.floor(w).astype(np.int64), w - np.floor(w)
        self._whole, self._frac = whole, frac
        size = groups.puzzle_rows()
        same = size is not None
        # every epoch has the same length unless a weight is fractional or a group's puzzles differ in size
        self._fixed = int((whole * size).sum()) if same and not frac.any() else 0
        if self._fixed == 0 and not frac.any() and same:
            raise ValueError("group weights give empty epochs")
        self._cursor = (0, 0)  # (epoch, its first position): walking point for epochs of varying length
        self._cache: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        if self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng(derive_seed(self.seed, epoch, 0x6A))
        reps = self._whole + (rng.random(len(self._whole)) < self._frac) if self._frac.any() else self._whole
        order = rng.permutation(np.repeat(np.arange(len(reps)), reps))
        starts, counts = self.groups.ranges(order, rng.integers(0, self._npuzzles[order]))
        # concatenated ranges starts[i] .. starts[i]+counts[i]-1, without a Python loop
        ends = np.cumsum(counts)
        idx = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
        idx += np.repeat(starts - (ends - counts), counts)
        self._cache = (epoch, idx)
        return idx

    def _locate(self, position: int) -> tuple[int, int, int]:
        if self._fixed:
            e = position // self._fixed
            return e, e * self._fixed, self._fixed
        e, first = self._cursor if position >= self._cursor[1] else (0, 0)
        while True:
            length = len(self._epoch_indices(e))
            if position < first + length:
                self._cursor = (e, first)
                return e, first, length
            e, first = e + 1, first + length

    @property
    def epoch_length(self) -> float:
        return float(self._fixed) if self._fixed else float((self.weights * self.groups.mean_pairs()).sum())

    def state(self) -> dict[str, int]:
        e, first, _ = self._locate(self.position)
        return {"position": int(self.position), "epoch": int(e), "epoch_start": int(first)}

    def restore(self, state: Mapping[str, int]) -> None:
        self.position = int(state["position"])
        if "epoch_start" in state and int(state["epoch_start"]) <= self.position:
            self._cursor = (int(state["epoch"]), int(state["epoch_start"]))


def source_groups(source) -> Groups | UniformGroups | None:
    """The source's groups of puzzles (`source.groups()`), or None when it has none."""
    fn = getattr(source, "groups", None)
    return fn() if callable(fn) else None


def make_sampler(source, rule: str, seed: int, weights: Mapping[str, float] | None = None) -> Sampler:
    """The example stream of `source` under `rule` ("reference" | "uniform").

    `weights`: group name (task id) -> visits per epoch, for the reference rule; groups it does not
    name keep weight 1. This is the hook source weights plug into."""
    if rule == "uniform":
        if weights:
            raise ArcError("train.sampling = 'uniform' samples example rows; group weights need train.sampling = 'reference'")
        return Sampler(len(source), seed)
    if rule != "reference":
        raise ArcError(f"train.sampling must be one of {', '.join(RULES)}, got {rule!r}")
    groups = source_groups(source)
    if groups is None:  # every example is its own group with one member: both rules are one permutation
        if weights:
            raise ArcError("group weights need a source with groups (an ARC build); this one has none")
        return Sampler(len(source), seed)
    w = None
    if weights:
        known = set(groups.names)
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ArcError(f"group weights name {len(unknown)} task(s) not in the training split, e.g. {unknown[0]!r}")
        w = np.array([float(weights.get(n, 1.0)) for n in groups.names])
    try:
        return GroupSampler(groups, seed, weights=w)
    except ValueError as e:
        raise ArcError(f"training source: {e}") from None
