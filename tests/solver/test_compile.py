"""torch.compile over 20 training steps under bf16 autocast on the CPU: the step compiles once and
never again (no recompile: the first carry is built in the activation dtype, the one the step
returns) and in one piece (no graph break: the puzzle rows are made trainable outside the compiled
forward), in one process and in two gloo ranks under DDP.

Dynamo's guards and graph breaks do not depend on the backend, so the quick tests compile with
the "eager" backend (Dynamo's capture, no code generation); the slow one uses the default
(Inductor, which takes about a minute per graph on this CPU). `torch._dynamo.config.error_on_recompile`
turns any recompile into an exception, so a test that passes saw none.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import arc_pipeline
from arc_pipeline.augment.source import ArraySource
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import Runtime, setup_runtime
from arc_pipeline.solver.train import Trainer

STEPS = 20
ROOT = Path(arc_pipeline.__file__).resolve().parent.parent  # the repository (package-dir layout)
MODEL = ModelConfig(vocab_size=6, seq_len=6, num_puzzles=5, hidden=16, heads=2, layers=1, n_latent=2, n_recursions=2,
                    max_steps=3, puzzle_emb_len=2, halt_exploration=0.5)
TRAIN = TrainConfig(global_batch=4, steps=STEPS, lr=1e-3, lr_warmup=1, device="cpu", dtype="bfloat16", compile=True, ema=0.9)


def _source() -> ArraySource:
    rng = np.random.default_rng(0)
    x = rng.integers(2, 6, (64, 6)).astype(np.uint8)
    return ArraySource(x, x[:, ::-1].copy(), rng.integers(1, 5, 64).astype(np.int32), vocab_size=6, num_puzzles=5)


class _BreakSites(logging.Handler):
    """Where Dynamo broke a graph (`file:line` of the user code), from its graph_breaks log."""

    def __init__(self, sites: list[str]):
        super().__init__()
        self.sites = sites

    def emit(self, record: logging.LogRecord) -> None:
        self.sites += re.findall(r"Graph break.*? in user code at (\S+:\d+)", record.getMessage())


def _in_project(site: str) -> bool:
    path = Path(site.rsplit(":", 1)[0]).resolve()
    return path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in ("arc", "augment", "pipeline", "solver")


def _compile_steps(runtime: Runtime, backend: str, train_cfg: TrainConfig = TRAIN) -> dict:
    """Train STEPS compiled steps with recompiles made errors; returns Dynamo's counters and the carry dtypes."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    sites: list[str] = []
    handler = _BreakSites(sites)
    torch._logging.set_logs(graph_breaks=True)
    logging.getLogger("torch._dynamo").addHandler(handler)
    real = torch.compile
    before = torch._dynamo.config.error_on_recompile
    torch.compile = lambda model, **kw: real(model, backend=backend, **kw)
    torch._dynamo.config.error_on_recompile = True
    try:
        tr = Trainer(MODEL, train_cfg, _source(), runtime)
        dtypes = {tr.carry["y"].dtype}
        halted = 0
        for _ in range(STEPS):
            out = tr.step()
            halted += int(out["halted"].sum())
            dtypes.add(tr.carry["y"].dtype)
    finally:
        torch.compile = real
        torch._dynamo.config.error_on_recompile = before
        logging.getLogger("torch._dynamo").removeHandler(handler)
        torch._logging.set_logs()
    counters = torch._dynamo.utils.counters
    return {"graphs": counters["stats"]["unique_graphs"], "breaks": dict(counters["graph_break"]),
            "project_breaks": [x for x in sites if _in_project(x)],
            "carry_dtypes": sorted(str(d) for d in dtypes),
            "halted": halted, "loss": float(out["loss"])}


def test_twenty_compiled_steps_under_bf16_autocast_compile_once(one_thread):
    r = _compile_steps(Runtime(device=torch.device("cpu"), dtype=torch.bfloat16), "eager")
    assert r["carry_dtypes"] == ["torch.bfloat16"]  # built in the dtype the step returns
    assert r["breaks"] == {} and r["graphs"] == 1  # one graph: compiled once, never split
    assert r["project_breaks"] == []
    assert r["halted"] > 0 and np.isfinite(r["loss"])  # slots halted and refilled: shapes held


@pytest.mark.slow
def test_micro_batch_chunks_compile_once_too(one_thread):
    r = _compile_steps(Runtime(device=torch.device("cpu"), dtype=torch.bfloat16), "eager", replace(TRAIN, micro_batch=2))
    assert r["carry_dtypes"] == ["torch.bfloat16"] and r["breaks"] == {} and r["graphs"] == 1


def _worker(rank: int, world: int, out: str, backend: str) -> None:
    rt = setup_runtime("cpu", "bfloat16")
    torch.save(_compile_steps(rt, backend, replace(TRAIN, global_batch=8)), f"{out}/rank{rank}.pt")


@pytest.mark.slow
def test_two_gloo_ranks_under_ddp_compile_once(tmp_path, gloo_ranks):
    gloo_ranks(_worker, 2, str(tmp_path), "eager")
    for rank in range(2):
        r = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        # Dynamo steps around DDP's own wrapper on purpose (it marks DistributedDataParallel's forward
        # helpers as not traced, then compiles the module inside): those breaks are torch's, by design;
        # none may fall in the project's code
        assert r["carry_dtypes"] == ["torch.bfloat16"] and r["project_breaks"] == [] and r["graphs"] >= 1, r


@pytest.mark.slow
def test_inductor_compiles_the_step_once(one_thread):
    """The real compiler (Inductor, C++ on the CPU): a few minutes on this box."""
    r = _compile_steps(Runtime(device=torch.device("cpu"), dtype=torch.bfloat16), "inductor")
    assert r["carry_dtypes"] == ["torch.bfloat16"] and r["breaks"] == {} and r["graphs"] == 1
