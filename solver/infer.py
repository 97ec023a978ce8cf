"""Prediction with halting at inference and continuous batching.

Every example of the `test` split (each augmented copy of each target test input) runs through
supervision steps until its halting logit turns positive (after `min_steps`) or `max_steps` is
reached; a finished slot takes the next example at once, so the batch stays full. `halt="off"`
runs every example for all `max_steps` (the reference's behaviour). Predictions are decoded,
mapped back through the inverse augmentation and returned as a `solver.vote` prediction frame.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import polars as pl
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import COUNT, OPTIONAL, SEED, Range, at_least, option
from arc_pipeline.solver.device import release_cached_memory
from arc_pipeline.solver.halting import halts, logit_cut
from arc_pipeline.solver.likelihood import log_stablemax_table
from arc_pipeline.solver.vote import PREDICTION_SCHEMA, predictions_frame

Progress = Callable[[int], None]


@dataclass(frozen=True)
class PredictConfig:
    batch_size: int | Literal["auto"] = option(
        256, 'slots run together; freed slots are refilled at once; "auto" = the most that fit the GPU\'s free memory '
        "(a no-grad probe at two sizes; halved again if a batch still runs out of memory; 256 on the CPU)",
        at_least(1, also=("auto",)))
    halt: Literal["on", "off"] = option(
        "off", "off (default): every example runs max_steps, as the reference evaluates. Early halting cost pass@2 "
        "at scale in an outside test (TRM.md); `arc-pipeline analyze` measures it on any run")
    threshold: float = option(0.5, "halting: stop once sigmoid(halt logit) > threshold (0.5: logit > 0)",
                              Range(0.0, 1.0, lo_open=True, hi_open=True))
    min_steps: int = option(1, "halting: steps before the halting logit is trusted", COUNT)
    max_steps: int = option(0, "supervision steps at most; 0 = the model's max_steps (N_sup)", OPTIONAL)
    use_ema: bool = option(True, "evaluate with the EMA weights when the checkpoint has them")
    keep_raw: bool = option(True, "write predictions_raw.parquet (every step's grid; `arc-pipeline analyze` reads it)")
    seed: int = option(0, "passed to the source (test examples are not translated; kept for the contract)", SEED)
    dtype: Literal["train", "auto", "float32", "bfloat16", "float16"] = option(
        "train", 'activation dtype of prediction: "train" = train.dtype\'s choice; "float16" = fp16 autocast, for GPUs '
        "without bf16 (T4, V100), where float32 is several times slower (no gradients, so no loss scaling; checked "
        "against float32 on the CPU by the tests)", added_later=True)

    def runtime_dtype(self, train_dtype: str) -> str:
        """The dtype to set up the runtime with: this section's, or train.dtype's when "train"."""
        return train_dtype if self.dtype == "train" else self.dtype


@dataclass(frozen=True)
class Raw:
    """Undecoded results, one row per example, in the order of `index`."""

    index: np.ndarray  # (N,) example indices into the source
    tokens: np.ndarray  # (N, L) uint8 predicted tokens
    halt_prob: np.ndarray  # (N,) float32 sigmoid(halt logit) at the step taken
    steps: np.ndarray  # (N,) int16 supervision steps used
    # with record=True: every step's predicted tokens (N, S, L) uint8 and sigmoid(halt logit) (N, S)
    # float32; steps an example did not run hold PAD tokens and NaN
    step_tokens: np.ndarray | None = None
    step_halt: np.ndarray | None = None
    # with record=True: the final step's log-stablemax table (N, L, V) float16 (`solver.likelihood`)
    final_logp: np.ndarray | None = None


def _max_steps(model, cfg: PredictConfig) -> int:
    return cfg.max_steps or int(model.cfg.max_steps)


@torch.no_grad()
def run_steps(
    model, source, indices: np.ndarray, runtime, cfg: PredictConfig, on_progress: Progress | None = None,
    *, record: bool = False,
) -> Raw:
    """Run the examples at `indices` to their halting step with continuous batching; `record`
    also keeps every step's tokens and halting probability (for predictions_raw.parquet)."""
    indices = np.asarray(indices, dtype=np.int64)
    n, seq_len = len(indices), source.seq_len
    tokens = np.zeros((n, seq_len), dtype=np.uint8)
    halt_prob = np.zeros(n, dtype=np.float32)
    steps_used = np.zeros(n, dtype=np.int16)
    max_steps = _max_steps(model, cfg)
    step_tokens = np.zeros((n, max_steps, seq_len), dtype=np.uint8) if record else None
    step_halt = np.full((n, max_steps), np.nan, dtype=np.float32) if record else None
    final_logp = np.zeros((n, seq_len, source.vocab_size), dtype=np.float16) if record else None
    if n == 0:
        return Raw(indices, tokens, halt_prob, steps_used, step_tokens, step_halt, final_logp)
    min_steps = min(cfg.min_steps, max_steps)
    cut = logit_cut(cfg.threshold) if cfg.halt == "on" else None
    dev = runtime.device
    was_training = model.training
    model.eval()

    def load(lo: int, hi: int):
        b = source.batch(indices[lo:hi], cfg.seed)
        inputs = torch.from_numpy(np.asarray(b.inputs, dtype=np.int64)).to(dev)
        ids = torch.from_numpy(np.asarray(b.puzzle_ids, dtype=np.int64)).to(dev)
        x = model.embed(inputs, ids)
        y, z = model.initial_state(hi - lo, dev)
        return x, y, z

    try:
        with runtime.autocast():
            width = min(cfg.batch_size, n)
            x, y, z = load(0, width)
            slot = torch.arange(width, device=dev)  # position in `indices` held by each slot
            count = torch.zeros(width, dtype=torch.int64, device=dev)
            queued = width
            while slot.numel():
                y, z, logits, halt_logit = model.step(x, y, z)
                count += 1
                if record:
                    pos, k = slot.cpu().numpy(), (count - 1).cpu().numpy()
                    step_tokens[pos, k] = logits.argmax(-1).to(torch.uint8).cpu().numpy()
                    step_halt[pos, k] = torch.sigmoid(halt_logit.float()).cpu().numpy()
                done = halts(halt_logit.float(), count, max_steps=max_steps, min_steps=min_steps, cut=cut)
                if bool(done.any()):
                    d = done.nonzero().squeeze(1)
                    where = slot[d].cpu().numpy()
                    tokens[where] = logits[d].argmax(-1).to(torch.uint8).cpu().numpy()
                    halt_prob[where] = torch.sigmoid(halt_logit[d].float()).cpu().numpy()
                    steps_used[where] = count[d].cpu().numpy()
                    if record:
                        final_logp[where] = log_stablemax_table(logits[d])
                    if on_progress is not None:
                        on_progress(len(where))
                    k = min(len(d), n - queued)
                    if k:  # refill freed slots with the next examples
                        fill = d[:k]
                        x[fill], y[fill], z[fill] = load(queued, queued + k)
                        slot[fill] = torch.arange(queued, queued + k, device=dev)
                        count[fill] = 0
                        queued += k
                    if k < len(d):  # queue empty: shrink the batch to the slots still running
                        keep = torch.ones_like(done)
                        keep[d[k:]] = False
                        x, y, z, slot, count = x[keep], y[keep], z[keep], slot[keep], count[keep]
    finally:
        model.train(was_training)
    return Raw(indices, tokens, halt_prob, steps_used, step_tokens, step_halt, final_logp)


def shard(n: int, rank: int, world_size: int) -> np.ndarray:
    """This rank's example indices: a strided shard, so every rank gets a similar mix."""
    return np.arange(rank, n, world_size, dtype=np.int64)


def pack(raw: Raw, per_rank: int) -> np.ndarray:
    """One rank's results as a (per_rank, row bytes) uint8 block: each row holds its fields' own bytes
    (index int64, tokens uint8, halting probability float32, steps int16, and when recorded: step
    tokens uint8, step halting float32, final tables float16). Exact, and about 5.7x smaller than
    one float64 per value; rows past the shard carry index -1."""
    n = len(raw.index)
    cols = [np.ascontiguousarray(getattr(raw, f.name)).reshape(n, -1).view(np.uint8).reshape(n, -1)
            for f in dataclasses.fields(Raw) if getattr(raw, f.name) is not None]
    block = np.zeros((per_rank, sum(c.shape[1] for c in cols)), dtype=np.uint8)
    block[:, :8] = np.full(1, -1, dtype=np.int64).view(np.uint8)  # padding rows: index -1
    lo = 0
    for c in cols:
        block[:n, lo:lo + c.shape[1]] = c
        lo += c.shape[1]
    return block


def unpack(block: np.ndarray, like: Raw) -> Raw:
    """Concatenated blocks of every rank back to one Raw (fields, dtypes and shapes as in `like`, one
    rank's own), padding dropped, in example order."""
    values, lo = {}, 0
    for f in dataclasses.fields(Raw):
        arr = getattr(like, f.name)
        if arr is None:
            values[f.name] = None
            continue
        width = arr.dtype.itemsize * int(np.prod(arr.shape[1:], dtype=np.int64))
        values[f.name] = np.ascontiguousarray(block[:, lo:lo + width]).view(arr.dtype).reshape(-1, *arr.shape[1:])
        lo += width
    keep = values["index"] >= 0
    order = np.argsort(values["index"][keep], kind="stable")
    return Raw(**{k: (v[keep][order] if v is not None else None) for k, v in values.items()})


def gather(raw: Raw, n: int, runtime) -> Raw | None:
    """Every rank's results on rank 0 in example order (once per chunk); None on the other ranks, which
    decode nothing. A no-op on one device. The blocks are host memory gathered over gloo to rank 0
    alone (`Runtime.gather_to_main`): no GPU and no other rank holds the whole."""
    if not getattr(runtime, "distributed", False):
        return raw
    block = pack(raw, math.ceil(n / runtime.world_size))  # equal shapes, as a collective needs
    parts = runtime.gather_to_main(torch.from_numpy(block))
    if parts is None:
        return None
    return unpack(np.concatenate([t.numpy() for t in parts]), raw)


def in_order(raw: Raw, idx: np.ndarray) -> Raw:
    """`raw`'s rows in the order of `idx` (the chunk's), whatever order the ranks or a task-by-task
    retry left them in; examples without a row (a failed task) are skipped."""
    if np.array_equal(raw.index, idx):
        return raw
    by_index = np.argsort(raw.index, kind="stable")
    pos = np.searchsorted(raw.index, idx, sorter=by_index)
    pos = np.minimum(pos, max(len(raw.index) - 1, 0))
    rows = by_index[pos] if len(raw.index) else np.zeros(0, np.int64)
    rows = rows[raw.index[rows] == idx] if len(raw.index) else rows
    return Raw(**{f.name: (None if getattr(raw, f.name) is None else getattr(raw, f.name)[rows])
                  for f in dataclasses.fields(Raw)})


def canvas_of(source) -> int:
    """The square canvas side of an ARC source (seq_len = side * side)."""
    side = getattr(source, "canvas", None) or math.isqrt(source.seq_len)
    if side * side != source.seq_len:
        raise ValueError(f"source seq_len {source.seq_len} is not a square canvas")
    return int(side)


def aug_rows(examples: pl.DataFrame) -> np.ndarray:
    """The (n, 11) record array (dihedral, colour map) of example rows."""
    colors = np.array(examples["colors"].to_list(), dtype=np.uint8).reshape(len(examples), -1)
    return np.concatenate([examples["dihedral"].to_numpy().astype(np.uint8)[:, None], colors], axis=1)


def to_frame(raw: Raw, source, *, invert_fn=None) -> pl.DataFrame:
    """Decode each prediction, map it back through its example's inverse augmentation, as a frame.

    Columns: PREDICTION_SCHEMA plus `index` (example) and `puzzle_id`. `invert_fn(grid, aug)`
    replaces the batched inverse (tests swap in a broken one to prove voting notices).
    """
    from arc_pipeline.augment.encode import decode_batch, decode_to_original
    from arc_pipeline.augment.kernels import unpack as unpack_grids
    from arc_pipeline.augment.records import Aug

    canvas = canvas_of(source)
    rows = source.examples[raw.index.tolist()] if len(raw.index) else source.examples.head(0)
    records = aug_rows(rows)
    if invert_fn is None:
        grids = decode_to_original(raw.tokens, records, canvas)
    else:
        decoded = unpack_grids(decode_batch(raw.tokens, canvas))
        grids = [None if g.size == 0 else invert_fn(g, Aug.from_row(r)) for g, r in zip(decoded, records)]
    frame = predictions_frame(rows["task_id"].to_list(), rows["test_index"].to_list(), grids, raw.halt_prob, raw.steps)
    return frame.with_columns(
        pl.Series("index", raw.index, dtype=pl.Int64), rows["puzzle_id"].cast(pl.Int64).alias("puzzle_id")
    )


# what a failed batch raises: out of memory (torch's is a RuntimeError), a shape the model rejects
TASK_ERRORS = (RuntimeError, ValueError, IndexError, MemoryError, ArcError)
SAFETY_S = 5.0  # seconds kept after prediction (under a deadline) for voting, submit and report


def out_of_memory(e: BaseException) -> bool:
    """True for an allocator's out-of-memory error (torch raises a RuntimeError subclass on GPUs)."""
    return isinstance(e, MemoryError) or "out of memory" in str(e).lower()


def isolated(run, source, idx: np.ndarray, failed: dict, on_note=None, batch_size: int = 1) -> Raw:
    """`run(idx, batch_size)` (a Raw for those examples); out of memory, it runs again at half the
    batch, down to 1; when it still raises, the examples are run again task by task and a task that
    still fails is left out (its test inputs get the identity fallback in submit) and recorded in
    `failed`. Rank-local, so every rank still reaches the same gather."""
    note = on_note or (lambda msg: None)
    while True:
        try:
            return run(idx, batch_size)
        except TASK_ERRORS as e:
            if out_of_memory(e) and batch_size > 1:
                release_cached_memory()
                note(f"predict: out of memory at batch {batch_size}; trying {batch_size // 2}")
                batch_size //= 2
                continue
            note(f"predict: a batch of {len(idx)} predictions failed ({type(e).__name__}: {str(e)[:200]}); "
                 "retrying task by task")
            break
    tasks = source.examples["task_id"].to_numpy()[idx]
    parts = []
    for tid in dict.fromkeys(tasks.tolist()):
        try:
            parts.append(run(idx[tasks == tid], batch_size))
        except TASK_ERRORS as e:
            failed[tid] = f"{type(e).__name__}: {e}"[:300]
            note(f"predict: task {tid} failed ({failed[tid]}); its test inputs fall back to their input grid")
    if not parts:
        parts.append(run(idx[:0], batch_size))

    def joined(name):
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else np.concatenate(values)

    return Raw(*(joined(f.name) for f in dataclasses.fields(Raw)))


def predict_chunks(model, source, order, runtime, cfg: PredictConfig, on_chunk: Callable[[Raw], None],
                   on_progress: Progress | None = None, *, remaining: Callable[[], float] | None = None,
                   first: int = 0, chunk: int | None = None, failed: dict | None = None, on_note=None) -> str:
    """The one inference loop: chunks of `order` (example indices; `chunk` each, default at least
    `first` and 4 batches per rank) through `run_steps`, each chunk's gathered `Raw` handed to
    `on_chunk`, until done or, with a deadline (`remaining()`: seconds left), until the next chunk
    would not fit. Every rank takes its shard of each chunk and all ranks agree on when to stop.
    With `failed` (a dict), a batch out of memory is halved and a task whose batch raises falls back
    alone (`isolated`). Under several ranks only rank 0 is handed the chunks (decoded once). Returns
    the note ("" when complete)."""
    import time

    order = np.asarray(order, dtype=np.int64)
    rank, world = getattr(runtime, "rank", 0), getattr(runtime, "world_size", 1)
    chunk = chunk or max(cfg.batch_size * 4 * world, first)
    stopped, last = "", 0.0
    for lo in range(0, len(order), chunk):
        left = remaining() if remaining is not None else None
        stop = bool(lo) and left is not None and left < SAFETY_S + last  # the next chunk would not fit
        if world > 1:
            flags = runtime.all_gather(torch.tensor([int(stop)], device=runtime.device))
            stop = bool(flags.any())
        if stop:
            stopped = f"stopped by the time budget after {lo} of {len(order)} predictions"
            break
        t = time.time()
        idx = order[lo:lo + chunk]
        mine = idx[shard(len(idx), rank, world)]

        def steps(i, batch_size=cfg.batch_size):
            return run_steps(model, source, i, runtime, dataclasses.replace(cfg, batch_size=batch_size), on_progress,
                             record=cfg.keep_raw)

        raw = steps(mine) if failed is None else isolated(steps, source, mine, failed, on_note, cfg.batch_size)
        whole = gather(raw, len(idx), runtime)
        if whole is not None:
            on_chunk(in_order(whole, idx))
        last = time.time() - t
    return stopped


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema={**PREDICTION_SCHEMA, "index": pl.Int64, "puzzle_id": pl.Int64})


# --- a checkpoint's puzzle rows -------------------------------------------------------------


def puzzle_rows(source, puzzle_map: pl.DataFrame) -> tuple[np.ndarray, int]:
    """Table row for every dataset puzzle id the source's examples use, matched in a checkpoint's
    puzzle map by `solver.puzzle_match.match_rows` (task, augmentation, demonstrations); unmatched
    puzzles get row 0 (blank). Returns (rows by id, unmatched)."""
    from arc_pipeline.solver.puzzle_match import match_rows

    ids = source.examples["puzzle_id"].cast(pl.Int64).unique()
    table = getattr(source, "puzzles", None)
    if table is None:  # a source without the build's puzzle table: the examples carry task and record
        mine = source.examples.unique("puzzle_id", keep="first", maintain_order=True)
    else:
        mine = table.filter(pl.col("puzzle_id").cast(pl.Int64).is_in(ids.implode()))
    found = match_rows(mine, puzzle_map)
    rows = np.zeros(int(ids.max()) + 1 if len(ids) else 1, dtype=np.int64)
    hit = found >= 0
    rows[mine["puzzle_id"].cast(pl.Int64).to_numpy()[hit]] = found[hit]
    return rows, int((~hit).sum())


class RowMapped:
    """A source whose puzzle ids are replaced by table rows (`rows[dataset id]`); all else delegates."""

    def __init__(self, source, rows: np.ndarray, num_rows: int):
        self.source, self.rows, self.num_puzzles = source, np.asarray(rows, dtype=np.int64), int(num_rows)

    def __getattr__(self, name):
        return getattr(self.source, name)

    def __len__(self) -> int:
        return len(self.source)

    def batch(self, indices: np.ndarray, seed: int):
        b = self.source.batch(indices, seed)
        return b._replace(puzzle_ids=self.rows[np.asarray(b.puzzle_ids, dtype=np.int64)].astype(np.int32))
