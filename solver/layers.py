"""Building blocks of the TRM network: fp32 RMSNorm, bias-free linears, SwiGLU, RoPE attention,
the sequence-axis MLP mixer, and the post-norm block that composes them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from arc_pipeline.solver import fastpath

# std of a standard normal truncated to [-2, 2]; dividing by it makes the truncated draw have
# exactly the std asked for (plain trunc_normal_ would come out ~12% narrow)
_TRUNC2_STD = 0.8796256610342398


def trunc_normal_(t: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill `t` with a normal truncated at two sigmas whose resulting std is exactly `std`.

    Inverse-CDF sampling (uniform in erf space, then erfinv): one pass, where torch's own
    rejection loop takes seconds for the ARC model.
    """
    if std == 0:
        return t.zero_()
    sigma = std / _TRUNC2_STD
    edge = math.erf(2 / math.sqrt(2))  # erf of +-2 sigmas in units of sqrt(2) sigma
    with torch.no_grad():
        t.uniform_(-edge, edge, generator=generator).erfinv_().mul_(sigma * math.sqrt(2))
        return t.clamp_(-2 * sigma, 2 * sigma)


def rms_norm(h: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learned scale, computed in fp32 and returned in the input's dtype."""
    if h.is_cpu and not torch.compiler.is_compiling():
        return fastpath.rms_norm(h, eps)
    # accelerators have fused kernels (fp32 accumulation), and the compiler fuses the plain form
    return F.rms_norm(h, (h.shape[-1],), eps=eps).to(h.dtype)


def swiglu_inner(width: int, expansion: float) -> int:
    """SwiGLU inner size: 2/3 of the expanded width, rounded up to a multiple of 256."""
    return 256 * math.ceil(2 / 3 * expansion * width / 256)


class Linear(nn.Linear):
    """A linear layer initialised with a truncated normal of std 1/sqrt(fan_in)."""

    def __init__(self, fan_in: int, fan_out: int, bias: bool = False):
        super().__init__(fan_in, fan_out, bias=bias)

    def init(self, generator: torch.Generator | None) -> None:
        trunc_normal_(self.weight, 1 / math.sqrt(self.in_features), generator)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is None and fastpath.applies(x, self.weight):
            return fastpath.linear(x, self.weight)
        return super().forward(x)


def glu(gate_up: torch.Tensor) -> torch.Tensor:
    """silu(gate) * up over the two halves of the last axis."""
    if torch.compiler.is_compiling():  # the compiler fuses the plain form better than it traces ours
        gate, up = gate_up.chunk(2, dim=-1)
        return F.silu(gate) * up
    return fastpath.glu(gate_up)


class SwiGLU(nn.Module):
    """silu(gate) * up, projected back; gate and up share one matmul."""

    def __init__(self, width: int, expansion: float):
        super().__init__()
        inner = swiglu_inner(width, expansion)
        self.gate_up = Linear(width, 2 * inner)
        self.down = Linear(inner, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # under torch.compile the plain form: the compiler fuses the strided elementwise itself
        compiling = torch.compiler.is_compiling()
        if not compiling and h.is_contiguous() and fastpath.applies(h, self.gate_up.weight, self.down.weight):
            return fastpath.swiglu(h, self.gate_up.weight, self.down.weight)
        return self.down(glu(self.gate_up(h)))


class Rotary(nn.Module):
    """Rotary position angles for every position; channel pairs (2i, 2i+1) rotate together."""

    def __init__(self, head_dim: int, positions: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(positions, dtype=torch.float32), inv_freq)  # (S, head_dim/2)
        # (S, 1, 1, head_dim/2): broadcasts over (B, S, q|k, heads, pairs)
        self.register_buffer("cos", angles.cos()[:, None, None, :], persistent=False)
        self.register_buffer("sin", angles.sin()[:, None, None, :], persistent=False)


def apply_rotary(qk: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate q and k together, (B, S, 2, heads, head_dim), pairs (2i, 2i+1) as complex numbers.

    The arithmetic is float32 in every path (as the reference's); only the memory traffic differs.
    float32 activations: one complex multiply (one pass instead of the half-swap's copy, negate and
    two multiplies). bf16/fp16 activations (`_Rotate`): read and written in their own dtype, the
    float32 cos/sin promoting each product, so no float32 copy of q and k is made or kept for the
    backward (which is the rotation by the opposite angle). Under torch.compile: the rotation written
    with real ops, which the compiler fuses into one kernel (it handles complex poorly).
    """
    if torch.compiler.is_compiling():
        pairs = qk.float().unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
        return rotated.flatten(-2).to(qk.dtype)
    if qk.dtype == torch.float32:
        pairs = torch.view_as_complex(qk.unflatten(-1, (-1, 2)))
        return torch.view_as_real(pairs * torch.complex(cos, sin)).flatten(-2)
    return _Rotate.apply(qk, cos, sin)


def _rotate(qk: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float) -> torch.Tensor:
    """qk rotated by +angle (sign 1) or -angle (sign -1), in qk's dtype, float32 arithmetic."""
    a, b = qk[..., 0::2], qk[..., 1::2]
    out = torch.empty_like(qk)
    t = a * cos  # float32 (promoted by cos), half the size of qk, reused for the other half
    torch.addcmul(t, b, sin, value=-sign, out=out[..., 0::2])  # a cos - b sin, rounded once
    torch.mul(b, cos, out=t)
    torch.addcmul(t, a, sin, value=sign, out=out[..., 1::2])  # a sin + b cos
    return out


class _Rotate(torch.autograd.Function):
    """The low-precision rotation with its own backward: a rotation's transpose is its inverse."""

    @staticmethod
    def forward(ctx, qk, cos, sin):  # noqa: ANN001, ANN205 - autograd's signature
        ctx.save_for_backward(cos, sin)
        return _rotate(qk, cos, sin, 1.0)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        cos, sin = ctx.saved_tensors
        return _rotate(grad.contiguous(), cos, sin, -1.0), None, None


class Attention(nn.Module):
    """Non-causal multi-head self-attention over the whole sequence (SDPA kernel)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} must be divisible by heads {heads}")
        self.heads = heads
        self.head_dim = hidden // heads
        self.qkv = Linear(hidden, 3 * hidden)
        self.out = Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        b, s, _ = h.shape
        qkv = self.qkv(h).view(b, s, 3, self.heads, self.head_dim)
        v = qkv[:, :, 2]
        if rotary is None:
            q, k = qkv[:, :, 0], qkv[:, :, 1]
        else:
            q, k = apply_rotary(qkv[:, :, :2], *rotary).unbind(dim=2)
        # SDPA wants (B, heads, S, head_dim); transposed views avoid copies
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.out(o.transpose(1, 2).reshape(b, s, -1))


class SequenceMLP(nn.Module):
    """The MLP variant's mixer: a SwiGLU across the sequence axis (fixed small contexts)."""

    def __init__(self, positions: int, expansion: float):
        super().__init__()
        self.mlp = SwiGLU(positions, expansion)

    def forward(self, h: torch.Tensor, rotary: object = None) -> torch.Tensor:
        return self.mlp(h.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    """Post-norm block: h = norm(h + mixer(h)); h = norm(h + swiglu(h))."""

    def __init__(self, mixer: nn.Module, hidden: int, expansion: float, eps: float, mlp: nn.Module | None = None):
        super().__init__()
        self.mixer = mixer
        self.mlp = SwiGLU(hidden, expansion) if mlp is None else mlp  # another feed-forward: ConvSwiGLU
        self.eps = eps

    def forward(self, h: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        h = rms_norm(h + self.mixer(h, rotary), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class DepthwiseConv(nn.Conv1d):
    """A per-channel convolution over the sequence, (B, C, S) -> (B, C, S): padding k//2 on both
    sides and the first S outputs kept, so output t reads inputs t - k//2 .. t - k//2 + k - 1."""

    def __init__(self, channels: int, kernel: int):
        super().__init__(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=True)

    def init(self, generator: torch.Generator | None) -> None:
        # torch's Conv1d default (uniform +-1/sqrt(fan_in), fan_in = k taps), drawn from our generator
        bound = 1 / math.sqrt(self.kernel_size[0])
        self.weight.uniform_(-bound, bound, generator=generator)
        self.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return super().forward(h)[..., : h.shape[-1]]


class ConvSwiGLU(nn.Module):
    """URM's feed-forward: down(silu(conv(silu(gate) * up))), a depthwise convolution of `kernel`
    taps over the sequence between the gate and the down projection (local mixing, no new matmul)."""

    def __init__(self, width: int, expansion: float, kernel: int):
        super().__init__()
        inner = swiglu_inner(width, expansion)
        self.gate_up = Linear(width, 2 * inner)
        self.conv = DepthwiseConv(inner, kernel)
        self.down = Linear(inner, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, S, width) -> (B, S, width)
        gated = glu(self.gate_up(h)).transpose(1, 2)  # (B, inner, S): channels first for conv1d
        return self.down(F.silu(self.conv(gated)).transpose(1, 2))
