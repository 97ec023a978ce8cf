"""The Tiny Recursive Model (Jolicoeur-Martineau 2025): one small network used for both updates,

    z <- net(z + y + x)   n times   (latent reasoning)
    y <- net(y + z)                 (answer update)

which together are one recursion; a supervision step runs T recursions, the first T-1 without
gradients. x is the embedded question (puzzle embedding prepended), y the embedded current answer,
z the latent state. The caller (trainer, predictor) owns the carries, halting and refill.
Variants of the Universal Reasoning Model (URM, arXiv 2512.14693) are config fields with TRM as the
default: model.recursion = "urm" (one state, h <- net(h + x)), model.grad_calls (how many calls at
the end of a step backpropagate), model.conv_kernel (ConvSwiGLU feed-forward).

Shapes: B examples, L = seq_len answer tokens, P = puzzle_emb_len prepended positions, H = hidden,
V = vocab_size. x, y and z are all (B, P+L, H); the heads read y: logits from its L token
positions, the halting logit from position 0.
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import torch
from torch import nn

from arc_pipeline.solver.config import ModelConfig
from arc_pipeline.solver.layers import Attention, Block, ConvSwiGLU, DepthwiseConv, Linear, Rotary, SequenceMLP, trunc_normal_
from arc_pipeline.solver.puzzle_emb import PLACEMENTS, PuzzleEmbedding

HALT_BIAS_INIT = -5.0  # sigmoid(-5) ~ 0.007: nothing halts before the head has learned


class Step(NamedTuple):
    """What one supervision step returns (a tuple: `y, z, logits, halt_logit = model.step(...)` works)."""

    y: torch.Tensor  # (B, P+L, H) answer state, not detached, in x's dtype
    z: torch.Tensor  # (B, P+L, H) latent state, not detached, in x's dtype
    logits: torch.Tensor  # (B, L, V) fp32 token logits of the answer
    halt_logit: torch.Tensor  # (B,) fp32 logit of "this answer is right: stop"


class TRM(nn.Module):
    """The network, its embeddings and heads, and one supervision step of the recursion."""

    def __init__(self, cfg: ModelConfig, seed: int = 0, puzzle_table: str = "device"):
        """`puzzle_table`: "device" (a buffer that moves with the model) or "host" (no table until one is
        attached off the device: `PuzzleEmbedding.attach`)."""
        super().__init__()
        self.cfg = cfg
        h, p = cfg.hidden, cfg.puzzle_emb_len
        self.positions = p + cfg.seq_len
        # truncated backprop: the first `free_calls` network calls of a step run without gradients
        per = cfg.calls_per_recursion()
        total = cfg.n_recursions * per
        self.free_calls = total - (total if cfg.grad_calls < 0 else cfg.grad_calls or per)

        self.embed_scale = math.sqrt(h)
        self.tokens = nn.Embedding(cfg.vocab_size, h)
        self.pos = nn.Parameter(torch.empty(self.positions, h)) if cfg.pos_encoding == "learned" else None
        self.rotary = (
            Rotary(h // cfg.heads, self.positions, cfg.rope_theta)
            if cfg.pos_encoding == "rope" and cfg.mixer == "attention"
            else None
        )
        if puzzle_table not in PLACEMENTS:
            raise ValueError(f"puzzle_table must be one of {PLACEMENTS}, got {puzzle_table!r}")
        self.puzzle_emb = PuzzleEmbedding(cfg.num_puzzles, h, on_device=puzzle_table == "device")

        def mixer() -> nn.Module:
            if cfg.mixer == "attention":
                return Attention(h, cfg.heads)
            return SequenceMLP(self.positions, cfg.expansion)

        def feed_forward() -> nn.Module | None:
            return ConvSwiGLU(h, cfg.expansion, cfg.conv_kernel) if cfg.conv_kernel else None

        self.blocks = nn.ModuleList(Block(mixer(), h, cfg.expansion, cfg.rms_eps, feed_forward()) for _ in range(cfg.layers))
        self.lm_head = Linear(h, cfg.vocab_size)
        self.halt_head = Linear(h, 1, bias=True)
        # the starting y and z: fixed random vectors, never trained, broadcast to every position
        self.register_buffer("y_init", torch.empty(h))
        self.register_buffer("z_init", torch.empty(h))
        self.reset_parameters(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise as TRM.md says (truncated normals; halting head weight 0, bias -5)."""
        h = self.cfg.hidden
        trunc_normal_(self.tokens.weight, 1 / math.sqrt(h), generator)
        if self.pos is not None:
            trunc_normal_(self.pos, 1 / math.sqrt(h), generator)
        for m in self.modules():
            if isinstance(m, Linear):
                m.init(generator)
        self.halt_head.weight.zero_()
        self.halt_head.bias.fill_(HALT_BIAS_INIT)
        trunc_normal_(self.y_init, 1.0, generator)
        trunc_normal_(self.z_init, 1.0, generator)
        self.puzzle_emb.reset_parameters()
        # ConvSwiGLU's convolutions draw last: every other weight starts as the plain model's does
        for m in self.modules():
            if isinstance(m, DepthwiseConv):
                m.init(generator)

    def embed(self, inputs: torch.Tensor, puzzle: torch.Tensor) -> torch.Tensor:
        """x (B, P+L, H): puzzle vector at position 0, zeros at 1..P-1, then the tokens; times sqrt(H).

        `puzzle`: (B,) table row ids, or (B, H) rows already gathered (training gathers them outside
        the compiled forward, as trainable leaves: `PuzzleEmbedding.leaf`)."""
        e = self.tokens(inputs.long())  # (B, L, H)
        p = self.cfg.puzzle_emb_len
        if p > 0:
            b, h = e.shape[0], e.shape[2]
            rows = puzzle if puzzle.ndim == 2 else self.puzzle_emb(puzzle.long())
            rows = rows.to(e.dtype)  # (B, H)
            prefix = torch.cat([rows[:, None, :], rows.new_zeros(b, p - 1, h)], dim=1)  # (B, P, H)
            e = torch.cat([prefix, e], dim=1)  # (B, P+L, H)
        if self.pos is not None:
            e = (e + self.pos) * math.sqrt(0.5)  # keep unit scale when adding two unit-scale terms
        x = self.embed_scale * e
        # the residual stream runs in the autocast dtype (bf16 on GPU) like the reference
        device = x.device.type
        if torch.is_autocast_enabled(device):
            x = x.to(torch.get_autocast_dtype(device))
        return x

    def initial_state(
        self, batch_size: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, z), each (B, P+L, H): the fixed start vectors at every position (fresh tensors)."""
        device = self.y_init.device if device is None else device
        dtype = self.y_init.dtype if dtype is None else dtype
        shape = (batch_size, self.positions, self.cfg.hidden)
        y = self.y_init.to(device=device, dtype=dtype).expand(shape).clone()
        z = self.z_init.to(device=device, dtype=dtype).expand(shape).clone()
        return y, z

    def net(self, h: torch.Tensor, inject: torch.Tensor) -> torch.Tensor:
        """The one network: the blocks applied to the summed inputs, (B, P+L, H) -> (B, P+L, H)."""
        h = h + inject
        rotary = (self.rotary.cos, self.rotary.sin) if self.rotary is not None else None
        for block in self.blocks:
            h = block(h, rotary)
        return h

    def recursion(
        self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, free: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n latent updates z <- net(z + y + x), then the answer update y <- net(y + z); under
        recursion "urm", n updates of the one state h <- net(h + x) (h is y; z passes through).
        The first `free` calls run without gradients."""
        def grad(i: int):
            return torch.no_grad() if i < free else contextlib.nullcontext()

        if self.cfg.recursion == "urm":
            for i in range(self.cfg.n_latent):
                with grad(i):
                    y = self.net(y, x)
            return y, z
        y_x = y + x  # y is fixed during the latent updates: add it to x once
        for i in range(self.cfg.n_latent):
            with grad(i):
                z = self.net(z, y_x)
        y = self.net(y, z)  # free < calls per recursion: the answer update always backpropagates
        return y, z

    def step(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> Step:
        """One supervision step on x, y, z (each (B, P+L, H)) -> `Step(y, z, logits, halt_logit)`.

        T-1 recursions without gradients, the last with full backprop through its n+1 calls (by
        default; model.grad_calls sets how many calls at the end backpropagate).
        (y, z) come back un-detached; the caller detaches them before the next step.
        """
        y, z = y.to(x.dtype), z.to(x.dtype)
        per = self.cfg.calls_per_recursion()
        free_recursions = self.free_calls // per
        with torch.no_grad():
            for _ in range(free_recursions):
                y, z = self.recursion(x, y, z)
        for r in range(free_recursions, self.cfg.n_recursions):
            y, z = self.recursion(x, y, z, free=self.free_calls - r * per)
        logits = self.lm_head(y[:, self.cfg.puzzle_emb_len :]).float()  # (B, L, V)
        halt_logit = self.halt_head(y[:, 0]).float().squeeze(-1)  # (B,)
        return Step(y, z, logits, halt_logit)

    def forward(self, inputs: torch.Tensor, puzzle: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> Step:
        """embed + step in one call, so a DDP-wrapped model runs its hooks: step(embed(...), y, z).
        inputs (B, L) tokens, puzzle (B,) table row ids or (B, H) gathered rows, y and z (B, P+L, H)."""
        return self.step(self.embed(inputs, puzzle), y, z)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the puzzle table is a buffer and is not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
