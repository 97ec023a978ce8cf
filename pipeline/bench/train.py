"""`arc-pipeline bench train`: examples/s of full training steps (one supervision step for every
slot + losses + backward + AdamATan2 + EMA + sign-SGD on the puzzle rows) at the paper's ARC
configuration and at a tiny one, as GFLOP/s and as a fraction of this machine's own matmul rate,
measured in the same run (a size-cube matmul at the same threads, device and dtype): a figure that
holds on any machine and under any load, where a fixed outside figure would not."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

import click

@dataclass(frozen=True)
class Setting:
    """One benchmarked configuration."""

    name: str
    hidden: int
    layers: int
    n_latent: int
    n_recursions: int
    seq_len: int
    vocab_size: int
    batch: int
    heads: int = 8
    puzzle_emb_len: int = 16


SETTINGS = {
    "arc": Setting("arc", hidden=512, layers=2, n_latent=4, n_recursions=3, seq_len=900, vocab_size=12, batch=4),
    "tiny": Setting("tiny", hidden=128, layers=2, n_latent=2, n_recursions=2, seq_len=81, vocab_size=11, batch=64),
}


def flops_per_example(cfg) -> float:
    """Model FLOPs of one training step per example (matmuls and attention; elementwise ignored).

    One net call is `layers` blocks (projections, SwiGLU, attention's two s x s products). A step
    runs T * (n + 1) calls forward (the T - 1 no-grad recursions and the last one) and backpropagates
    through the last recursion's n + 1 calls at twice a forward each; the output head runs forward
    and backward once. Counted on the model's positions (puzzle prefix included).
    """
    from arc_pipeline.solver.layers import swiglu_inner

    s, h = cfg.seq_len + cfg.puzzle_emb_len, cfg.hidden
    per_layer = 2 * s * (4 * h * h + 3 * h * swiglu_inner(h, cfg.expansion)) + 4 * s * s * h
    call = cfg.layers * per_layer
    forward_calls = cfg.n_recursions * (cfg.n_latent + 1)
    backward_calls = 2 * (cfg.n_latent + 1)  # backward costs about twice a forward, last recursion only
    head = 2 * cfg.seq_len * h * cfg.vocab_size * 3
    return call * (forward_calls + backward_calls) + head


def matmul_peak(device: str = "cpu", dtype: str = "float32", size: int = 4096, repeats: int = 3) -> float:
    """This machine's matmul rate in GFLOP/s: the best of `repeats` size-cube matmuls, at the current
    thread count, on the device and in the dtype the training steps use."""
    import torch

    from arc_pipeline.solver.device import setup_runtime

    runtime = setup_runtime(device, dtype)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen).to(runtime.device, runtime.dtype) for _ in range(2))
    out = torch.empty_like(a)
    torch.mm(a, b, out=out)  # warm-up: library setup and first-touch pages out of the timing
    runtime.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        runtime.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def measure(setting: Setting, *, steps: int, warmup: int, device: str, dtype: str, compile: bool,
            batch: int | None = None, seed: int = 0, micro_batch: int | str = 0) -> dict:
    """Time `steps` training steps after `warmup` ones; returns examples/s and what was timed."""
    import numpy as np
    import torch

    from arc_pipeline.augment.source import ArraySource
    from arc_pipeline.solver.config import ModelConfig, TrainConfig
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.train import Trainer

    b = batch or setting.batch
    mcfg = ModelConfig(
        vocab_size=setting.vocab_size, seq_len=setting.seq_len, num_puzzles=1000, hidden=setting.hidden,
        heads=setting.heads, layers=setting.layers, n_latent=setting.n_latent, n_recursions=setting.n_recursions,
        puzzle_emb_len=setting.puzzle_emb_len,
    )
    tcfg = TrainConfig(global_batch=b, lr_warmup=10, seed=seed, device=device, dtype=dtype, compile=compile,
                       micro_batch=micro_batch)
    rng = np.random.default_rng(seed)
    n = 4 * b
    tokens = rng.integers(1, setting.vocab_size, (n, setting.seq_len), dtype=np.uint8)
    source = ArraySource(tokens, tokens.copy(), rng.integers(1, 1000, n).astype(np.int32), setting.vocab_size, 1000)
    runtime = setup_runtime(device, dtype)
    trainer = Trainer(mcfg, tcfg, source, runtime)
    runtime.reset_peak_memory()  # after micro_batch auto's probe: the peak of real steps
    for _ in range(warmup):
        trainer.step()
    runtime.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.step()
    runtime.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    cpu_seconds = (time.process_time() - c0) / steps
    ex_per_s = b / seconds
    return {
        "examples_per_s": ex_per_s,
        "seconds_per_step": seconds,
        # process CPU time: near threads x wall on an idle machine; far below it means other load
        "cpu_seconds_per_step": cpu_seconds,
        "batch": b,
        "warmup_steps": warmup,
        "micro_batch": trainer.micro_batch,
        "peak_memory_gib": runtime.peak_memory() / 2**30,  # 0 on the CPU (not measured there)
        "gflops_per_s": flops_per_example(mcfg) * ex_per_s / 1e9,
        "device": str(runtime.device),
        "dtype": str(runtime.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "timed": "solver.train.Trainer.step",
    }


def _set_omp_wait(policy: str) -> str:
    """Set OMP_WAIT_POLICY unless torch (and so OpenMP) is already loaded; returns what holds."""
    current = os.environ.get("OMP_WAIT_POLICY", "unset")
    if policy == "unset" or "torch" in sys.modules:
        return current if policy == "unset" or current.lower() == policy else f"{current} (torch already loaded)"
    os.environ["OMP_WAIT_POLICY"] = policy.upper()
    return policy.upper()


@click.command("train")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--only", type=click.Choice(["arc", "tiny"]), default=None, help="Run one configuration.")
@click.option("--steps", type=int, default=None, help="Timed steps (default: 2 arc, 5 tiny).")
@click.option("--warmup", type=int, default=1, show_default=True, help="Untimed steps first.")
@click.option("--threads", type=int, default=2, show_default=True, help="CPU threads (torch.set_num_threads).")
@click.option("--device", default="cpu", show_default=True, help="cpu, auto (the GPU when there is one) or a torch device name.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16"]), default="float32", show_default=True)
@click.option("--batch", type=int, default=None, help="Override the batch (default: 4 arc, 64 tiny).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--peak-size", type=int, default=4096, show_default=True, help="Side of the matmul that measures the machine's peak.")
@click.option("--omp-wait", type=click.Choice(["passive", "active", "unset"]), default="passive", show_default=True,
              help="OpenMP threads sleep (passive) or spin (active) at barriers; spinning collapses on a shared CPU.")
def cmd(as_json: bool, only: str | None, steps: int | None, warmup: int, threads: int, device: str, dtype: str,
        batch: int | None, compile_: bool, peak_size: int, omp_wait: str) -> None:
    """Training examples/s at the paper's ARC configuration and at a tiny one."""
    # read once when the OpenMP runtime starts, i.e. when torch loads: set it before that
    omp_policy = _set_omp_wait(omp_wait)

    from arc_pipeline import ui
    from arc_pipeline.solver.device import set_threads

    set_threads(threads)
    names = [only] if only else ["arc", "tiny"]
    # before and after the steps: the better of the two is the machine's rate, their spread the load drift
    peaks = [matmul_peak(device, dtype, peak_size)]
    results = {}
    for name in names:
        n = steps or (2 if name == "arc" else 5)
        if not as_json:
            ui.info(f"timing {name}: {n} steps after {warmup} warm-up ...")
        results[name] = measure(SETTINGS[name], steps=n, warmup=warmup, device=device, dtype=dtype,
                                compile=compile_, batch=batch)
    peaks.append(matmul_peak(device, dtype, peak_size))
    peak = max(peaks)
    out: dict = {name: r["examples_per_s"] for name, r in results.items()}
    for name, r in results.items():
        r["fraction_of_peak"] = r["gflops_per_s"] / peak
        out[f"{name}_gflops_per_s"] = r["gflops_per_s"]
        out[f"{name}_fraction_of_peak"] = r["fraction_of_peak"]
    out["matmul_peak_gflops_per_s"] = peak
    out["matmul_peak_runs"] = peaks
    out["matmul_peak_size"] = peak_size
    out["details"] = results
    out["omp_wait_policy"] = omp_policy
    if as_json:
        click.echo(json.dumps(out))
        return
    rows = [[name, r["batch"], f"{r['examples_per_s']:.3f}", f"{r['seconds_per_step']:.3f}", f"{r['gflops_per_s']:.1f}",
             f"{r['fraction_of_peak']:.0%}"] for name, r in results.items()]
    first = results[names[0]]
    ui.table(f"training steps: {first['device']}, {first['dtype']}, {threads} threads ({first['timed']})",
             ["config", "batch", "ex/s", "s/step", "GFLOP/s", "of peak"], rows)
    ui.info(f"matmul peak ({peak_size}-cube, same threads and dtype): {peak:.1f} GFLOP/s "
            f"(before {peaks[0]:.1f}, after {peaks[1]:.1f}); OMP_WAIT_POLICY: {omp_policy}")
