"""`arc-pipeline bench infer`: predictions/s with halting on and off; voting time at ARC scale.

Throughput uses a randomly initialised TRM whose halting head is re-drawn so examples stop at
spread-out steps (a fresh head never halts: bias -5); the figures measure the predictor's
continuous batching against the reference's run-every-step, not accuracy. Voting times 400 tasks
x 1000 augmented predictions each, on one core.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click

SIZES = {
    # name: model overrides, examples, batch
    "tiny": (dict(seq_len=36, hidden=64, heads=4, expansion=2.0, n_latent=2, n_recursions=2, puzzle_emb_len=4), 512, 128),
    "arc": (dict(), 1024, 256),
    "toy": (dict(seq_len=16, hidden=32, heads=2, expansion=2.0, n_latent=1, n_recursions=1, puzzle_emb_len=2,
                 max_steps=4), 64, 32),  # a code check (bench gpu --dry), not a figure  # the paper's ARC configuration (hidden 512, seq 900, n=4, T=3, N_sup=16)
}


def throughput(size: str, device: str, dtype: str, seed: int = 0) -> dict[str, Any]:
    """Predictions/s and mean steps, halting on and off, on random inputs."""
    import numpy as np
    import torch

    from arc_pipeline.augment.source import ArraySource
    from arc_pipeline.solver.config import ModelConfig
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.infer import PredictConfig, run_steps
    from arc_pipeline.solver.model import TRM

    overrides, n, batch = SIZES[size]
    cfg = ModelConfig(num_puzzles=n + 1, **overrides)
    runtime = setup_runtime(device, dtype)
    gen = torch.Generator().manual_seed(seed)
    model = TRM(cfg, seed=seed)
    with torch.no_grad():  # a halting head that fires at different steps for different examples
        model.halt_head.weight.normal_(0, 1.0 / cfg.hidden**0.5, generator=gen)
        model.halt_head.bias.fill_(-1.5)
        model.puzzle_emb.table.normal_(0, 1.0, generator=gen)
    model.to(runtime.device)
    rng = np.random.default_rng(seed)
    inputs = rng.integers(2, cfg.vocab_size, (n, cfg.seq_len)).astype(np.uint8)
    source = ArraySource(inputs, inputs, np.arange(1, n + 1, dtype=np.int32), cfg.vocab_size, n + 1)
    out: dict[str, Any] = {"size": size, "device": str(runtime.device), "dtype": str(runtime.dtype).replace("torch.", ""),
                           "examples": n, "batch": batch, "max_steps": cfg.max_steps}
    run_steps(model, source, np.arange(min(n, batch)), runtime, PredictConfig(batch_size=batch, max_steps=1))  # warm-up
    for halt in ("off", "on"):
        runtime.synchronize()
        t = time.perf_counter()
        raw = run_steps(model, source, np.arange(n), runtime, PredictConfig(batch_size=batch, halt=halt))
        runtime.synchronize()
        s = time.perf_counter() - t
        out[f"predictions_per_s_halt_{halt}"] = n / s
        out[f"mean_steps_halt_{halt}"] = float(raw.steps.mean())
    return out


def voting(n_tasks: int = 400, per_task: int = 1000, distinct: int = 20, seed: int = 0) -> dict[str, Any]:
    """Seconds to vote n_tasks x per_task predictions (grids up to 30x30, `distinct` candidates each)."""
    import numpy as np
    import polars as pl

    from arc_pipeline.arc.task import Pair, Task, as_grid
    from arc_pipeline.solver.vote import PREDICTION_SCHEMA, pass_at_k, to_candidates, vote

    rng = np.random.default_rng(seed)
    ids, data, rows, cols, tasks = [], [], [], [], {}
    for t in range(n_tasks):
        h, w = (int(v) for v in rng.integers(1, 31, 2))
        cands = [rng.integers(0, 10, (h, w), dtype=np.uint8) for _ in range(distinct)]
        pick = rng.zipf(1.5, per_task) % distinct  # a few popular candidates, a long tail
        tid = f"t{t:04d}"
        ids += [tid] * per_task
        data += [cands[p].tobytes() for p in pick]
        rows.append(np.full(per_task, h))
        cols.append(np.full(per_task, w))
        tasks[tid] = Task(tid, (), (Pair(as_grid(cands[0]), as_grid(cands[0])),))
    n = len(ids)
    frame = pl.DataFrame(
        {"task_id": ids, "test_index": np.zeros(n, np.int32), "grid": data,
         "rows": np.concatenate(rows).astype(np.uint8), "cols": np.concatenate(cols).astype(np.uint8),
         "halt_prob": rng.random(n).astype(np.float32), "steps": rng.integers(1, 17, n).astype(np.int16)},
        schema=PREDICTION_SCHEMA,
    )
    t = time.perf_counter()
    voted = vote(frame)
    vote_s = time.perf_counter() - t
    t = time.perf_counter()
    pass_at_k(voted, tasks)
    candidates = to_candidates(voted, tasks, k=2)
    rest_s = time.perf_counter() - t
    assert len(candidates) == n_tasks
    return {"vote_predictions": n, "vote_seconds": vote_s, "pass_at_k_and_candidates_seconds": rest_s,
            "polars_threads": pl.thread_pool_size()}


@click.command("infer")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--size", type=click.Choice(sorted(SIZES)), default="tiny", show_default=True,
              help="tiny (CPU) or arc (the paper's ARC configuration; meant for a GPU).")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=0, help="CPU threads for torch (0 = torch's default).")
def cmd(as_json: bool, size: str, device: str, dtype: str, threads: int) -> None:
    """Predictions/s with halting on and off; voting time for 400 tasks x 1000 predictions."""
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # the voting target is for one core; read at polars import
    from arc_pipeline import ui
    from arc_pipeline.solver.device import set_threads

    set_threads(threads or None)
    out = {**throughput(size, device, dtype), **voting()}
    if as_json:
        click.echo(json.dumps(out))
        return
    ui.table(f"inference ({out['size']}, {out['device']}, {out['dtype']}, {out['examples']} examples, batch {out['batch']})",
             ["figure", "halting off", "halting on"],
             [["predictions/s", f"{out['predictions_per_s_halt_off']:.1f}", f"{out['predictions_per_s_halt_on']:.1f}"],
              ["mean steps", f"{out['mean_steps_halt_off']:.2f}", f"{out['mean_steps_halt_on']:.2f}"]])
    ui.table("voting", ["figure", "value"],
             [["predictions voted", f"{out['vote_predictions']:,}"], ["seconds", f"{out['vote_seconds']:.2f}"],
              ["pass@K + candidates seconds", f"{out['pass_at_k_and_candidates_seconds']:.2f}"],
              ["polars threads", out["polars_threads"]]])
