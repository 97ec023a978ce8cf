"""Parity of every fast path in solver/fastpath.py with its plain twin: forward values and
gradients, in fp64 (tight: the same formula) and fp32 (the float rounding of a different order)."""

import pytest
import torch
import torch.nn.functional as F

from arc_pipeline.solver import fastpath

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


@pytest.fixture(params=[True, False], ids=["onednn", "mkl"])
def onednn(request, monkeypatch):
    if request.param and not fastpath.ONEDNN:
        pytest.skip("oneDNN's linear does not run on this build")
    monkeypatch.setattr(fastpath, "ONEDNN", request.param)
    return request.param


def grads_of(fn, inputs, g):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    out.backward(g)
    return [out.detach()] + [t.grad for t in leaves]


def assert_all_close(fast, plain):
    # fp32, different blocking of the same sums: relative to each tensor's scale
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


def test_linear_matches_the_plain_form(onednn):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 97, 128, generator=gen)
    w = torch.randn(384, 128, generator=gen) / 11
    g = torch.randn(4, 97, 384, generator=gen)
    assert_all_close(grads_of(fastpath.linear, (x, w), g), grads_of(F.linear, (x, w), g))


def test_swiglu_matches_the_plain_form(onednn):
    gen = torch.Generator().manual_seed(3)
    h = torch.randn(4, 97, 128, generator=gen)
    w1 = torch.randn(1024, 128, generator=gen) / 11
    w2 = torch.randn(128, 512, generator=gen) / 22
    g = torch.randn(4, 97, 128, generator=gen)

    def plain(h, w1, w2):
        return F.linear(plain_glu(F.linear(h, w1)), w2)

    assert_all_close(grads_of(fastpath.swiglu, (h, w1, w2), g), grads_of(plain, (h, w1, w2), g))


def test_layers_take_the_fast_paths_only_where_they_apply(monkeypatch):
    from arc_pipeline.solver.layers import Linear, SwiGLU

    calls = []
    monkeypatch.setattr(fastpath, "linear", lambda *a: calls.append("linear") or F.linear(*a))
    monkeypatch.setattr(fastpath, "swiglu", lambda *a: calls.append("swiglu") or torch.zeros(()))
    lin, biased, mlp = Linear(8, 4), Linear(8, 4, bias=True), SwiGLU(8, 4.0)
    x = torch.randn(2, 3, 8)
    lin(x), mlp(x)
    assert calls == ["linear", "swiglu"]
    calls.clear()
    biased(x), Linear(8, 4).double()(x.double()), mlp(x.transpose(0, 1))  # bias, fp64, strided: plain
    assert calls == ["linear", "linear"]  # the strided SwiGLU's own two linears, plain glu between
    calls.clear()
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    lin(x), mlp(x)  # compiled: the linears keep oneDNN's product, the compiler fuses the glu
    assert calls == ["linear", "linear", "linear"]
