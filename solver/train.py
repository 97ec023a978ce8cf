"""The training loop, explicit and in one file: B slots with carries, deep supervision, ACT.

Each optimizer step runs ONE supervision step for every slot. A slot carries its example, its
(y, z) and its step count; it halts when its halting logit turns positive (after the exploration
minimum: redrawn every step, as the reference, or once per example) or at max_steps, and only the halted slots take fresh examples, so the sampler
is asked for exactly that many (nothing drawn is thrown away). Dense weights go through DDP and
AdamATan2/AdamW; the rows of the puzzle table touched by the batch are gathered across ranks and
updated by sign-SGD identically on every rank (a device table), or once per node (a host table:
train.puzzle_table, solver/puzzle_emb.py). Randomness derives from (seed, step), so a resumed
run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder, puzzle_match, table_store
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import HostRead, Runtime, setup_runtime
from arc_pipeline.solver.ema import EMA
from arc_pipeline.solver.evaluate import evaluate
from arc_pipeline.solver.halting import halts
from arc_pipeline.solver.losses import LossTerms, trm_loss
from arc_pipeline.solver.memory import resolve_micro_batch
from arc_pipeline.solver.model import TRM
from arc_pipeline.solver.optim import lr_at, make_dense_optimizer, set_lr
from arc_pipeline.solver.preempt import Preempted, StopOnSigterm, abandoned_first_step
from arc_pipeline.solver.puzzle_emb import HostTable
from arc_pipeline.solver.sampler import derive_seed, make_sampler
from arc_pipeline.solver.schedule import resolve_schedule

Metrics = Callable[[dict[str, Any]], None]

# newer torch renamed broadcast_buffers (both still sync buffers once at construction, which we want)
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)

# per-step sums reduced across ranks at log time (order matters: see take_metrics)
_SUMS = ("slots", "loss", "ce", "halt", "halt_right", "done", "done_exact", "done_tok_right", "done_tok", "done_steps")


@dataclass
class TrainResult:
    step: int
    stopped: str  # "steps" | "time_budget" | "already_done"
    checkpoint: Path | None  # the last step directory written
    best: Path | None
    metrics: dict[str, Any] = field(default_factory=dict)  # the last logged row
    val: dict[str, Any] | None = None  # the last held-out evaluation
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # choices made for the user (dtype, micro_batch)


def check_source(model_cfg: ModelConfig, source, what: str = "training source") -> None:
    """Refuse a source the model cannot read, naming the mismatch."""
    if source.seq_len != model_cfg.seq_len:
        raise ArcError(f"{what}: sequence length {source.seq_len} != model.seq_len {model_cfg.seq_len}; set model.seq_len to match the dataset")
    if source.vocab_size > model_cfg.vocab_size:
        raise ArcError(f"{what}: vocabulary {source.vocab_size} > model.vocab_size {model_cfg.vocab_size}; set model.vocab_size to match the dataset")
    if model_cfg.puzzle_emb_len and source.num_puzzles > model_cfg.num_puzzles:
        raise ArcError(f"{what}: {source.num_puzzles} puzzle ids > model.num_puzzles {model_cfg.num_puzzles}; set model.num_puzzles from the dataset's meta.json")
    if len(source) == 0:
        raise ArcError(f"{what} holds no examples; rebuild the dataset")


class Trainer:
    """Model, optimizers, EMA, sampler and slots of one rank; `step()` is one optimizer step."""

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, source, runtime: Runtime,
                 group_weights: Mapping[str, float] | None = None):
        if train_cfg.global_batch % runtime.world_size:
            raise ArcError(f"train.global_batch {train_cfg.global_batch} is not divisible by {runtime.world_size} ranks")
        check_source(model_cfg, source)
        self.mcfg, self.cfg, self.source, self.rt = model_cfg, train_cfg, source, runtime
        self.batch = train_cfg.global_batch // runtime.world_size
        self.model = TRM(model_cfg, seed=train_cfg.seed, puzzle_table=train_cfg.puzzle_table).to(runtime.device)
        if train_cfg.puzzle_table == "host":  # one copy per node in host memory (solver/puzzle_emb.py)
            self.model.puzzle_emb.attach(HostTable(model_cfg.num_puzzles, model_cfg.hidden, runtime, train_cfg.puzzle_table_dir))
        self.model.train()
        self.ddp = self.model
        if runtime.distributed:
            # the puzzle table is a buffer: never broadcast it per step (rows are synced by hand)
            ids = [runtime.device] if runtime.is_gpu else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids, gradient_as_bucket_view=True, **_NO_BUFFER_SYNC)
        self.forward = torch.compile(self.ddp) if train_cfg.compile else self.ddp
        self.optimizer = make_dense_optimizer(self.model, train_cfg)  # Muon for matrices when train.muon says
        self.ema = EMA(self.model, train_cfg.ema) if train_cfg.ema > 0 else None
        self.sampler = make_sampler(source, train_cfg.sampling, train_cfg.seed, group_weights)
        self.step_count = 0
        self.trunk_frozen_until = 0
        self.carry = self._empty_carry()
        self._sums = torch.zeros(len(_SUMS), dtype=torch.float64, device=runtime.device)
        self._batch_size = torch.tensor(float(self.batch), dtype=torch.float64, device=runtime.device)
        self._pending: HostRead | None = None  # the halted mask (and stop flags) on their way to the host
        self._flags = (False, False)
        # (over the time budget, SIGTERM asked) as this rank sees them; `train` sets it, `agreed_flags` reads
        self.stop_flags: Callable[[], tuple[bool, bool]] = lambda: (False, False)
        self.notes: list[str] = list(runtime.notes)  # choices made for the user, for the run's log
        self.micro_batch, note = resolve_micro_batch(train_cfg.micro_batch, self.model, runtime, self.batch,
                                                     train_cfg.global_batch)
        if note:
            self.notes.append(note)

    # ---- slots -------------------------------------------------------------------------------
    def _empty_carry(self) -> dict[str, torch.Tensor]:
        b, dev = self.batch, self.rt.device
        # in the activation dtype, the one model.step returns: a float32 first carry would make a
        # compiled step recompile at step 2 (its inputs' dtype is guarded)
        y, z = self.model.initial_state(b, dev, self.rt.dtype)
        long = dict(dtype=torch.long, device=dev)
        return dict(
            inputs=torch.zeros(b, self.mcfg.seq_len, **long),
            labels=torch.zeros(b, self.mcfg.seq_len, **long),
            puzzle_ids=torch.zeros(b, **long),
            y=y, z=z,
            steps=torch.zeros(b, **long),
            min_steps=torch.ones(b, **long),
            halted=torch.ones(b, dtype=torch.bool, device=dev),  # empty slots count as halted
        )

    def refill(self) -> torch.Tensor:
        """Give every halted slot a fresh example, reset its (y, z) and steps; returns the mask.

        The host learns which slots halted from the one read a step makes (`_halted_on_host`); the
        new examples go up through pinned memory and every mask update stays on the device."""
        c, rt = self.carry, self.rt
        halted = c["halted"]
        mask, counts = self._halted_on_host()
        if counts.sum() == 0:
            return halted
        idx, start = self.sampler.take(counts, rt.rank)
        if len(idx):
            slots = rt.upload(np.flatnonzero(mask))
            b = self.source.batch(idx, derive_seed(self.cfg.seed, start, 0xBA))
            for key, values in (("inputs", b.inputs), ("labels", b.labels), ("puzzle_ids", b.puzzle_ids)):
                c[key].index_copy_(0, slots, rt.upload(np.asarray(values)).long())  # uint8/int32 up, widened there
        y0, z0 = self.model.initial_state(1, rt.device, c["y"].dtype)
        keep = halted[:, None, None]
        c["y"] = torch.where(keep, y0, c["y"])
        c["z"] = torch.where(keep, z0, c["z"])
        c["steps"].masked_fill_(halted, 0)
        if self.cfg.exploration == "per_example":
            c["min_steps"] = torch.where(halted, self._min_steps(0xE7), c["min_steps"])
        return halted

    def _halted_on_host(self) -> tuple[np.ndarray, np.ndarray]:
        """(this rank's halted mask, halted slots per rank): what the last step sent to the host, or
        read now (the first step, after a resume, or after the carry was edited by hand)."""
        pending, self._pending = self._pending, None
        if pending is None:
            pending = self._send_halted(self.carry["halted"], (False, False))
        host = pending.numpy()
        w, b = self.rt.world_size, self.batch
        if not self.rt.distributed:
            return host.astype(bool), np.array([int(host.sum())])
        return host[3 * w :].astype(bool), host[0 : 3 * w : 3]

    def _send_halted(self, halted: torch.Tensor, flags: tuple[bool, bool]) -> HostRead:
        """Start the step's one device-to-host read: the halted mask, and under DDP every rank's
        (halted count, over time, SIGTERM) gathered with it, so stopping costs no second read."""
        rt = self.rt
        if not rt.distributed:
            return rt.read_later(halted)
        mine = torch.cat([halted.sum(dtype=torch.long).reshape(1), rt.upload(np.array(flags, dtype=np.int64))])
        return rt.read_later(torch.cat([rt.all_gather(mine), halted.long()]))

    def agreed_flags(self) -> tuple[bool, bool]:
        """(over the time budget, SIGTERM) as every rank agrees on them (any rank's flag counts), from
        the read the last step started: every rank stops at the same step. Waits for that read only."""
        if self._pending is None:
            return False, False
        if not self.rt.distributed:
            return self._flags
        host = self._pending.numpy()
        gathered = host[: 3 * self.rt.world_size].reshape(-1, 3)
        return bool(gathered[:, 1].any()), bool(gathered[:, 2].any())

    def _min_steps(self, purpose: int) -> torch.Tensor:
        """Exploration: each slot, with probability halt_exploration, must have run 2..max_steps steps
        to halt (drawn for all global slots from (seed, step), so every rank agrees). Drawn on the
        host (numpy's stream, so runs stay comparable across versions) and sent up without a wait."""
        n_sup, g = self.mcfg.max_steps, self.cfg.global_batch
        rng = np.random.default_rng(derive_seed(self.cfg.seed, self.step_count, purpose))
        u, m = rng.random(g), rng.integers(2, max(n_sup, 2) + 1, g)
        mins = np.where((u < self.mcfg.halt_exploration) & (n_sup >= 2), m, 1)
        mine = mins[self.rt.rank * self.batch : (self.rt.rank + 1) * self.batch]  # global slot order
        return self.rt.upload(mine)

    # ---- one optimizer step --------------------------------------------------------------------
    def step(self) -> dict[str, torch.Tensor]:
        """Refill, one supervision step for every slot, update weights and puzzle rows, halt.

        One device-to-host read per step (which slots halted, and the ranks' stop flags), started
        before the optimizer's kernels are queued and waited for only by the next refill or
        `agreed_flags`, so the device never drains between steps."""
        c, cfg, rt = self.carry, self.cfg, self.rt
        self.refill()
        y, z, halt_logit, terms = self._forward_backward()
        with torch.no_grad():
            steps = c["steps"] + 1
            # the reference redraws the minimum at every step; per_example keeps the one drawn at refill
            floor = self._min_steps(0xE8) if self.cfg.exploration == "reference" else c["min_steps"]
            halted = halts(halt_logit, steps, max_steps=self.mcfg.max_steps, min_steps=floor)
            self._flags = self.stop_flags()
            self._pending = self._send_halted(halted, self._flags)

        lr = lr_at(self.step_count, cfg)
        ids, grads = self.model.puzzle_emb.pop_grads()
        if ids.numel():
            ids, grads = rt.all_gather(ids), rt.all_gather(grads)
        if self.step_count >= self.trunk_frozen_until:
            set_lr(self.optimizer, lr)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        if ids.numel():  # after the dense step is queued: a host table waits here for the gradients
            self.model.puzzle_emb.update(ids, grads, lr_at(self.step_count, cfg, cfg.puzzle_lr), cfg.puzzle_weight_decay)

        with torch.no_grad():
            c["y"], c["z"] = y.detach(), z.detach()
            c["steps"] = steps
            c["halted"] = halted
            done = halted.double()
            row = torch.stack([
                self._batch_size,
                terms.loss.detach().double().sum(), terms.ce.detach().double().sum(), terms.halt.detach().double().sum(),
                ((halt_logit > 0) == terms.exact).double().sum(),
                done.sum(), (terms.exact.double() * done).sum(), (terms.token_correct.double() * done).sum(),
                (terms.token_count.double() * done).sum(), (c["steps"].double() * done).sum(),
            ])
            self._sums += row
        self.step_count += 1
        return {"loss": terms.loss.detach().mean(), "lr": torch.tensor(lr), "halted": halted}

    def _forward_backward(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, LossTerms]:
        """Forward and backward of every slot, `micro_batch` slots at a time; gradients (dense and
        the puzzle rows') accumulate to those of the whole batch. Returns the new (y, z), the
        halting logits and the loss terms of every slot, detached except in the one-chunk case."""
        c, rt, b, m = self.carry, self.rt, self.batch, self.micro_batch
        if m >= b:
            with rt.autocast():
                y, z, logits, halt_logit = self.forward(c["inputs"], self._puzzle(c["puzzle_ids"]), c["y"], c["z"])
            terms = trm_loss(logits, halt_logit, c["labels"], self.cfg.halt_loss_weight)
            # sum over the local batch / local batch; DDP's mean over ranks makes it sum / global batch
            (terms.loss.sum() / b).backward()
            return y, z, halt_logit, terms
        ys, zs, halts, parts = None, None, [], []
        for lo in range(0, b, m):
            sl = slice(lo, lo + m)
            # DDP reduces gradients once, in the last chunk's backward
            sync = self.ddp.no_sync() if rt.distributed and lo + m < b else contextlib.nullcontext()
            with sync:
                with rt.autocast():
                    y, z, logits, halt_logit = self.forward(c["inputs"][sl], self._puzzle(c["puzzle_ids"][sl]), c["y"][sl], c["z"][sl])
                terms = trm_loss(logits, halt_logit, c["labels"][sl], self.cfg.halt_loss_weight)
                (terms.loss.sum() / b).backward()
            if ys is None:  # the new carries, written chunk by chunk (no concatenated copy)
                ys, zs = y.new_empty((b, *y.shape[1:])), z.new_empty((b, *z.shape[1:]))
            ys[sl], zs[sl] = y.detach(), z.detach()
            halts.append(halt_logit.detach())
            parts.append(LossTerms(*(t.detach() for t in terms)))
        return ys, zs, torch.cat(halts), LossTerms(*(torch.cat(t) for t in zip(*parts)))

    def _puzzle(self, ids: torch.Tensor) -> torch.Tensor:
        """The puzzle rows of `ids` as trainable leaves, gathered here, outside the compiled forward (the ids
        themselves when the model has no puzzle positions: no rows, no update)."""
        return self.model.puzzle_emb.leaf(ids) if self.mcfg.puzzle_emb_len else ids

    def take_metrics(self) -> dict[str, float]:
        """Means over the steps since the last call, over all ranks; resets the sums.

        exact/token accuracy count examples that finished in the window, at their last step. They
        overstate held-out accuracy at high learning rates: an example is trained on at each of
        its supervision steps, so later steps partly recall its own labels (seen on 6x6 Sudoku:
        60% here vs 15% with the same weights frozen)."""
        s = self.rt.all_reduce_sum(self._sums.clone()).tolist()
        self._sums.zero_()
        v = dict(zip(_SUMS, s))
        slots, done = max(v["slots"], 1.0), max(v["done"], 1.0)
        return {
            "loss": v["loss"] / slots, "ce": v["ce"] / slots, "halt_loss": v["halt"] / slots,
            "halt_accuracy": v["halt_right"] / slots,
            "finished": v["done"], "exact_accuracy": v["done_exact"] / done,
            "token_accuracy": v["done_tok_right"] / max(v["done_tok"], 1.0), "mean_steps": v["done_steps"] / done,
        }

    def check_finite(self, last_good: Path | None) -> None:
        """Stop with an ArcError when the loss or the weights stopped being finite (all ranks agree),
        so a diverged model is never saved, let alone marked best."""
        params = [p.detach() for p in self.model.parameters()]
        bad = ~torch.isfinite(self._sums).all()
        if params:
            bad = bad | ~torch.stack([torch.isfinite(p).all() for p in params]).all()
        flag = self.rt.all_gather(bad.reshape(1).to(torch.long))
        if bool(flag.any()):
            raise non_finite(self.step_count, self.cfg, last_good)

    # ---- checkpoints ---------------------------------------------------------------------------
    def save(self, ckpt_dir: Path, *, meta: dict, puzzle_map, is_best: bool) -> Path:
        meta = dict(meta, sampler_position=self.sampler.position, sampler_state=self.sampler.state(), world_size=self.rt.world_size,
                    model_config=asdict(self.mcfg), train_config=asdict(self.cfg))
        return ckpt.save(ckpt_dir, self.step_count, model=self.model, ema=self.ema, optimizer=self.optimizer,
                         carry=self.carry, puzzle_map=puzzle_map, meta=meta, rank=self.rt.rank,
                         world_size=self.rt.world_size, barrier=self.rt.barrier, keep=self.cfg.keep_checkpoints,
                         is_best=is_best)

    def resume(self, path: Path, fingerprint: str) -> dict:
        """Restore everything from a checkpoint of this same run."""
        try:
            meta = ckpt.load(path, model=self.model, ema=self.ema, optimizer=self.optimizer, fingerprint=fingerprint,
                             rank=self.rt.rank, device=self.rt.device)
        except RuntimeError as e:  # state-dict shape/key mismatch: the config changed under the run
            raise ArcError(f"cannot resume from {path}: its model does not match this config ({e}); use a fresh checkpoint folder") from e
        self.step_count = int(meta["step"])
        self.sampler.restore(meta.get("sampler_state") or {"position": int(meta["sampler_position"])})
        carry = meta.get("carry")
        self._pending = None  # the halted mask is read afresh from the restored carry
        if carry is not None and meta.get("world_size") == self.rt.world_size and carry["inputs"].shape[0] == self.batch:
            self.carry = {k: v.to(self.rt.device) for k, v in carry.items()}
            for k in ("y", "z"):  # checkpoints before the carry took the activation dtype hold float32
                self.carry[k] = self.carry[k].to(self.rt.dtype)
        else:  # another world size or batch: start every slot afresh (the stream position still holds)
            self.carry = self._empty_carry()
        return meta


def non_finite(step: int, cfg: TrainConfig, last_good: Path | None) -> ArcError:
    where = f"the last good checkpoint is {last_good}" if last_good is not None else "no checkpoint was kept"
    return ArcError(f"training diverged: the loss or the weights are not finite (nan/inf) by step {step} "
                    f"(train.lr = {cfg.lr:g}); stopped without saving this step ({where}); lower train.lr "
                    "or train.puzzle_lr, or check the data, then rerun")


def _resumed_best(meta: Mapping[str, Any]) -> tuple | None:
    """The best key a resumed run carries on with (a run saved before `best_key` kept only its exact)."""
    if meta.get("best_key"):
        return tuple(meta["best_key"])
    return None if meta.get("best_exact") is None else (float(meta["best_exact"]), -1.0, -1)


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    source,
    ckpt_dir: str | Path,
    *,
    val_source=None,
    puzzle_map=None,
    dataset_fingerprint: str = "",
    init_from: str | Path | None = None,
    trunk_frozen_until: int = 0,
    on_metrics: Metrics | None = None,
    runtime: Runtime | None = None,
    metrics_path: str | Path | None = None,
    val_limit: int | None = None,
    group_weights: Mapping[str, float] | None = None,
) -> TrainResult:
    """Train (or resume from ckpt_dir/latest) for train_cfg.steps optimizer steps (or its epochs, see
    `resolve_schedule`) or its time budget.

    `init_from`: a checkpoint whose weights start a fresh run (puzzle rows remapped by the puzzle
    map's keys when it comes from another dataset build; new rows at the mean). `trunk_frozen_until`:
    steps during which only puzzle rows train. `on_metrics(row)` is called every log step (main
    rank); rows also go to `metrics_path` (default ckpt_dir/../metrics.jsonl) as JSON lines.
    `val_source` is evaluated (EMA weights) every eval_every steps and at the end, on `val_limit`
    (default train_cfg.eval_examples; 0/None = all) evenly spaced examples; the best by `ckpt_folder.BEST_RULE`
    (exact, then token accuracy, then the later step) is the `best` checkpoint. `group_weights` (task id -> visits per epoch, default 1)
    weight the reference sampling rule (`solver.sampler.make_sampler`).
    """
    t0 = time.perf_counter()
    train_cfg = resolve_schedule(train_cfg, source, group_weights)
    rt = runtime or setup_runtime(train_cfg.device, train_cfg.dtype)
    ckpt_dir = Path(ckpt_dir)
    metrics_path = Path(metrics_path) if metrics_path else ckpt_dir.parent / "metrics.jsonl"
    pmap = puzzle_match.puzzle_map_frame(puzzle_map)
    if val_source is not None:
        check_source(model_cfg, val_source, "held-out (val) source")
    tr = Trainer(model_cfg, train_cfg, source, rt, group_weights)
    tr.trunk_frozen_until = trunk_frozen_until
    if tr.model.puzzle_emb.host is not None:  # its checkpoints keep the trained rows' sum (adaptation's mean)
        trained = table_store.role_train_ids(pmap)
        tr.model.puzzle_emb.host.count_rows(trained, table_store.TRAINED if trained is not None else "rows 1..")
    val_limit = val_limit if val_limit is not None else (train_cfg.eval_examples or None)
    best, last_ckpt, last_val = None, None, None  # best: the `ckpt_folder.best_key` of the best step so far
    # one rank checks the checkpoints (hashing every file of the newest step) and tells the others
    resume_from = rt.broadcast_object(ckpt_folder.latest(ckpt_dir) if rt.is_main else None)
    if resume_from is not None:
        meta = tr.resume(resume_from, dataset_fingerprint)
        best, last_ckpt = _resumed_best(meta), resume_from
    elif init_from is not None:
        src = rt.broadcast_object(ckpt_folder.resolve(init_from) if rt.is_main else None)  # hashed by one rank
        ckpt.load(src, model=tr.model, fingerprint=dataset_fingerprint, puzzle_map=pmap, remap=True, device=rt.device)
        if tr.ema is not None:
            tr.ema = EMA(tr.model, train_cfg.ema)  # average from the loaded weights, not the random init
    if tr.step_count >= train_cfg.steps:
        return TrainResult(tr.step_count, "already_done", last_ckpt, _best(ckpt_dir, rt), seconds=time.perf_counter() - t0,
                           notes=tr.notes)

    def validate() -> dict | None:
        if val_source is None:
            return None
        if tr.ema is not None:
            with tr.ema.applied(tr.model):
                return evaluate(tr.model, val_source, rt, batch_size=tr.batch, limit=val_limit)
        return evaluate(tr.model, val_source, rt, batch_size=tr.batch, limit=val_limit)

    def save(val: dict | None, row: dict) -> Path:
        nonlocal best
        tr.check_finite(last_ckpt)
        is_best = improves(val)
        if is_best:
            best = ckpt_folder.best_key(val, tr.step_count)
        meta = {"dataset_fingerprint": dataset_fingerprint, "best_exact": best[0] if best else None,
                "best_key": list(best) if best else None,
                "val": val, "metrics": row, "elapsed_s": time.perf_counter() - t0}
        return tr.save(ckpt_dir, meta=meta, puzzle_map=pmap, is_best=is_best)

    def improves(val: dict | None) -> bool:
        return val is not None and (best is None or ckpt_folder.best_key(val, tr.step_count) > best)

    stopped, t_log, n_log, last_row = "steps", time.perf_counter(), 0, {}
    first = tr.step_count
    with StopOnSigterm() as sigterm, abandoned_first_step(first, train_cfg, last_ckpt):
        sigterm.abandon = train_cfg.compile
        tr.stop_flags = lambda: (train_cfg.time_budget_s > 0 and time.perf_counter() - t0 >= train_cfg.time_budget_s,
                                 sigterm.requested)
        while tr.step_count < train_cfg.steps:
            tr.step()
            sigterm.abandon = False  # compiled: from now on a step in flight is finished and saved
            n_log += 1
            s = tr.step_count
            over_time, signalled = tr.agreed_flags()  # every rank stops at the same step (no extra read)
            last = s >= train_cfg.steps or over_time or signalled
            row: dict[str, Any] = {}
            if s % max(train_cfg.log_every, 1) == 0 or last:
                now = time.perf_counter()
                row = dict(step=s, epoch=tr.sampler.epoch, lr=lr_at(s - 1, train_cfg), **tr.take_metrics(),
                           examples_per_s=n_log * train_cfg.global_batch / max(now - t_log, 1e-9), elapsed_s=now - t0)
                t_log, n_log = now, 0
                if not math.isfinite(row["loss"]):
                    raise non_finite(s, train_cfg, last_ckpt)
            evaluate_now = (train_cfg.eval_every and s % train_cfg.eval_every == 0) or last
            val = validate() if evaluate_now and not signalled else None  # a preempted run saves at once
            if val is not None:
                last_val = val
                row.update(step=s, val_exact=val["exact"], val_exact_halted=val["exact_halted"],
                           val_token_accuracy=val["token_accuracy"], elapsed_s=time.perf_counter() - t0)
                t_log = time.perf_counter()  # evaluation time is not training throughput
            if row:
                last_row = row
                if rt.is_main:
                    if on_metrics is not None:
                        on_metrics(row)
                    metrics_path.parent.mkdir(parents=True, exist_ok=True)
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
            if last or improves(val) or (train_cfg.checkpoint_every and s % train_cfg.checkpoint_every == 0):
                last_ckpt = save(val, last_row)
            if signalled:
                stopped = "sigterm"
                break
            if over_time and s < train_cfg.steps:
                stopped = "time_budget"
                break
    if stopped == "sigterm":
        raise Preempted(f"SIGTERM at step {tr.step_count} of {train_cfg.steps}: checkpoint {last_ckpt} written; "
                        "rerun the same command to resume from it")
    return TrainResult(tr.step_count, stopped, last_ckpt, _best(ckpt_dir, rt), last_row, last_val, time.perf_counter() - t0,
                       tr.notes)


def _best(ckpt_dir: Path, rt: Runtime) -> Path | None:
    """The intact best step, as rank 0 found it (the only rank that hashes checkpoints)."""
    return rt.broadcast_object(ckpt_folder.best(ckpt_dir) if rt.is_main else None)
