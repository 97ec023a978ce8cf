"""Generated ARC-style tasks with known rules: the CPU proof that the whole pipeline is right.

Each task applies one fixed rule (a flip, rotation, transpose, colour swap or recolouring, or a
cyclic shift) to small random grids; 3 demonstrations and 1-2 test inputs, outputs known. Tasks
are deterministic from (seed, index) alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from arc_pipeline.arc.task import Pair, Task, as_grid

Rule = Callable[[np.ndarray], np.ndarray]

GEOMETRIC: dict[str, Rule] = {
    "flip_lr": lambda g: g[:, ::-1],
    "flip_ud": lambda g: g[::-1, :],
    "rot90": lambda g: np.rot90(g, 1),
    "rot180": lambda g: np.rot90(g, 2),
    "rot270": lambda g: np.rot90(g, 3),
    "transpose": lambda g: g.T,
    "anti_transpose": lambda g: np.rot90(g, 2).T,
    "shift_right": lambda g: np.roll(g, 1, axis=1),
    "shift_down": lambda g: np.roll(g, 1, axis=0),
}
RULES: tuple[str, ...] = tuple(GEOMETRIC) + ("color_swap", "recolor")


@dataclass(frozen=True)
class SynthConfig:
    n_tasks: int = 16
    min_side: int = 3
    max_side: int = 5
    n_train: int = 3
    max_test: int = 2  # each task gets 1..max_test test inputs
    max_colors: int = 3  # non-background colours per grid
    rules: tuple[str, ...] = RULES  # task i uses rules[i % len(rules)]

    def __post_init__(self) -> None:
        unknown = [r for r in self.rules if r not in RULES]
        if unknown or not self.rules:
            raise ValueError(f"SynthConfig.rules: unknown {unknown}; valid rules are {list(RULES)}")
        if not 2 <= self.min_side <= self.max_side <= 30:
            raise ValueError(f"SynthConfig sides must satisfy 2 <= min_side <= max_side <= 30, got {self.min_side}, {self.max_side}")
        if self.n_train < 1 or self.max_test < 1 or not 2 <= self.max_colors <= 8:
            raise ValueError("SynthConfig needs n_train >= 1, max_test >= 1 and 2 <= max_colors <= 8")


def _random_grid(rng: np.random.Generator, cfg: SynthConfig, palette: np.ndarray) -> np.ndarray:
    h, w = rng.integers(cfg.min_side, cfg.max_side + 1, size=2)
    cells = rng.choice(palette, size=(h, w))
    background = rng.random((h, w)) < 0.4
    return np.where(background, 0, cells).astype(np.uint8)


def _color_rule(rng: np.random.Generator, kind: str) -> tuple[Rule, np.ndarray]:
    """A colour rule and the palette its grids draw from (the rule must act on every grid)."""
    colors = rng.permutation(np.arange(1, 10))
    table = np.arange(10, dtype=np.uint8)
    if kind == "color_swap":
        a, b = colors[:2]
        table[a], table[b] = b, a
        palette = colors[:3]  # a, b and one colour the rule leaves alone
    else:  # recolor: a -> c, where c never occurs in inputs
        a, c = colors[:2]
        table[a] = c
        palette = np.array([a, colors[2], colors[3]])
    return (lambda g: table[g]), palette


def synth_task(seed: int, index: int, cfg: SynthConfig = SynthConfig()) -> Task:
    """Task `index` of the suite for `seed`: the rule is cfg.rules[index % len(rules)]."""
    rng = np.random.default_rng([seed, index])
    name = cfg.rules[index % len(cfg.rules)]
    if name in GEOMETRIC:
        rule = GEOMETRIC[name]
        palette = rng.permutation(np.arange(1, 10))[: cfg.max_colors]
    else:
        rule, palette = _color_rule(rng, name)
    n_test = int(rng.integers(1, cfg.max_test + 1))
    pairs: list[Pair] = []
    seen: set[bytes] = set()
    while len(pairs) < cfg.n_train + n_test:
        g = _random_grid(rng, cfg, palette)
        out = np.ascontiguousarray(rule(g))
        # a pair the rule leaves unchanged (a symmetric grid) or a repeat would not show the rule
        key = g.tobytes() + bytes(g.shape)
        if (out.shape == g.shape and np.array_equal(out, g)) or key in seen:
            continue
        seen.add(key)
        pairs.append(Pair(as_grid(g), as_grid(out)))
    return Task(f"s{seed}-{index:03d}-{name}", tuple(pairs[: cfg.n_train]), tuple(pairs[cfg.n_train :]))


def synth_suite(seed: int, cfg: SynthConfig = SynthConfig()) -> dict[str, Task]:
    """cfg.n_tasks generated tasks by id, in index order, deterministic from `seed`."""
    tasks = (synth_task(seed, i, cfg) for i in range(cfg.n_tasks))
    return {t.id: t for t in tasks}


def rule_of(task_id: str) -> str:
    """The rule name encoded in a generated task's id."""
    return task_id.split("-", 2)[2]
