"""Typed, frozen configs for the model and its training. Names follow the paper (x, y, z;
n_latent = n, n_recursions = T, max_steps = N_sup)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 12
    seq_len: int = 900  # answer tokens (the puzzle-embedding positions come on top)
    num_puzzles: int = 1  # rows of the puzzle-embedding table; row 0 is the blank puzzle
    hidden: int = 512
    heads: int = 8
    expansion: float = 4.0  # SwiGLU inner = round_up(2/3 * expansion * hidden, 256)
    layers: int = 2
    n_latent: int = 4  # n: z updates per recursion
    n_recursions: int = 3  # T: recursions per supervision step (T-1 without grad)
    max_steps: int = 16  # N_sup: supervision steps per example
    mixer: Literal["attention", "mlp"] = "attention"
    pos_encoding: Literal["rope", "learned", "none"] = "rope"
    puzzle_emb_len: int = 16  # positions prepended; 0 disables puzzle embeddings
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    halt_exploration: float = 0.1  # probability a slot is forced to a random minimum of steps
    # ---- variants beyond TRM (the Universal Reasoning Model, arXiv 2512.14693; README "Variants") ----
    # "trm": y and z, a recursion = n_latent calls z <- net(z + y + x) and one y <- net(y + z);
    # "urm": one state h (carried as y), a recursion = n_latent calls h <- net(h + x) (URM's loop:
    # n_latent = its L_cycles, n_recursions = its H_cycles; it trains 4 layers, H 2, L 6)
    recursion: Literal["trm", "urm"] = "trm"
    # network calls at the END of each supervision step that backpropagate; the calls before run
    # without gradients (truncated backprop through loops). 0 = the last recursion's calls (TRM's
    # "T-1 recursions without gradients", URM's "first H-1 cycles forward-only"); the total
    # (n_recursions x calls per recursion) = full backprop through the step
    grad_calls: int = 0
    # > 0: ConvSwiGLU (URM): the feed-forward's gated features pass a depthwise convolution over the
    # sequence of this many taps (padding k//2, first L outputs kept; k=2 mixes each position with the
    # one before) and a SiLU before the down projection; 0 = TRM's plain SwiGLU
    conv_kernel: int = 0

    def calls_per_recursion(self) -> int:
        """Network calls in one recursion: n latent updates (+ the answer update under "trm")."""
        return self.n_latent + (1 if self.recursion == "trm" else 0)

    def validate(self) -> list[str]:
        """Sentences for values the model cannot run (the config loader reports them)."""
        problems = []
        total = self.n_recursions * self.calls_per_recursion()
        if self.recursion not in ("trm", "urm"):
            problems.append(f"model.recursion = {self.recursion!r}; valid: 'trm' or 'urm'")
        elif not 0 <= self.grad_calls <= total:
            problems.append(f"model.grad_calls = {self.grad_calls}; valid: 0 (the last recursion) to {total} "
                            f"(every call of a supervision step: n_recursions x calls per recursion)")
        if self.conv_kernel < 0:
            problems.append(f"model.conv_kernel = {self.conv_kernel}; valid: 0 (plain SwiGLU) or a kernel size >= 1")
        return problems


@dataclass(frozen=True)
class TrainConfig:
    global_batch: int = 768
    # examples per forward/backward chunk (gradient accumulation, same update as the whole batch);
    # 0 = the whole per-rank batch at once; "auto" = the largest divisor that fits the GPU
    # (measured by a probe step; on the CPU the whole batch)
    micro_batch: int | Literal["auto"] = 0
    steps: int = 1000  # optimizer steps (one supervision step for every slot each)
    # > 0: the schedule in epochs, the reference's way: steps = round(epochs x examples per epoch /
    # global_batch) (an epoch of the reference rule = each task's pairs once); `steps` is then ignored.
    # A config layer that sets `steps` without `epochs` resets epochs to 0 (the later layer wins).
    epochs: float = 0.0
    lr: float = 1e-4
    lr_warmup: int = 2000
    lr_schedule: Literal["constant", "cosine"] = "constant"
    lr_min_ratio: float = 1.0  # cosine floor as a fraction of lr
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    optimizer: Literal["adam_atan2", "adamw"] = "adam_atan2"
    # Muon (torch.optim.Muon: momentum 0.95, Nesterov, Newton-Schulz orthogonalised updates, lr scaled
    # by 0.2 sqrt(max(rows, cols)) to match AdamW's update size, as URM's) for 2-D weights; every other
    # parameter stays with `optimizer`. "off" = none (TRM); "trunk" = the blocks' 2-D weights (attention,
    # feed-forward, sequence mixer); "matrices" = every 2-D parameter (+ token embedding, output and
    # halting heads: URM's split for ARC-AGI-2)
    muon: Literal["off", "trunk", "matrices"] = "off"
    muon_lr: float = 0.0  # Muon's base rate (before the shape scaling), on lr's schedule; 0 = lr (URM's)
    puzzle_lr: float = 1e-2
    puzzle_weight_decay: float = 0.1
    ema: float = 0.999  # 0 disables
    halt_loss_weight: float = 0.5
    # how an epoch streams examples: "reference" = every task once, one random augmented variant, all
    # its pairs (a task's share = its pairs); "uniform" = a permutation of every example row (share =
    # variants x pairs; ours before). See solver/sampler.py.
    sampling: Literal["reference", "uniform"] = "reference"
    # halting exploration (probability model.halt_exploration): "reference" = at every step, for every
    # slot, a fresh minimum uniform in 2..N_sup the slot must have reached to halt (with an always-halt
    # head 1.11 steps per example); "per_example" = one minimum drawn when the slot takes its example
    # (1.8 steps: ~38% fewer fresh examples per step late in training; ours before)
    exploration: Literal["reference", "per_example"] = "reference"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    compile: bool = False
    eval_every: int = 0  # steps between held-out evaluations; 0 = only at the end
    eval_examples: int = 0  # held-out examples per evaluation, evenly spaced over the split; 0 = all
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    time_budget_s: float = 0.0  # 0 = none; stop (with a checkpoint) when reached
