"""Eager fast paths for solver/layers.py: autograd functions with hand-written backwards.

Each one computes exactly what its plain twin in layers.py computes (the parity tests in
tests/solver/test_fastpath.py hold them to it); layers.py decides when a fast path applies (eager CPU
for RMSNorm, eager on any device for the GLU) and uses the plain form under torch.compile,
which fuses that better than it traces these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _onednn_ready() -> bool:
    """oneDNN's fp32 linear runs, and agrees with torch.mm on a small case (else: MKL everywhere)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        a, w = torch.randn(8, 4, dtype=torch.float32), torch.randn(3, 4, dtype=torch.float32)
        out = torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")
    except (RuntimeError, AttributeError):
        return False
    return bool(torch.allclose(out, a @ w.t(), rtol=1e-5, atol=1e-6))


ONEDNN = _onednn_ready()


def applies(*tensors: torch.Tensor) -> bool:
    """The matmul fast paths are for fp32 on CPU (no autocast); elsewhere the plain layers run."""
    if torch.is_autocast_enabled("cpu"):
        return False
    return all(t.is_cpu and t.dtype == torch.float32 for t in tensors)


@torch.library.custom_op("solver::onednn_mm_t", mutates_args=())
def _onednn_mm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T by oneDNN's linear, as an op torch.compile keeps whole (it cannot trace into it)."""
    return torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")


@_onednn_mm_t.register_fake
def _(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a.new_empty((a.shape[0], b.shape[0]))


def _mm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T for 2-D fp32 CPU tensors: oneDNN's linear where it runs (~1.2x MKL's sgemm at the
    tiny model's shapes on this box's CPUs, same fp32 accumulation), else torch.mm."""
    if ONEDNN:
        return _onednn_mm_t(a, b)
    return torch.mm(a, b.t())


class _RMSNorm(torch.autograd.Function):
    """RMSNorm in fp32 with a hand-written backward: fewer passes over memory than the autograd
    composition, and it saves only its output (which the next layer keeps anyway) and 1/rms."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, eps: float) -> torch.Tensor:
        hf = h.float()
        inv_rms = torch.rsqrt(hf.square().mean(-1, keepdim=True).add_(eps))
        out = (hf * inv_rms).to(h.dtype)
        ctx.save_for_backward(out, inv_rms)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        out, inv_rms = ctx.saved_tensors
        g, o = grad.float(), out.float()
        # d/dh of h * r(h): r * (g - o * mean(g * o)), with o the normalised output
        dot = (g * o).mean(-1, keepdim=True)
        return (g - o * dot).mul_(inv_rms).to(grad.dtype), None


class _GLU(torch.autograd.Function):
    """silu(gate) * up of a fused (…, 2*inner) projection. The hand-written backward writes both
    halves' gradients straight into one buffer (autograd would allocate two and concatenate)
    and keeps only the projection itself for backward (autograd also keeps silu(gate))."""

    @staticmethod
    def forward(ctx, gate_up: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up.chunk(2, dim=-1)
        ctx.save_for_backward(gate_up)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (gate_up,) = ctx.saved_tensors
        gate, up = gate_up.chunk(2, dim=-1)
        out = torch.empty_like(gate_up)
        d_gate, d_up = out.chunk(2, dim=-1)
        torch.mul(grad, F.silu(gate), out=d_up)
        torch.ops.aten.silu_backward.grad_input(grad * up, gate, grad_input=d_gate)
        return out


def rms_norm(h: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learned scale (fp32 inside), with the hand-written backward."""
    return _RMSNorm.apply(h, eps)


def glu(gate_up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up over the two halves of the last axis, with the hand-written backward."""
    return _GLU.apply(gate_up)


class _Linear(torch.autograd.Function):
    """x @ w.T (no bias) with the forward and input-gradient products through `_mm_t`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, w)
        return _mm_t(x2, w).view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x2, w = ctx.saved_tensors
        g2 = grad.reshape(-1, grad.shape[-1])
        dx = _mm_t(g2, w.t()).view(*grad.shape[:-1], w.shape[1]) if ctx.needs_input_grad[0] else None
        dw = torch.mm(g2.t(), x2) if ctx.needs_input_grad[1] else None
        return dx, dw


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """F.linear(x, w) without bias, fp32 on CPU."""
    return _Linear.apply(x, w)


class _SwiGLU(torch.autograd.Function):
    """down(silu(gate) * up) with gate|up one fused projection, computed feature-major: the
    projection is taken as w1 @ x.T, whose gate and up halves are contiguous blocks (row-major
    x @ w1.T leaves them as strided halves, which elementwise kernels run ~3x slower on); the
    matmuls take the transposes for free. Same products and sums as the plain form."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        x = h.reshape(-1, h.shape[-1])
        inner = w2.shape[1]
        gu_t = _mm_t(w1, x)  # (2*inner, N)
        gate_t, up_t = gu_t[:inner], gu_t[inner:]
        act_t = F.silu(gate_t).mul_(up_t)  # (inner, N)
        ctx.save_for_backward(x, w1, w2, gu_t, act_t)
        # oneDNN would copy the transposed operand first; MKL's sgemm takes it as it is
        return torch.mm(act_t.t(), w2.t()).view(*h.shape[:-1], w2.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, w1, w2, gu_t, act_t = ctx.saved_tensors
        inner = w2.shape[1]
        g = grad.reshape(-1, grad.shape[-1])
        d_act_t = _mm_t(w2.t(), g)  # (inner, N)
        dw2 = torch.mm(g.t(), act_t.t())
        gate_t, up_t = gu_t[:inner], gu_t[inner:]
        d_gu_t = torch.empty_like(gu_t)
        torch.mul(d_act_t, F.silu(gate_t), out=d_gu_t[inner:])
        torch.ops.aten.silu_backward.grad_input(d_act_t.mul_(up_t), gate_t, grad_input=d_gu_t[:inner])
        dw1 = torch.mm(d_gu_t, x)
        dx = torch.mm(d_gu_t.t(), w1).view(grad.shape[:-1] + (w1.shape[1],))
        return dx, dw1, dw2


def swiglu(h: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """(silu(gate) * up) @ w2.T with gate|up = h @ w1.T, both bias-free, fp32 on CPU."""
    return _SwiGLU.apply(h, w1, w2)
