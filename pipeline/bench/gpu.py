"""`arc-pipeline bench gpu`: the GPU figures in one command (about 8 minutes on one GPU).

1. training examples/s at the paper's ARC configuration, batch 768 (micro_batch auto: gradient
   accumulation over the largest chunk that fits), eager and torch.compile, with GFLOP/s, the
   fraction of the GPU's dense bf16 peak and the peak memory;
2. predictions/s at the ARC configuration with halting off and on;
3. a short end-to-end `run` (ingest .. score) of a small configuration on the GPU.
Without a CUDA device it refuses; `--device cpu --dry` runs every piece at toy sizes on the CPU
(for tests: its figures mean nothing).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

BUDGET_S = 480.0
WARMUP_STEPS = 3  # untimed training steps before the timed ones, in both modes

# dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets; matched by
# substring of the device name, most specific first. --peak-tflops overrides.
BF16_PEAK_TFLOPS = [
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("A100", 312.0),
    ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0),
    ("RTX 3090", 71.0), ("A6000", 155.0),
]

# the end-to-end run: a few hundred steps of a small model on real ARC-AGI-1 tasks (small grids)
E2E_GPU = """
[data]
train = ["arc1/training"]
target = "arc1/evaluation"
max_side = 10
limit_train = 40
limit_target = 10
[build]
augmentations = 16
canvas = 10
val_fraction = 0.0
[model]
hidden = 128
heads = 4
layers = 2
n_latent = 2
n_recursions = 2
max_steps = 4
[train]
global_batch = 256
micro_batch = "auto"
steps = 300
lr = 3e-4
lr_warmup = 30
ema = 0.99
checkpoint_every = 0
log_every = 50
[predict]
batch_size = 512
"""

# --dry: the same pieces at toy sizes, quick on a CPU
E2E_DRY = E2E_GPU.replace("max_side = 10", "max_side = 5").replace("limit_train = 40", "limit_train = 4") \
    .replace("limit_target = 10", "limit_target = 2").replace("augmentations = 16", "augmentations = 2") \
    .replace("canvas = 10", "canvas = 6").replace("hidden = 128", "hidden = 32").replace("heads = 4", "heads = 2") \
    .replace("layers = 2", "layers = 1").replace("global_batch = 256", "global_batch = 8") \
    .replace("steps = 300", "steps = 3").replace("lr_warmup = 30", "lr_warmup = 1")


def bf16_peak(name: str) -> float | None:
    """The dense bf16 peak (TFLOP/s) of a device named `name`, or None when not in the table."""
    for key, tflops in BF16_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


def train_figures(device: str, dry: bool, compile: bool, steps: int) -> dict[str, Any]:
    """Examples/s, GFLOP/s, micro-batch and peak memory of full training steps."""
    from arc_pipeline.bench.train import SETTINGS, Setting, measure

    setting = Setting("dry", hidden=32, layers=1, n_latent=1, n_recursions=1, seq_len=16, vocab_size=12, batch=8) \
        if dry else SETTINGS["arc"]
    batch = setting.batch if dry else 768
    # untimed steps past the second: step 1 compiles (and warms the allocator), and a compile that
    # guards on something step 1 changes recompiles at step 2; neither belongs in a steady-state figure
    return measure(setting, steps=steps, warmup=WARMUP_STEPS, device=device, dtype="auto", compile=compile,
                   batch=batch, micro_batch="auto")


def infer_figures(device: str, dry: bool) -> dict[str, Any]:
    from arc_pipeline.bench.infer import throughput

    return throughput("toy" if dry else "arc", device, "auto")


def e2e_figures(device: str, dry: bool, workdir: Path) -> dict[str, Any]:
    """A whole `run` of a small configuration; seconds per stage and the score."""
    from arc_pipeline.config import load_config, override
    from arc_pipeline.stages import Context
    from arc_pipeline.stages.runner import execute

    cfg_file = workdir / "e2e.toml"
    cfg_file.write_text(E2E_DRY if dry else E2E_GPU)
    cfg = override(load_config(files=[cfg_file]), [f"train.device={device}"])
    run_dir = workdir / "run"
    t0 = time.perf_counter()
    records = execute(cfg, run_dir, ctx=Context())
    seconds = time.perf_counter() - t0
    score = json.loads((run_dir / "score.json").read_text())
    train = records["train"].summary or {}
    return {"seconds": seconds, "train_steps": train.get("step"), "train_examples_per_s": train.get("examples_per_s"),
            "micro": score.get("micro"), "outputs": score.get("outputs"), "stages": list(records)}


def collect(device: str, dry: bool, compile_too: bool, steps: int, budget_s: float,
            peak_tflops: float | None, say=lambda msg: None) -> dict[str, Any]:
    """Every figure, skipping the remaining parts once `budget_s` has gone (each says so)."""
    from arc_pipeline.solver.device import setup_runtime

    t0 = time.perf_counter()
    runtime = setup_runtime(device, "auto")
    name = runtime.device_name()
    peak = peak_tflops or bf16_peak(name)
    out: dict[str, Any] = {"device": name, "dtype": str(runtime.dtype).removeprefix("torch."), "dry": dry,
                           "bf16_peak_tflops": peak, "notes": list(runtime.notes), "skipped": []}

    def left() -> bool:
        return time.perf_counter() - t0 < budget_s

    for compiled in (False, True):
        key = "train_compiled" if compiled else "train_eager"
        if compiled and not compile_too:
            out["skipped"].append(f"{key}: not run (--no-compile, or --dry on the CPU where compiling takes minutes)")
            continue
        if not left():
            out["skipped"].append(f"{key}: over the {budget_s:.0f} s budget")
            continue
        say(f"training steps, {'torch.compile' if compiled else 'eager'} ...")
        r = train_figures(device, dry, compiled, steps)
        if peak:
            r["fraction_of_bf16_peak"] = r["gflops_per_s"] / (peak * 1e3)
        out[key] = r
    for key, part in (("infer", lambda: infer_figures(device, dry)),
                      ("e2e", lambda: e2e_figures(device, dry, Path(tempfile.mkdtemp(prefix="bench_gpu_"))))):
        if not left():
            out["skipped"].append(f"{key}: over the {budget_s:.0f} s budget")
            continue
        say({"infer": "predictions with halting off and on ...", "e2e": "a short end-to-end run ..."}[key])
        out[key] = part()
    out["seconds"] = time.perf_counter() - t0
    return out


@click.command("gpu")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--device", default="auto", show_default=True, help="auto picks the GPU; cpu needs --dry.")
@click.option("--dry", is_flag=True, help="Every piece at toy sizes (a code check for the CPU; figures mean nothing).")
@click.option("--steps", type=int, default=3, show_default=True, help=f"Timed training steps per mode (after {WARMUP_STEPS} untimed ones).")
@click.option("--compile/--no-compile", "compile_too", default=True, show_default=True, help="Also time torch.compile.")
@click.option("--budget-s", type=float, default=BUDGET_S, show_default=True, help="Skip the parts left after this.")
@click.option("--peak-tflops", type=float, default=None, help="The GPU's dense bf16 peak (default: from its name).")
def cmd(as_json: bool, device: str, dry: bool, steps: int, compile_too: bool, budget_s: float,
        peak_tflops: float | None) -> None:
    """GPU figures: train ex/s and fraction of bf16 peak at ARC scale, memory, predictions/s, a short run."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline import ui
    from arc_pipeline.solver.device import gpu_available, resolve_device

    if resolve_device(device).type == "cpu" and not dry:
        why = "no CUDA device is visible" if not gpu_available() else f"--device {device} is not a GPU"
        raise ArcError(f"bench gpu needs a GPU and {why}; on the CPU `arc-pipeline bench gpu --device cpu --dry` "
                       "checks its pieces at toy sizes, and `arc-pipeline bench train` / `bench memory` give CPU figures")
    if dry and compile_too and resolve_device(device).type == "cpu":
        compile_too = False  # compiling on a CPU takes minutes; --dry checks the code, not the compiler
    out = collect(device, dry, compile_too, steps, budget_s, peak_tflops, say=(lambda m: None) if as_json else ui.info)
    if as_json:
        click.echo(json.dumps(out, default=str))
        return
    title = f"bench gpu: {out['device']}, {out['dtype']}" + (" (--dry: toy sizes, figures mean nothing)" if dry else "")
    rows = []
    for key, label in (("train_eager", "eager"), ("train_compiled", "torch.compile")):
        r = out.get(key)
        if r:
            frac = f"{r['fraction_of_bf16_peak']:.1%}" if "fraction_of_bf16_peak" in r else "n/a (pass --peak-tflops)"
            rows.append([label, r["batch"], r["micro_batch"], f"{r['examples_per_s']:.1f}", f"{r['gflops_per_s']:.0f}",
                         frac, f"{r['peak_memory_gib']:.1f}"])
    ui.table(f"{title}: training steps", ["mode", "batch", "micro", "ex/s", "GFLOP/s", "of bf16 peak", "peak GiB"], rows)
    if "infer" in out:
        i = out["infer"]
        ui.table("predictions", ["halting", "predictions/s", "mean steps"],
                 [["off", f"{i['predictions_per_s_halt_off']:.1f}", f"{i['mean_steps_halt_off']:.2f}"],
                  ["on", f"{i['predictions_per_s_halt_on']:.1f}", f"{i['mean_steps_halt_on']:.2f}"]])
    if "e2e" in out:
        e = out["e2e"]
        ui.info(f"end-to-end run: {e['seconds']:.0f} s, {e['train_steps']} train steps, micro score {e['micro']}")
    for line in out["notes"] + out["skipped"]:
        ui.info(line)
    ui.info(f"total {out['seconds']:.0f} s")
