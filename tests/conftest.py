"""Shared fixtures and the test tiers.

Tiers (pyproject registers the markers): unit tests carry no marker; `integration` marks every test
that drives the CLI or several stages (enforced below for tests using `cli`/`tiny_run`); `slow` tests
skip unless --runslow; `gpu` tests skip without a CUDA device.

Factories (`toy_configs`, `toy_source`, ...) are session fixtures returning a function, so a
module-scoped fixture can use them too and each test picks its own sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arc_pipeline.augment.source import ArraySource, Groups


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


CLI_FIXTURES = {"cli", "tiny_run"}


def pytest_collection_modifyitems(config, items):
    from arc_pipeline.solver.device import gpu_available

    has_gpu = gpu_available()
    unmarked = [item.nodeid for item in items
                if CLI_FIXTURES & set(getattr(item, "fixturenames", ())) and "integration" not in item.keywords]
    if unmarked:
        raise pytest.UsageError("tests driving the CLI must be marked integration: " + ", ".join(unmarked))
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(pytest.mark.skip(reason="slow: pass --runslow"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture
def one_thread():
    """Tiny tensors: one torch thread is faster and never spin-waits on a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ solver: runtime, toy data, toy configs


class GroupedSource(ArraySource):
    """Rows grouped as tasks x 2 variants x 4 pairs (a module-level class, so it pickles to spawned ranks)."""

    def groups(self) -> Groups:
        n = len(self) // 8
        return Groups(tuple(f"t{i}" for i in range(n)), np.arange(0, 2 * n + 1, 2), np.arange(0, 8 * n, 4), np.full(2 * n, 4))


@pytest.fixture(scope="session")
def cpu_runtime():
    """One CPU process in float32 (autocast a no-op)."""
    import torch

    from arc_pipeline.solver.device import Runtime

    return Runtime(device=torch.device("cpu"), dtype=torch.float32)


@pytest.fixture(scope="session")
def toy_source():
    """`toy_source(n=64, length=6, puzzles=5, seed=0)`: reverse a sequence of tokens 2..5; puzzle ids 1..puzzles-1."""

    def make(n: int = 64, length: int = 6, puzzles: int = 5, seed: int = 0) -> ArraySource:
        rng = np.random.default_rng(seed)
        x = rng.integers(2, 6, (n, length)).astype(np.uint8)
        return ArraySource(x, x[:, ::-1].copy(), rng.integers(1, puzzles, n).astype(np.int32), vocab_size=6,
                           num_puzzles=puzzles)

    return make


@pytest.fixture(scope="session")
def grouped_toy_source(toy_source):
    """`grouped_toy_source(n=64)`: toy_source's rows as 8 tasks x 2 variants x 4 pairs, for the reference sampling rule."""

    def make(n: int = 64) -> GroupedSource:
        s = toy_source(n)
        return GroupedSource(s.inputs, s.labels, s.puzzle_ids, vocab_size=s.vocab_size, num_puzzles=s.num_puzzles)

    return make


@pytest.fixture(scope="session")
def toy_configs():
    """`toy_configs(**train_kw)`: a 16-wide one-layer model for toy_source and a 5-step CPU schedule
    (keywords override TrainConfig; halt_exploration goes to the model)."""
    from arc_pipeline.solver.config import ModelConfig, TrainConfig

    def make(**train_kw):
        mcfg = ModelConfig(vocab_size=6, seq_len=6, num_puzzles=5, hidden=16, heads=2, layers=1, n_latent=2, n_recursions=2,
                           max_steps=3, puzzle_emb_len=2, halt_exploration=train_kw.pop("halt_exploration", 0.0))
        kw = dict(global_batch=4, steps=5, lr=1e-3, lr_warmup=1, log_every=1, checkpoint_every=0, device="cpu", ema=0.9)
        return mcfg, TrainConfig(**(kw | train_kw))

    return make


def _gloo_rank(rank: int, world: int, port: int, fn, args) -> None:
    """One spawned rank: torchrun's environment for a gloo group on this machine, one thread, then
    `fn(rank, world, *args)`; the group (if `fn` joined it) is left at the end."""
    import os

    import torch

    from arc_pipeline.solver.device import teardown

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world), CUDA_VISIBLE_DEVICES="")
    torch.set_num_threads(1)
    try:
        fn(rank, world, *args)
    finally:
        teardown()


def _local_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (a rendezvous endpoint for spawned processes)."""
    return _local_port()


@pytest.fixture(scope="session")
def gloo_ranks():
    """`gloo_ranks(fn, world, *args)`: run `fn(rank, world, *args)` (a module-level function, so it pickles)
    in `world` spawned processes that form a gloo group on a free local port; raises if any fails."""
    import torch.multiprocessing as mp

    def spawn(fn, world: int, *args) -> None:
        mp.spawn(_gloo_rank, args=(world, _local_port(), fn, args), nprocs=world, join=True)

    return spawn


# ------------------------------------------------------------------ pipeline: CLI, tiny run config, fake stages

TINY_TOML = """
[data]
train = ["arc1/training"]
target = "arc1/evaluation"
max_side = 5
limit_train = 6
limit_target = 3
[run]
protocol = "joint"
[build]
augmentations = 2
canvas = 6
val_fraction = 0.0
[model]
hidden = 32
heads = 2
layers = 1
n_latent = 1
n_recursions = 1
max_steps = 2
[train]
global_batch = 8
steps = 6
lr_warmup = 1
ema = 0.9
checkpoint_every = 3
log_every = 1
device = "cpu"
[predict]
batch_size = 64
"""


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A config file for a whole `run` in seconds on CPU: 6 small training tasks, 3 targets, 6 steps."""
    f = tmp_path_factory.mktemp("config") / "tiny.toml"
    f.write_text(TINY_TOML)
    return f


@pytest.fixture(scope="session")
def cli():
    """`cli(*args)`: `arc-pipeline args...` through Click's runner (arguments str()-ed), its Result back."""
    from click.testing import CliRunner

    from arc_pipeline.cli import main

    return lambda *args: CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="session")
def tiny_run(cli, tiny_config):
    """`tiny_run(run_dir, *more)`: `arc-pipeline run --config tiny.toml --run-dir run_dir *more`."""
    return lambda run_dir, *more: cli("run", "--config", tiny_config, "--run-dir", run_dir, *more)


@pytest.fixture
def smoke_config():
    from arc_pipeline.config import load_config

    return load_config("smoke")


class FakeStages:
    """Stage functions for the runner's `impl=` that record calls and write one file each."""

    def __init__(self):
        self.calls: list[str] = []
        self.fail_on: str | None = None

    def impl(self):
        from arc_pipeline.stages import STAGES, StageResult

        def make(stage):
            def fn(cfg, run_dir, ctx):
                self.calls.append(stage)
                if stage == self.fail_on:  # leaves a checkpoint behind, as a killed trainer does
                    (run_dir / "checkpoints").mkdir(exist_ok=True)
                    (run_dir / "checkpoints" / "latest").write_text("step_00000005")
                    raise RuntimeError(f"{stage} crashed")
                out = f"{stage}.out"
                (run_dir / out).write_text(stage)
                return StageResult([out], {"n": len(self.calls)})

            return fn

        return {s: make(s) for s in STAGES}


@pytest.fixture(scope="session")
def fake_stages():
    """`fake_stages()`: a fresh FakeStages (calls recorded, `fail_on` settable)."""
    return FakeStages


# ------------------------------------------------------------------ task files


@pytest.fixture(scope="session")
def write_challenges():
    """`write_challenges(folder, tasks, split="evaluation", solutions=True)`: tasks as Kaggle's
    `arc-agi_{split}_challenges.json` in `folder` (test outputs hidden), their answers in
    `arc-agi_{split}_solutions.json` beside it if asked; the challenges path back."""

    def write(folder: Path, tasks, *, split: str = "evaluation", solutions: bool = True) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"arc-agi_{split}_challenges.json"
        path.write_text(json.dumps({t.id: t.to_json(with_solutions=False) for t in tasks}))
        if solutions:
            answers = {t.id: [p.output.tolist() for p in t.test] for t in tasks}
            (folder / f"arc-agi_{split}_solutions.json").write_text(json.dumps(answers))
        return path

    return write
