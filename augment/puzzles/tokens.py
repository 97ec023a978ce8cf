"""Tokens shared by Sudoku and mazes: one puzzle id for every example, the per-example token gather
that every augmentation of these domains reduces to, and the ExampleSource over fixed-size grids."""

from __future__ import annotations

import numpy as np

from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.source import Batch

SHARED_PUZZLE_ID = 1  # one puzzle id for every example (the embedding table has 2 rows: 0 = blank)


@njit(**KERNEL)
def _gather_map(tokens, pos, tmap, out):
    for b in range(tokens.shape[0]):
        for i in range(pos.shape[1]):
            out[b, i] = tmap[b, tokens[b, pos[b, i]]]


def apply_tokens(tokens: np.ndarray, pos: np.ndarray, tmap: np.ndarray) -> np.ndarray:
    """out[b, i] = tmap[b, tokens[b, pos[b, i]]]: one augmentation per row of a token batch."""
    tokens = np.ascontiguousarray(tokens, dtype=np.uint8)
    if tokens.ndim != 2 or pos.shape != tokens.shape or tmap.shape[0] != tokens.shape[0]:
        raise ValueError(f"tokens {tokens.shape}, positions {pos.shape}, maps {tmap.shape} disagree")
    if tokens.size and int(tokens.max()) >= tmap.shape[1]:
        raise ValueError(f"token {int(tokens.max())} outside the vocabulary of {tmap.shape[1]}")
    out = np.empty_like(tokens)
    _gather_map(tokens, np.ascontiguousarray(pos, np.int32), np.ascontiguousarray(tmap, np.uint8), out)
    return out


class SharedIdSource:
    """Fixed-size puzzles (Sudoku, mazes) under one shared puzzle id; when `transform` is given,
    `batch` applies it as `transform(inputs, labels, rng)` with an rng drawn from `seed` alone."""

    num_puzzles = 2

    def __init__(self, inputs: np.ndarray, labels: np.ndarray, vocab_size: int, transform=None):
        self.inputs = np.ascontiguousarray(inputs, dtype=np.uint8)
        self.labels = np.ascontiguousarray(labels, dtype=np.uint8)
        self.vocab_size = vocab_size
        self.transform = transform

    @property
    def seq_len(self) -> int:
        return self.inputs.shape[1]

    @property
    def augment(self) -> bool:
        return self.transform is not None

    def __len__(self) -> int:
        return len(self.inputs)

    def batch(self, indices: np.ndarray, seed: int) -> Batch:
        idx = np.asarray(indices)
        x, y = self.inputs[idx], self.labels[idx]
        if self.transform is not None:
            x, y = self.transform(x, y, np.random.default_rng(seed))
        return Batch(x, y, np.full(len(idx), SHARED_PUZZLE_ID, np.int32))
