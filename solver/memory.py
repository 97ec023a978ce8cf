"""How many examples one forward/backward chunk may hold: `train.micro_batch` validated, and its
`auto` mode, which measures the GPU's peak memory over probe steps at two chunk sizes, fits
peak = fixed + per_example * m, and picks the largest divisor of the per-rank batch that fits in
the memory this rank may use: the GPU's free memory plus what torch already holds for it (another
process on the same GPU is not ours to plan for), less what a step holds beyond the probe.

The gradients of the chunks accumulate into the same update as the whole batch (solver.train);
only activation memory scales with the chunk. The per-example figure of the ARC configuration is
reproduced on the CPU by `arc-pipeline bench memory` (pipeline/bench/memory.py).
"""

from __future__ import annotations

from typing import Callable

import torch

from arc_pipeline.arc.errors import ArcError

HEADROOM = 0.9  # fraction of the free GPU memory a pick may plan for (allocator fragmentation, kernels' workspaces)
PROBE_SIZES = (2, 8)  # chunk sizes of the two probe steps (clipped to divisors of the batch)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check_micro_batch(value: int | str, batch: int, global_batch: int, world_size: int) -> int | str:
    """`value` if it is 0 (whole batch), "auto", or a divisor of the per-rank batch; else an ArcError."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ArcError(f"train.micro_batch = {value!r}: use 0 (the whole batch), 'auto', or a positive divisor of the per-rank batch {batch}")
    if value and batch % value:
        near = ", ".join(str(d) for d in divisors(batch) if d > 1 and d < batch) or "none"
        raise ArcError(f"train.micro_batch {value} does not divide the per-rank batch {batch} (train.global_batch "
                       f"{global_batch} / {world_size} ranks); choose a divisor ({near}) or 0 for the whole batch")
    return value


def pick_micro_batch(batch: int, fixed: float, per_example: float, budget: float) -> int:
    """The largest divisor m of `batch` with fixed + per_example * m <= budget (at least 1)."""
    fits = [d for d in divisors(batch) if fixed + per_example * d <= budget]
    return max(fits) if fits else 1


def fit_line(points: list[tuple[int, int]]) -> tuple[float, float]:
    """(fixed bytes, bytes per example) through (chunk size, peak bytes) probe points."""
    (m1, p1), (m2, p2) = points[0], points[-1]
    if m2 == m1:
        return 0.0, p1 / m1  # one point: charge it all to the examples (an upper bound per example)
    slope = max((p2 - p1) / (m2 - m1), 0.0)
    return p1 - slope * m1, slope


def probe_sizes(batch: int) -> list[int]:
    sizes = sorted({max(d for d in divisors(batch) if d <= s) for s in PROBE_SIZES})
    return sizes


def auto_micro_batch(batch: int, measure: Callable[[int], int], capacity: int, extra: int,
                     what: str = "train.micro_batch") -> tuple[int, str]:
    """Pick the chunk size from `measure(m)` (peak bytes of a probe step of m examples).

    `capacity`: the bytes this rank may use (free + already held). `extra`: memory the probe does
    not allocate but the real step will (optimizer moments, the carries of the whole batch)."""
    points = [(m, measure(m)) for m in probe_sizes(batch)]
    fixed, per_example = fit_line(points)
    budget = HEADROOM * capacity - extra
    m = pick_micro_batch(batch, fixed, per_example, budget)
    mib, gib = 2**20, 2**30
    note = (f"{what} auto: {per_example / mib:.0f} MiB per example + {fixed / gib:.1f} GiB fixed measured "
            f"(probe chunks {', '.join(str(p[0]) for p in points)}); chunks of {m} of the per-rank batch {batch}, "
            f"predicted peak {(fixed + per_example * m + extra) / gib:.1f} of {capacity / gib:.1f} GiB free")
    return m, note


def carry_bytes(batch: int, positions: int, hidden: int, act_bytes: int) -> int:
    """The carries a training step holds for the whole batch, beyond its probe's: two sets (the step's
    input (y, z) and its output (y, z), both alive until the output replaces the input), each
    (batch, positions, hidden) in the activation dtype."""
    return 2 * 2 * batch * positions * hidden * act_bytes


def probe_step(model, runtime, m: int) -> int:
    """Peak bytes of one forward/backward of `m` blank examples through `model`; leaves no trace
    (gradients and gathered puzzle rows are dropped, no weight changes)."""
    cfg = model.cfg
    dev = runtime.device
    inputs = torch.zeros(m, cfg.seq_len, dtype=torch.long, device=dev)
    ids = torch.zeros(m, dtype=torch.long, device=dev)
    y, z = model.initial_state(m, dev, runtime.dtype)
    runtime.free_cached_memory()
    runtime.reset_peak_memory()
    with runtime.autocast():
        y, z, logits, halt_logit = model(inputs, ids, y, z)
    (logits.float().square().mean() + halt_logit.float().square().mean()).backward()
    peak = runtime.peak_memory()
    del y, z, logits, halt_logit
    model.zero_grad(set_to_none=False)  # keep the gradient buffers: training allocates them too
    model.puzzle_emb.discard_grads()
    return peak


PREDICT_BATCH_CPU = 256  # predict.batch_size "auto" on the CPU (its memory is not measured): the field's default


def predict_probe(model, runtime, m: int) -> int:
    """Peak bytes of `m` blank examples through two no-grad supervision steps, as prediction holds
    them (solver.infer.run_steps): x, the step's input and output carries (two sets), the logits
    and a final log-stablemax table."""
    from arc_pipeline.solver.losses import log_stablemax

    cfg, dev = model.cfg, runtime.device
    runtime.free_cached_memory()
    runtime.reset_peak_memory()
    with torch.no_grad(), runtime.autocast():
        x = model.embed(torch.zeros(m, cfg.seq_len, dtype=torch.long, device=dev), torch.zeros(m, dtype=torch.long, device=dev))
        y, z = model.initial_state(m, dev, x.dtype)
        for _ in range(2):
            y, z, logits, halt_logit = model.step(x, y, z)
        table = log_stablemax(logits).to(torch.float16)
    peak = runtime.peak_memory()
    del x, y, z, logits, halt_logit, table
    return peak


def auto_predict_batch(model, runtime, upper: int, measure: Callable[[int], int] | None = None) -> tuple[int, str]:
    """predict.batch_size "auto": the most examples (at most `upper`, the largest shard a rank gets)
    whose no-grad step fits this rank's free memory, from a line through probes at two sizes."""
    upper = max(int(upper), 1)
    if not runtime.is_gpu:
        b = min(PREDICT_BATCH_CPU, upper)
        return b, f"predict.batch_size auto on the CPU: {b} (CPU memory is not measured)"
    measure = measure or (lambda k: predict_probe(model, runtime, k))
    runtime.free_cached_memory()
    available = runtime.memory_available()
    points = [(m, measure(m)) for m in sorted({min(s, upper) for s in PROBE_SIZES})]
    fixed, per_example = fit_line(points)
    room = HEADROOM * available - fixed
    b = upper if per_example <= 0 else int(max(room, 0) // per_example)
    b = min(max(b, 1), upper)
    mib, gib = 2**20, 2**30
    return b, (f"predict.batch_size auto: {per_example / mib:.1f} MiB per example + {fixed / gib:.1f} GiB fixed measured; "
               f"{b} examples, predicted peak {(fixed + per_example * b) / gib:.1f} of {available / gib:.1f} GiB free")


def resolve_micro_batch(value: int | str, model, runtime, batch: int, global_batch: int) -> tuple[int, str]:
    """(examples per chunk, a note for the log or ""), for this rank's `batch`."""
    value = check_micro_batch(value, batch, global_batch, runtime.world_size)
    if value != "auto":
        return (value or batch), ""
    if not runtime.is_gpu:
        return batch, "train.micro_batch auto on the CPU: the whole per-rank batch (CPU memory is not measured)"
    params = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    act = torch.finfo(runtime.dtype).bits // 8
    carries = carry_bytes(batch, model.positions, model.cfg.hidden, act)
    runtime.free_cached_memory()
    available = runtime.memory_available()  # before the probes: their cached blocks are ours either way
    m, note = auto_micro_batch(batch, lambda k: probe_step(model, runtime, k), available, extra=2 * params + carries)
    if runtime.distributed:  # one chunk size for all ranks (the smallest pick)
        picked = runtime.all_gather(torch.tensor([m], device=runtime.device))
        m = int(picked.min())
    return m, note
