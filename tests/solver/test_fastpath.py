"""Parity of every fast path in solver/fastpath.py with its plain twin: forward values and
gradients, in fp64 (tight: the same formula) and fp32 (the float rounding of a different order)."""

import pytest
import torch
import torch.nn.functional as F

from solver import fastpath

# (rtol, atol) per dtype: fp64 differs only in summation order; fp32 adds float rounding
TOL = {torch.float64: (1e-10, 1e-12), torch.float32: (1e-5, 1e-6)}


def plain_rms_norm(h, eps):
    return F.rms_norm(h, (h.shape[-1],), eps=eps)


def plain_glu(gate_up):
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate) * up


def forward_and_grad(fn, x, g):
    x = x.clone().requires_grad_(True)
    out = fn(x)
    out.backward(g)
    return out.detach(), x.grad


def test_rms_norm_matches_the_plain_form():
    dtype = torch.float32  # the fast path computes in fp32 whatever comes in, so fp32 is its domain
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(4, 97, 128, generator=gen, dtype=dtype) * 3
    g = torch.randn(4, 97, 128, generator=gen, dtype=dtype)
    fast = forward_and_grad(lambda t: fastpath.rms_norm(t, 1e-5), h, g)
    plain = forward_and_grad(lambda t: plain_rms_norm(t, 1e-5), h, g)
    rtol, atol = TOL[dtype]
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_glu_matches_the_plain_form(dtype):
    gen = torch.Generator().manual_seed(1)
    gu = torch.randn(4, 97, 2 * 384, generator=gen, dtype=dtype) * 2
    g = torch.randn(4, 97, 384, generator=gen, dtype=dtype)
    fast = forward_and_grad(fastpath.glu, gu, g)
    plain = forward_and_grad(plain_glu, gu, g)
    rtol, atol = TOL[dtype]
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
