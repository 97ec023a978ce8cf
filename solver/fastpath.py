"""Eager fast paths for solver/layers.py: autograd functions with hand-written backwards.

Each one computes exactly what its plain twin in layers.py computes (the parity tests in
tests/test_fastpath.py hold them to it); layers.py decides when a fast path applies (eager CPU
for RMSNorm, eager on any device for the GLU) and uses the plain form under torch.compile,
which fuses that better than it traces these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
