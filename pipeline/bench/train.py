"""`arc-pipeline bench train`: examples/s of full training steps (one supervision step for every
slot + losses + backward + AdamATan2 + EMA + sign-SGD on the puzzle rows) at the paper's ARC
configuration and at a tiny one, against the reference implementation's figures."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

import click

# the reference implementation on a 2-core machine, 2 threads, float32 (examples/s)
REFERENCE = {"arc": 0.20, "tiny": 36.0}


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
    """Model FLOPs of one training step per example (matmuls and attention; elementwise ignored)."""
    from solver.layers import swiglu_inner

    s, h = cfg.seq_len + cfg.puzzle_emb_len, cfg.hidden
    per_layer = 2 * s * (4 * h * h + 3 * h * swiglu_inner(h, cfg.expansion)) + 4 * s * s * h
    call = cfg.layers * per_layer
    forward_calls = cfg.n_recursions * (cfg.n_latent + 1)
    backward_calls = 2 * (cfg.n_latent + 1)  # backward costs about twice a forward, last recursion only
    head = 2 * cfg.seq_len * h * cfg.vocab_size * 3
    return call * (forward_calls + backward_calls) + head


def measure(setting: Setting, *, steps: int, warmup: int, device: str, dtype: str, compile: bool,
            batch: int | None = None, seed: int = 0, micro_batch: int | str = 0) -> dict:
    """Time `steps` training steps after `warmup` ones; returns examples/s and what was timed."""
    import numpy as np
    import torch

    from augment.source import ArraySource
    from solver.config import ModelConfig, TrainConfig
    from solver.device import setup_runtime
    from solver.train import Trainer

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
@click.option("--peak-tflops", type=float, default=None, help="Device peak, to print the fraction achieved.")
@click.option("--omp-wait", type=click.Choice(["passive", "active", "unset"]), default="passive", show_default=True,
              help="OpenMP threads sleep (passive) or spin (active) at barriers; spinning collapses on a shared CPU.")
def cmd(as_json: bool, only: str | None, steps: int | None, warmup: int, threads: int, device: str, dtype: str,
        batch: int | None, compile_: bool, peak_tflops: float | None, omp_wait: str) -> None:
    """Training examples/s at the paper's ARC configuration and at a tiny one."""
    # read once when the OpenMP runtime starts, i.e. when torch loads: set it before that
    omp_policy = _set_omp_wait(omp_wait)

    from pipeline import ui
    from solver.device import set_threads

    set_threads(threads)
    names = [only] if only else ["arc", "tiny"]
    results = {}
    for name in names:
        n = steps or (2 if name == "arc" else 5)
        if not as_json:
            ui.info(f"timing {name}: {n} steps after {warmup} warm-up ...")
        results[name] = measure(SETTINGS[name], steps=n, warmup=warmup, device=device, dtype=dtype,
                                compile=compile_, batch=batch)
    same_as_reference = device == "cpu" and dtype == "float32" and threads == 2 and batch is None
    out: dict = {name: r["examples_per_s"] for name, r in results.items()}
    for name, r in results.items():
        if same_as_reference:
            out[f"{name}_vs_reference"] = r["examples_per_s"] / REFERENCE[name]
        if peak_tflops:
            r["fraction_of_peak"] = r["gflops_per_s"] / (peak_tflops * 1e3)
    out["details"] = results
    out["reference"] = REFERENCE
    out["omp_wait_policy"] = omp_policy
    if as_json:
        click.echo(json.dumps(out))
        return
    rows = []
    for name, r in results.items():
        ratio = f"{r['examples_per_s'] / REFERENCE[name]:.2f}x" if same_as_reference else "n/a"
        row = [name, r["batch"], f"{r['examples_per_s']:.3f}", f"{r['seconds_per_step']:.2f}",
               f"{r['gflops_per_s']:.1f}", REFERENCE[name], ratio]
        rows.append(row + ([f"{r['fraction_of_peak']:.1%}"] if peak_tflops else []))
    first = results[names[0]]
    ui.table(f"training steps: {first['device']}, {first['dtype']}, {threads} threads ({first['timed']})",
             ["config", "batch", "ex/s", "s/step", "GFLOP/s", "ref ex/s", "vs ref"] + (["of peak"] if peak_tflops else []),
             rows)
    ui.info(f"OMP_WAIT_POLICY: {omp_policy}")
    if not same_as_reference:
        ui.info("the reference figures are for cpu, float32, 2 threads, default batches: no ratio at other settings")
