"""Typed, frozen configs for the model and its training. Names follow the paper (x, y, z;
n_latent = n, n_recursions = T, max_steps = N_sup)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from arc_pipeline.arc.fields import COUNT, FRACTION, OPTIONAL, SEED, UNIT, Each, Rule, at_least, option, positive

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = option(12, "token vocabulary (PAD, EOS, 10 colours for ARC)", COUNT)
    seq_len: int = option(900, "answer tokens (the puzzle-embedding positions come on top)", COUNT)
    num_puzzles: int = option(1, "rows of the puzzle-embedding table; row 0 is the blank puzzle", COUNT)
    hidden: int = option(512, "width of the network", COUNT)
    heads: int = option(8, "attention heads (must divide hidden)", COUNT)
    expansion: float = option(4.0, "SwiGLU inner = round_up(2/3 * expansion * hidden, 256)", positive())
    layers: int = option(2, "blocks of the one network the recursion calls", COUNT)
    n_latent: int = option(4, "n: z updates per recursion", COUNT)
    n_recursions: int = option(3, "T: recursions per supervision step (T-1 without grad)", COUNT)
    max_steps: int = option(16, "N_sup: supervision steps per example", COUNT)
    mixer: Literal["attention", "mlp"] = option("attention", "how positions mix: self-attention, or an MLP over the sequence")
    pos_encoding: Literal["rope", "learned", "none"] = option("rope", "position encoding")
    puzzle_emb_len: int = option(16, "positions prepended for the puzzle embedding; 0 disables puzzle embeddings",
                                 OPTIONAL)
    rope_theta: float = option(10000.0, "rotary base", positive())
    rms_eps: float = option(1e-5, "RMSNorm epsilon", positive())
    halt_exploration: float = option(0.1, "probability a slot is forced to a random minimum of steps", FRACTION)
    # ---- variants beyond TRM (the Universal Reasoning Model, arXiv 2512.14693; docs/variants.md) ----
    recursion: Literal["trm", "urm"] = option(
        "trm", '"trm": y and z, a recursion = n_latent calls z <- net(z + y + x) and one y <- net(y + z); "urm": one '
        "state h (carried as y), a recursion = n_latent calls h <- net(h + x) (URM's loop: n_latent = its L_cycles, "
        "n_recursions = its H_cycles; it trains 4 layers, H 2, L 6)", added_later=True)
    grad_calls: int = option(
        0, "network calls at the END of each supervision step that backpropagate; the calls before run without "
        "gradients (truncated backprop through loops). 0 = the last recursion's calls (TRM's \"T-1 recursions "
        "without gradients\", URM's \"first H-1 cycles forward-only\"); -1 = every call (n_recursions x calls "
        "per recursion): full backprop through the step", at_least(-1), added_later=True)
    conv_kernel: int = option(
        0, "> 0: ConvSwiGLU (URM): the feed-forward's gated features pass a depthwise convolution over the sequence "
        "of this many taps (padding k//2, first L outputs kept; k=2 mixes each position with the one before) and a "
        "SiLU before the down projection; 0 = TRM's plain SwiGLU", OPTIONAL, added_later=True)

    def calls_per_recursion(self) -> int:
        """Network calls in one recursion: n latent updates (+ the answer update under "trm")."""
        return self.n_latent + (1 if self.recursion == "trm" else 0)


@dataclass(frozen=True)
class TrainConfig:
    global_batch: int = option(768, "examples per optimizer step, over all devices", COUNT)
    micro_batch: int | Literal["auto"] = option(
        0, "examples per forward/backward chunk (gradient accumulation, same update as the whole batch); 0 = the "
        'whole per-rank batch at once; "auto" = the largest divisor that fits the GPU (measured by a probe step; on '
        "the CPU the whole batch)", at_least(0, also=("auto",)))
    steps: int = option(1000, "optimizer steps (one supervision step for every slot each)", COUNT)
    epochs: float = option(
        0.0, "> 0: the schedule in epochs, the reference's way: steps = round(epochs x examples per epoch / "
        "global_batch) (an epoch of the reference rule = each task's pairs once); `steps` is then ignored. A config "
        "layer that sets `steps` without `epochs` resets epochs to 0 (the later layer wins)", OPTIONAL)
    lr: float = option(1e-4, "learning rate of the network (AdamATan2/AdamW), after warm-up", positive())
    lr_warmup: int = option(2000, "steps of linear warm-up from 0 to lr", OPTIONAL)
    lr_schedule: Literal["constant", "cosine"] = option("constant", "after warm-up: constant, or cosine down to "
                                                        "lr_min_ratio x lr")
    lr_min_ratio: float = option(1.0, "cosine floor as a fraction of lr", FRACTION)
    betas: tuple[float, float] = option((0.9, 0.95), "Adam's betas", Each(UNIT))
    weight_decay: float = option(0.1, "decoupled weight decay of the network", OPTIONAL)
    optimizer: Literal["adam_atan2", "adamw"] = option("adam_atan2", "the network's optimizer")
    muon: Literal["off", "trunk", "matrices"] = option(
        "off", "Muon (torch.optim.Muon: momentum 0.95, Nesterov, Newton-Schulz orthogonalised updates, lr scaled by "
        "0.2 sqrt(max(rows, cols)) to match AdamW's update size, as URM's) for 2-D weights; every other parameter "
        'stays with `optimizer`. "off" = none (TRM); "trunk" = the blocks\' 2-D weights (attention, feed-forward, '
        'sequence mixer); "matrices" = every 2-D parameter (+ token embedding, output and halting heads: URM\'s '
        "split for ARC-AGI-2)", added_later=True)
    muon_lr: float = option(0.0, "Muon's base rate (before the shape scaling), on lr's schedule; 0 = lr (URM's)",
                            OPTIONAL, added_later=True)
    puzzle_lr: float = option(1e-2, "learning rate of the puzzle-embedding rows (sign-SGD)", OPTIONAL)
    puzzle_weight_decay: float = option(0.1, "weight decay of the puzzle-embedding rows", OPTIONAL)
    puzzle_table: Literal["device", "host"] = option(
        "device", 'where the puzzle table lives while training (docs/puzzle-table.md): "device" = a buffer on every '
        'rank\'s device (the reference\'s); "host" = one copy per node in host memory shared by the node\'s ranks, only '
        "a batch's rows on the device (tables too large for a GPU; the same updates, bit for bit)", added_later=True)
    puzzle_table_dir: str = option(
        "", 'the host table\'s folder on each node; "" = /dev/shm when it has room, else the system temporary folder',
        added_later=True)
    ema: float = option(0.999, "EMA decay of the weights predict uses; 0 disables", UNIT)
    halt_loss_weight: float = option(0.5, "weight of the halting head's loss beside the answer's", OPTIONAL)
    sampling: Literal["reference", "uniform"] = option(
        "reference", 'how an epoch streams examples: "reference" = every task once, one random puzzle (augmented '
        'copy), all its pairs (a task\'s share = its pairs); "uniform" = a permutation of every example row (share '
        "= puzzles x pairs; ours before). See solver/sampler.py")
    exploration: Literal["reference", "per_example"] = option(
        "reference", 'halting exploration (probability model.halt_exploration): "reference" = at every step, for '
        "every slot, a fresh minimum uniform in 2..N_sup the slot must have reached to halt (with an always-halt head "
        '1.11 steps per example); "per_example" = one minimum drawn when the slot takes its example (1.8 steps: ~38% '
        "fewer fresh examples per step late in training; ours before)")
    seed: int = option(0, "seed of initialisation, sampling and exploration", SEED)
    device: str = option("auto", "auto | cpu | cuda | cuda:N | mps", Rule(
        "auto, cpu, cuda, cuda:N, mps",
        lambda d: None if DEVICE.fullmatch(str(d)) else "unknown device; valid: auto, cpu, cuda, cuda:N, mps"))
    dtype: Literal["auto", "float32", "bfloat16"] = option("auto", "auto: bf16 on GPU, fp32 on CPU")
    compile: bool = option(False, "torch.compile the model")
    eval_every: int = option(0, "steps between held-out evaluations; 0 = only at the end", OPTIONAL)
    eval_examples: int = option(0, "held-out examples per evaluation, evenly spaced over the split; 0 = all", OPTIONAL)
    checkpoint_every: int = option(500, "steps between checkpoints; 0 = only at the end", OPTIONAL)
    keep_checkpoints: int = option(2, "step checkpoints kept (the best is kept apart)", COUNT)
    log_every: int = option(10, "steps between lines of metrics.jsonl", COUNT)
    time_budget_s: float = option(0.0, "stop (with a checkpoint) after this many seconds; 0 = none", OPTIONAL)
