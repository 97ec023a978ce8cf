"""Fixtures for the inference tests: a fake model whose halting step is known per example."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from arc_pipeline.augment.source import ArraySource

V, P, L = 12, 2, 5  # vocabulary, puzzle positions, sequence length of the fake model


class FakeTRM(torch.nn.Module):
    """Halts at step = puzzle id; predicts (input token + steps so far) % V, so the step a
    prediction was taken at is visible in its tokens. Records the width of every step call."""

    def __init__(self, max_steps=6):
        super().__init__()
        self.cfg = SimpleNamespace(max_steps=max_steps)
        self.widths = []

    def embed(self, inputs, puzzle_ids):
        x = torch.zeros(len(inputs), P + L, 1)
        x[:, 0, 0] = puzzle_ids.float()
        x[:, P:, 0] = inputs.float()
        return x

    def initial_state(self, batch_size, device):
        return torch.zeros(batch_size, P + L, 1, device=device), torch.zeros(batch_size, P + L, 1, device=device)

    def step(self, x, y, z):
        self.widths.append(len(x))
        y = y + 1
        pred = (x[:, P:, 0].long() + y[:, P:, 0].long()) % V
        logits = torch.nn.functional.one_hot(pred, V).float()
        halt_logit = y[:, 0, 0] - x[:, 0, 0] + 0.5
        return y, z, logits, halt_logit


@pytest.fixture(scope="session")
def fake_trm():
    """The FakeTRM class: `fake_trm(max_steps=6)`."""
    return FakeTRM


@pytest.fixture(scope="session")
def halting_source():
    """`halting_source(n=23, seed=0)` -> (source, halt_at): random rows for FakeTRM, each halting at its
    puzzle id (1..8, some beyond max_steps)."""

    def make(n=23, seed=0):
        rng = np.random.default_rng(seed)
        inputs = rng.integers(0, V, (n, L)).astype(np.uint8)
        halt_at = rng.integers(1, 9, n).astype(np.int32)
        return ArraySource(inputs, inputs.copy(), halt_at, vocab_size=V, num_puzzles=9), halt_at

    return make

