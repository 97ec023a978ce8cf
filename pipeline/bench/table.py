"""`arc-pipeline bench table`: a training step with the puzzle table on the device against the same
step with the table off it (train.puzzle_table = "host"), at the same >= 2M rows, side by side in one
sitting: the two trainers alternate step by step (in turn first), so the machine's load falls on
both alike. Then what a host table's checkpoint costs at that size: bytes and seconds of a base, of
a delta after some steps, and of a resume, beside a device table's checkpoint (weights.pt)."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import click

from arc_pipeline.bench.data import folder_bytes

# hidden 512 = the row width of ARC and NVARC runs. "arc": the paper's ARC step (for a GPU);
# "cpu": the same width with a 4x4 canvas and one recursion, so a CPU step takes seconds, not minutes
# (a cheaper step makes the table's share of it larger: the CPU ratio is the harsher one)
SIZES = {
    "arc": dict(hidden=512, heads=8, layers=2, n_latent=4, n_recursions=3, seq_len=900, batch=768),
    "cpu": dict(hidden=512, heads=8, layers=2, n_latent=1, n_recursions=1, seq_len=16, batch=32),
    "tiny": dict(hidden=32, heads=2, layers=1, n_latent=1, n_recursions=1, seq_len=8, batch=8),  # the tests'
}


def _source(rows: int, seq_len: int, n: int, seed: int):
    import numpy as np

    from arc_pipeline.augment.source import ArraySource

    rng = np.random.default_rng(seed)
    x = rng.integers(2, 12, (n, seq_len)).astype(np.uint8)
    return ArraySource(x, x[:, ::-1].copy(), rng.integers(1, rows, n).astype(np.int32), vocab_size=12, num_puzzles=rows)


def measure(rows: int, size: str, steps: int, warmup: int, device: str, dtype: str, folder: Path,
            checkpoint_steps: int) -> dict:
    import gc
    from dataclasses import replace

    import numpy as np
    import torch

    from arc_pipeline.solver.config import ModelConfig, TrainConfig
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.train import Trainer

    s = SIZES[size]
    rt = setup_runtime(device, dtype)
    mcfg = ModelConfig(vocab_size=12, seq_len=s["seq_len"], num_puzzles=rows, hidden=s["hidden"], heads=s["heads"],
                       layers=s["layers"], n_latent=s["n_latent"], n_recursions=s["n_recursions"], puzzle_emb_len=16)
    tcfg = TrainConfig(global_batch=s["batch"], lr_warmup=1, device=device, dtype=dtype, checkpoint_every=0,
                       micro_batch="auto" if rt.is_gpu else 0, puzzle_table_dir=str(folder) if folder else "")
    source = _source(rows, s["seq_len"], max(16 * s["batch"], 4096), 0)
    trainers = {}
    for where in ("device", "host"):
        trainers[where] = Trainer(mcfg, replace(tcfg, puzzle_table=where), source, rt)
    # a trained table, the same on both (every page of both touched before timing)
    gen = torch.Generator().manual_seed(0)
    dev_table = trainers["device"].model.puzzle_emb.table
    with torch.no_grad():
        for lo in range(0, rows, 1 << 18):
            block = torch.randn(min(1 << 18, rows - lo), s["hidden"], generator=gen) * 0.01
            dev_table[lo : lo + block.shape[0]] = block.to(dev_table.device)
    trainers["host"].model.puzzle_emb.host.fill(lambda t: t.copy_(dev_table.cpu()))
    times: dict[str, list[float]] = {"device": [], "host": []}
    load = [os.getloadavg()[0]]
    for i in range(warmup + steps):
        order = ("device", "host") if i % 2 == 0 else ("host", "device")
        for where in order:
            rt.synchronize()
            t0 = time.perf_counter()
            trainers[where].step()
            rt.synchronize()
            if i >= warmup:
                times[where].append(time.perf_counter() - t0)
    load.append(os.getloadavg()[0])
    same = torch.equal(trainers["device"].model.puzzle_emb.table.cpu(), trainers["host"].model.puzzle_emb.table)
    out = {"rows": rows, "hidden": s["hidden"], "table_gb": rows * s["hidden"] * 4 / 1e9, "size": size, **s,
           "device": rt.device_name(), "dtype": str(rt.dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
           "micro_batch": trainers["host"].micro_batch, "steps": steps, "tables_equal_after": same,
           "load_1min": load}
    for where, ts in times.items():
        out[f"{where}_s_median"] = statistics.median(ts)
        out[f"{where}_s_mean"] = statistics.fmean(ts)
        out[f"{where}_s_min"] = min(ts)
    out["ratio_median"] = out["host_s_median"] / out["device_s_median"]
    out["ratio_mean"] = out["host_s_mean"] / out["device_s_mean"]

    # checkpoints at this size: the device table inside weights.pt; the host table's base, delta, resume
    with tempfile.TemporaryDirectory(dir=folder or None) as tmp:
        tmp = Path(tmp)
        meta = {"dataset_fingerprint": "bench"}
        t0 = time.perf_counter()
        trainers["device"].save(tmp / "device", meta=meta, puzzle_map=None, is_best=False)
        out["device_checkpoint_s"], out["device_checkpoint_gb"] = time.perf_counter() - t0, folder_bytes(tmp / "device") / 1e9
        del trainers["device"], dev_table
        gc.collect()
        host = trainers["host"]
        t0 = time.perf_counter()
        host.save(tmp / "host", meta=meta, puzzle_map=None, is_best=False)
        out["base_checkpoint_s"] = time.perf_counter() - t0
        out["base_checkpoint_gb"] = folder_bytes(tmp / "host" / "table") / 1e9
        for _ in range(checkpoint_steps):
            host.step()
        t0 = time.perf_counter()
        path = host.save(tmp / "host", meta=meta, puzzle_map=None, is_best=False)
        out["delta_checkpoint_s"] = time.perf_counter() - t0
        record = json.loads((path / "meta.json").read_text())["table"]
        names = [f"{record['deltas'][-1]}.ids.npy", f"{record['deltas'][-1]}.rows.npy"] if record["deltas"] else []
        out["delta_checkpoint_gb"] = sum(record["files"][n][0] for n in names) / 1e9
        out["delta_rows"] = int(np.load(tmp / "host" / "table" / names[0]).size) if names else 0
        out["step_dir_gb"] = folder_bytes(path) / 1e9  # weights, EMA, optimizer, carries: written by both placements
        out["checkpoint_steps"] = checkpoint_steps
        live = host.model.puzzle_emb.table.clone()
        del trainers["host"], host
        gc.collect()
        t0 = time.perf_counter()
        again = Trainer(mcfg, replace(tcfg, puzzle_table="host"), source, rt)
        again.resume(path, "bench")
        out["resume_s"] = time.perf_counter() - t0
        out["resumed_equal"] = torch.equal(again.model.puzzle_emb.table, live)
    return out


@click.command("table")
@click.option("--rows", type=int, default=2**21, show_default=True, help="Puzzle-table rows (>= 2M for the issue's figure).")
@click.option("--size", type=click.Choice(sorted(SIZES)), default=None,
              help="Step configuration: arc (the paper's ARC step; GPU default) or cpu (CPU default).")
@click.option("--steps", type=int, default=20, show_default=True, help="Timed steps per placement.")
@click.option("--warmup", type=int, default=3, show_default=True)
@click.option("--checkpoint-steps", type=int, default=20, show_default=True, help="Steps between the base and the delta.")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", default="auto", show_default=True)
@click.option("--threads", type=int, default=0, help="CPU threads (0: torch's default).")
@click.option("--dir", "folder", type=click.Path(file_okay=False), default="",
              help="Folder for the host table and the checkpoints (default: /dev/shm and the temp folder).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(rows: int, size: str | None, steps: int, warmup: int, checkpoint_steps: int, device: str, dtype: str,
        threads: int, folder: str, as_json: bool) -> None:
    """Training step with the puzzle table on the device vs off it, at the same rows; checkpoint cost."""
    from arc_pipeline import ui
    from arc_pipeline.solver.device import resolve_device, set_threads

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    set_threads(threads or None)
    size = size or ("arc" if resolve_device(device).type != "cpu" else "cpu")
    out = measure(rows, size, steps, warmup, device, dtype, Path(folder) if folder else None, checkpoint_steps)
    if as_json:
        click.echo(json.dumps(out))
        return
    ui.table(f"training step, {out['rows']:,} puzzle rows x {out['hidden']} ({out['table_gb']:.1f} GB), {size} step at batch "
             f"{out['batch']} (micro {out['micro_batch']}), {out['device']}, {out['dtype']}, {out['threads']} threads, "
             f"{out['steps']} steps each, alternating; load {out['load_1min'][0]:.1f} -> {out['load_1min'][1]:.1f}",
             ["table", "median s/step", "mean s/step", "min s/step"],
             [[w, f"{out[w + '_s_median']:.3f}", f"{out[w + '_s_mean']:.3f}", f"{out[w + '_s_min']:.3f}"]
              for w in ("device", "host")]
             + [["host / device", f"{out['ratio_median']:.3f}", f"{out['ratio_mean']:.3f}", ""]])
    ui.table("checkpoint at this size", ["what", "GB written", "seconds"],
             [["device table: the step (weights.pt holds the table)", f"{out['device_checkpoint_gb']:.2f}",
               f"{out['device_checkpoint_s']:.1f}"],
              [f"host table: a step without the table (weights, EMA, optimizer)", f"{out['step_dir_gb']:.2f}", ""],
              ["host table: base", f"{out['base_checkpoint_gb']:.2f}", f"{out['base_checkpoint_s']:.1f}"],
              [f"host table: delta after {out['checkpoint_steps']} steps ({out['delta_rows']:,} rows)",
               f"{out['delta_checkpoint_gb']:.3f}", f"{out['delta_checkpoint_s']:.2f}"],
              ["host table: resume (base + delta)", "", f"{out['resume_s']:.1f}"]])
    ui.info(f"tables equal after the timed steps: {out['tables_equal_after']}; resumed table equals the live one: "
            f"{out['resumed_equal']}")
