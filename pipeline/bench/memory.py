"""`arc-pipeline bench memory`: the per-example activation memory of one training step at the ARC
configuration, counted on the CPU.

Every tensor autograd saves for backward during one forward of the training step (the last
recursion's n+1 network calls, the heads and the loss) is caught with
torch.autograd.graph.saved_tensors_hooks and counted once per storage. The count at batch 3
minus the count at batch 2 is one example's share (weights, their bf16 casts and the rotary
tables do not grow with the batch and drop out). Attention is counted with the kernel the CPU
picks (a flash kernel here, which saves q, k, v, the output and a logsumexp per row, as the GPU's
flash/efficient kernels do) and with the plain math kernel, which also keeps the heads x S x S
probability matrices (what a device without a fused kernel pays).
"""

from __future__ import annotations

import json

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
    """Per-example memory of a training step at the ARC configuration (counted on the CPU)."""
    from arc_pipeline import ui
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
    if as_json:
        click.echo(json.dumps({"config": dict(hidden=hidden, n_latent=n_latent, n_recursions=n_recursions,
                                              seq_len=seq_len, layers=layers), "rows": rows}))
        return
    ui.table(f"training-step memory per example: hidden {hidden}, n={n_latent}, T={n_recursions}, "
             f"{rows[0]['positions']} positions, {layers} layers",
             ["dtype", "attention", "saved MiB/ex", "carries MiB/ex", "peak MiB/ex"]
             + [f"GiB @ {b}" for b in batches],
             [[r["dtype"], r["attention"], f"{r['saved_mib_per_example']:.1f}", f"{r['carry_mib_per_example']:.1f}",
               f"{r['peak_mib_per_example']:.1f}"] + [f"{r['gib_at_batch'][b]:.1f}" for b in batches] for r in rows])
    ui.info("flash: the CPU's own flash kernel (saves logsumexp, like the GPU's flash/efficient SDPA); "
            "math also keeps the heads x S x S probabilities. Weights, optimizer and puzzle table come on top.")
