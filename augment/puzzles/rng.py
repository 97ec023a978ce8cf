"""Explicit PRNG streams for the numba generators: splitmix64 on a one-element uint64 state array.

No global state: a draw or search chain owns its stream, seeded from a key such as (seed, split,
index) by `stream`, so output does not depend on batching, order or the number of workers."""

from __future__ import annotations

import numpy as np

from arc_pipeline.augment.jit import KERNEL, njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def stream(*key: int) -> np.ndarray:
    """The state of the stream named by `key` (independent streams for distinct keys)."""
    return np.array(np.random.SeedSequence(list(key)).generate_state(1, np.uint64), np.uint64)


@njit(**KERNEL)
def next_u64(state):
    """splitmix64 step on a one-element uint64 state array."""
    state[0] = state[0] + _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(**KERNEL)
def below(state, k):
    """Uniform integer in [0, k) (k small, so the modulo bias is negligible)."""
    return np.int64(next_u64(state) % np.uint64(k))


@njit(**KERNEL)
def uniform(state):
    """Uniform float in [0, 1) with 53 random bits."""
    return np.float64(next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(**KERNEL)
def shuffle(state, arr):
    """Fisher-Yates shuffle of `arr` in place."""
    for i in range(arr.shape[0] - 1, 0, -1):
        j = below(state, i + 1)
        arr[i], arr[j] = arr[j], arr[i]
