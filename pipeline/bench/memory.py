"""`arc-pipeline bench memory`: the per-example activation memory of one training step at the ARC
configuration, counted on the CPU, and the memory model built on it at data scale.

Every tensor autograd saves for backward during one forward of the training step (the last
recursion's n+1 network calls, the heads and the loss) is caught with
torch.autograd.graph.saved_tensors_hooks and counted once per storage. The count at batch 3
minus the count at batch 2 is one example's share (weights, their bf16 casts and the rotary
tables do not grow with the batch and drop out). Attention is counted with the kernel the CPU
picks (a flash kernel here, which saves q, k, v, the output and a logsumexp per row, as the GPU's
flash/efficient kernels do) and with the plain math kernel, which also keeps the heads x S x S
probability matrices (what a device without a fused kernel pays).

The memory model (`scale_rows`, docs/puzzle-table.md) takes that measured per-example figure
(bf16, flash) and the parameters and buffers counted on the model, and adds by arithmetic from the
shapes: weights, gradients, AdamATan2 moments and EMA, the table (device placement), the y/z
carries of every slot, the slots' tokens and the puzzle rows in flight. It prints device bytes per
rank, host bytes per node and disk for ARC-AGI-1 x 1000 and ARC-AGI-2 + NVARC x 256 and x 1000, at
batch 768 on 1, 4 and 8 GPUs, with the table on the device and off it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import click

MIB = 2**20


def saved_bytes(model, runtime, batch: int, seed: int = 0) -> int:
    """Bytes of the distinct storages saved for backward by one training forward of `batch` examples."""
    import torch

    from arc_pipeline.solver.losses import trm_loss

    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len), generator=g)
    ids = torch.randint(1, cfg.num_puzzles, (batch,), generator=g)
    y, z = model.initial_state(batch)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), runtime.autocast():
        y, z, logits, halt_logit = model(inputs, ids, y, z)
        terms = trm_loss(logits, halt_logit, inputs, 0.5)
    del terms, y, z, logits, halt_logit
    model.puzzle_emb.discard_grads()
    return sum(storages.values())


def per_example(hidden: int, n_latent: int, n_recursions: int, seq_len: int, puzzle_emb_len: int, layers: int,
                dtype: str, attention: str) -> dict:
    """Saved-for-backward MiB per example, and the carries (y, z) a slot holds between steps."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from arc_pipeline.solver.config import ModelConfig
    from arc_pipeline.solver.device import Runtime
    from arc_pipeline.solver.model import TRM

    cfg = ModelConfig(hidden=hidden, n_latent=n_latent, n_recursions=n_recursions, seq_len=seq_len,
                      puzzle_emb_len=puzzle_emb_len, layers=layers, num_puzzles=8)
    model = TRM(cfg).train()
    rt = Runtime(torch.device("cpu"), {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype])
    with sdpa_kernel([SDPBackend.MATH if attention == "math" else SDPBackend.FLASH_ATTENTION]):
        two, three = saved_bytes(model, rt, 2), saved_bytes(model, rt, 3)  # batch 1 takes a few special-cased views
    act = 4 if dtype == "float32" else 2
    carries = 2 * model.positions * hidden * act  # y and z of one slot, in the activation dtype
    return {"dtype": dtype, "attention": attention, "positions": model.positions,
            "saved_mib_per_example": (three - two) / MIB, "fixed_saved_mib": (3 * two - 2 * three) / MIB,
            "carry_mib_per_example": carries / MIB,
            # the step holds the old and the new carries at once; the backward's own transients are
            # one layer's gradients at a time, small beside the saved state of n+1 calls
            "peak_mib_per_example": (three - two + 2 * carries) / MIB}


# ---- the memory model at data scale ---------------------------------------------------------------------

GIB = 2**30
CARD_80GB = 81_559 * MIB  # what an H100 80 GB reports (nvidia-smi); an A100 80 GB reports 81,920 MiB
GLOBAL_BATCH = 768
CHECKPOINT_EVERY = 500  # steps between checkpoints (TrainConfig's default)
PAIRS_PER_PUZZLE = 4.15  # mean pairs a puzzle brings under the reference sampler (ARC mixes, TRM.md); assumed for NVARC
KEPT_STEPS = 3  # keep_checkpoints 2 + the best


@dataclass(frozen=True)
class Scale:
    """A training set as the table sees it: puzzle rows (tasks x augmentations, where known measured)."""

    name: str
    rows: int
    note: str


# ARC-AGI-1 x 1000 as built (TRM.md); the NVARC mixes are tasks x augmentations, an upper bound (the build
# drops duplicate augmentations of tasks with few colours: ARC-AGI-1's 960 tasks x 1000 give 876k)
NVARC_TASKS = 103_000 + 1_000 + 120 + 160  # NVARC synthetic + ARC-AGI-2 training + its evaluation demos + ConceptARC
SCALES = (
    Scale("ARC-AGI-1 x 1000", 876_000, "ARC-AGI-1 training + evaluation demos + ConceptARC, as built"),
    Scale("ARC-AGI-2 + NVARC x 256", NVARC_TASKS * 256, f"{NVARC_TASKS:,} tasks x 256"),
    Scale("ARC-AGI-2 + NVARC x 1000", NVARC_TASKS * 1000, f"{NVARC_TASKS:,} tasks x 1000"),
)


@dataclass(frozen=True)
class Counts:
    """What the model arithmetic needs from one model configuration, counted or measured."""

    params: int  # trainable parameters (counted on the model)
    buffers: int  # bytes of the model's buffers other than the table (counted)
    hidden: int
    positions: int  # puzzle prefix + sequence
    seq_len: int
    saved_per_example: float  # bytes saved for backward per example (measured: `per_example`)
    saved_fixed: float  # bytes saved for backward that do not grow with the batch (measured)
    act_bytes: int  # bytes per activation value (2 in bf16)


def counts(cfg, row: dict) -> Counts:
    """Counts of `cfg` (a ModelConfig): parameters and buffers from the model built on the meta device,
    the saved-for-backward bytes from a `per_example` row measured at that configuration."""
    import torch

    from arc_pipeline.solver.model import TRM

    with torch.device("meta"):
        model = TRM(cfg, puzzle_table="host")
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return Counts(params, buffers, cfg.hidden, model.positions, cfg.seq_len, row["saved_mib_per_example"] * MIB,
                  row["fixed_saved_mib"] * MIB, 2 if row["dtype"] == "bfloat16" else 4)


def device_bytes(c: Counts, rows: int, batch: int, chunk: int, on_device: bool, global_batch: int) -> dict[str, float]:
    """One rank's device memory in a training step, by part: `batch` slots of this rank, forward and
    backward `chunk` at a time, the table on the device or not."""
    weights = 4 * c.params
    return {
        "weights": weights, "grads": weights, "optimizer": 2 * weights, "ema": weights, "buffers": c.buffers,
        "table": 4 * rows * c.hidden if on_device else 0,
        "activations": c.saved_fixed + c.saved_per_example * chunk,
        "carries": 2 * batch * 2 * c.positions * c.hidden * c.act_bytes,  # y and z, old and new, every slot
        "slots": 2 * batch * c.seq_len * 8,  # inputs and labels (int64)
        # the batch's rows as leaves and their gradients; the gathered ids and gradients of every rank
        "puzzle_rows": 2 * batch * c.hidden * 4 + global_batch * (c.hidden * 4 + 8),
    }


def largest_chunk(c: Counts, rows: int, batch: int, on_device: bool, global_batch: int, budget: float) -> int:
    """The largest divisor of `batch` whose step fits `budget` (micro_batch auto's pick), 0 if none."""
    fits = [d for d in range(1, batch + 1)
            if batch % d == 0 and sum(device_bytes(c, rows, batch, d, on_device, global_batch).values()) <= budget]
    return max(fits, default=0)


HEADROOM_TEXT = "90%, as micro_batch auto plans"


def scale_rows(c: Counts, gpus: tuple[int, ...] = (1, 4, 8), capacity: float = CARD_80GB) -> list[dict]:
    """The memory model at every scale x GPU count x placement: device bytes per rank, host bytes per
    node (one node of `g` GPUs), disk and bytes written per checkpoint."""
    from arc_pipeline.solver import table_store
    from arc_pipeline.solver.memory import HEADROOM

    budget = HEADROOM * capacity
    weights = 4 * c.params
    out = []
    for s in SCALES:
        table = 4 * s.rows * c.hidden
        delta_rows = min(s.rows, CHECKPOINT_EVERY * GLOBAL_BATCH / PAIRS_PER_PUZZLE)
        delta = delta_rows * (4 * c.hidden + 8)
        per_base = max(1, int(table_store.COMPACT_AT * table // delta) + 1)  # checkpoints from one base to the next
        for g in gpus:
            batch = GLOBAL_BATCH // g
            for where in ("device", "host"):
                on = where == "device"
                whole = sum(device_bytes(c, s.rows, batch, batch, on, GLOBAL_BATCH).values())
                chunk = largest_chunk(c, s.rows, batch, on, GLOBAL_BATCH, budget)
                at_chunk = sum(device_bytes(c, s.rows, batch, chunk, on, GLOBAL_BATCH).values()) if chunk else None
                row = {"data": s.name, "rows": s.rows, "table_gb": table / 1e9, "gpus": g, "batch_per_rank": batch,
                       "placement": where, "device_gib_whole_batch": whole / GIB, "micro_batch": chunk,
                       "device_gib": at_chunk / GIB if at_chunk else None,
                       "fits_80gb": chunk == batch and "yes" or (chunk and f"micro_batch {chunk}") or "no"}
                if on:  # each rank builds (or loads) the table on the host before moving it to its device
                    row.update(host_gib_steady=0.0, host_gib_peak=g * table / GIB,
                               disk_gb=KEPT_STEPS * (table + 4 * weights) / 1e9,
                               written_per_checkpoint_gb=(table + 4 * weights) / 1e9)
                else:  # one shared copy per node, the writer's two bytes per row, each rank's pinned rows
                    host = table + 2 * s.rows + g * batch * c.hidden * 4
                    row.update(host_gib_steady=host / GIB, host_gib_peak=host / GIB,
                               disk_gb=(2 + 2 * table_store.COMPACT_AT) * table / 1e9 + KEPT_STEPS * 4 * weights / 1e9,
                               written_per_checkpoint_gb=(delta + table / per_base + 4 * weights) / 1e9)
                out.append(row)
    return out


def _host_text(r: dict) -> str:
    peak = r["host_gib_peak"] > r["host_gib_steady"]
    return f"{r['host_gib_steady']:.1f}" + (f" ({r['host_gib_peak']:.0f} at start/resume)" if peak else "")


@click.command("memory")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--hidden", type=int, default=512, show_default=True)
@click.option("--n-latent", type=int, default=4, show_default=True)
@click.option("--n-recursions", type=int, default=3, show_default=True)
@click.option("--seq-len", type=int, default=900, show_default=True, help="Answer tokens (16 puzzle positions come on top).")
@click.option("--layers", type=int, default=2, show_default=True)
@click.option("--batch", "batches", type=int, multiple=True, default=(192, 384, 768), show_default=True,
              help="Batches to show the activation total for.")
@click.option("--threads", type=int, default=2, show_default=True)
def cmd(as_json: bool, hidden: int, n_latent: int, n_recursions: int, seq_len: int, layers: int,
        batches: tuple[int, ...], threads: int) -> None:
    """Per-example memory of a training step (counted on the CPU) and the memory model at data scale."""
    from arc_pipeline import ui
    from arc_pipeline.solver.config import ModelConfig
    from arc_pipeline.solver.device import set_threads

    set_threads(threads)
    rows = []
    for dtype in ("bfloat16", "float32"):
        for attention in ("flash", "math"):
            if not as_json:
                ui.info(f"counting {dtype}, attention {attention} ...")
            rows.append(per_example(hidden, n_latent, n_recursions, seq_len, 16, layers, dtype, attention))
    for r in rows:
        r["gib_at_batch"] = {b: r["peak_mib_per_example"] * b / 1024 for b in batches}
    cfg = ModelConfig(hidden=hidden, n_latent=n_latent, n_recursions=n_recursions, seq_len=seq_len, layers=layers,
                      puzzle_emb_len=16, num_puzzles=8)
    c = counts(cfg, rows[0])  # bf16, flash: what a GPU with native bf16 runs
    model = scale_rows(c)
    if as_json:
        click.echo(json.dumps({"config": dict(hidden=hidden, n_latent=n_latent, n_recursions=n_recursions,
                                              seq_len=seq_len, layers=layers), "rows": rows,
                               "counts": c.__dict__, "model": model}))
        return
    ui.table(f"training-step memory per example: hidden {hidden}, n={n_latent}, T={n_recursions}, "
             f"{rows[0]['positions']} positions, {layers} layers",
             ["dtype", "attention", "saved MiB/ex", "carries MiB/ex", "peak MiB/ex"]
             + [f"GiB @ {b}" for b in batches],
             [[r["dtype"], r["attention"], f"{r['saved_mib_per_example']:.1f}", f"{r['carry_mib_per_example']:.1f}",
               f"{r['peak_mib_per_example']:.1f}"] + [f"{r['gib_at_batch'][b]:.1f}" for b in batches] for r in rows])
    ui.info("flash: the CPU's own flash kernel (saves logsumexp, like the GPU's flash/efficient SDPA); "
            "math also keeps the heads x S x S probabilities. Weights, optimizer and puzzle table come on top.")
    ui.table(f"memory model, batch {GLOBAL_BATCH}, bf16, flash; {c.params / 1e6:.2f}M parameters; an 80 GB card "
             f"({CARD_80GB / GIB:.1f} GiB) planned to {HEADROOM_TEXT}",
             ["data (table GB)", "GPUs", "table", "GiB/rank, whole batch", "fits 80 GB", "GiB/rank then",
              "host GiB/node", "disk GB", "GB/ckpt"],
             [[f"{r['data']} ({r['table_gb']:.1f})", str(r["gpus"]), r["placement"], f"{r['device_gib_whole_batch']:.1f}",
               r["fits_80gb"], f"{r['device_gib']:.1f}" if r["device_gib"] is not None else "-",
               _host_text(r),
               f"{r['disk_gb']:.0f}", f"{r['written_per_checkpoint_gb']:.2f}"] for r in model])
    ui.info("measured: the saved-for-backward bytes per example and fixed (above, bf16 flash); counted on the model: "
            "parameters and buffers; arithmetic from the shapes: weights, gradients, optimizer moments, EMA, the table, "
            "the y/z carries (old and new, every slot), tokens, puzzle rows in flight, host and disk. Device peak: "
            "not measured on a GPU yet.")
