"""A deterministic example stream: epoch permutations from the seed, one global position.

Every rank walks the same global stream. Each step the ranks agree on how many fresh examples
each needs (their halted slots); rank r takes the run that follows ranks 0..r-1, and the position
advances by the total. So nothing is drawn and thrown away, no example is duplicated or dropped
across ranks, and the state to save is one integer, valid for any world size.
"""

from __future__ import annotations

import numpy as np


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, step, purpose...), independent of global RNG state."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts] + [len(parts)]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class Sampler:
    """Indices into a source of `n` examples, epoch by epoch, each epoch a seeded permutation."""

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

    def indices_at(self, start: int, count: int) -> np.ndarray:
        """Stream positions start .. start+count-1 as example indices (crossing epochs as needed)."""
        out = np.empty(count, dtype=np.int64)
        done = 0
        while done < count:
            epoch, offset = divmod(start + done, self.n)
            take = min(count - done, self.n - offset)
            out[done : done + take] = self._permutation(epoch)[offset : offset + take]
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
    def epoch(self) -> float:
        return self.position / self.n
