"""TRM network: shapes, dtypes, init, parameter count, the no_grad/grad split, puzzle embeddings."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from arc_pipeline.solver.config import ModelConfig
from arc_pipeline.solver.layers import Linear, swiglu_inner
from arc_pipeline.solver.model import TRM, count_parameters
from arc_pipeline.solver.optim import sign_sgd_update

TINY = ModelConfig(
    vocab_size=11, seq_len=12, num_puzzles=6, hidden=32, heads=4, layers=2, n_latent=2, n_recursions=3,
    puzzle_emb_len=4,
)



pytestmark = pytest.mark.usefixtures("one_thread")


def batch(cfg: ModelConfig, b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, cfg.vocab_size, (b, cfg.seq_len), generator=g)
    ids = torch.randint(1, cfg.num_puzzles, (b,), generator=g)
    return inputs, ids


@pytest.mark.parametrize(
    "mixer,pos", [("attention", "rope"), ("attention", "learned"), ("attention", "none"), ("mlp", "none")]
)
def test_step_shapes_and_dtypes(mixer, pos):
    cfg = replace(TINY, mixer=mixer, pos_encoding=pos)
    model = TRM(cfg)
    inputs, ids = batch(cfg)
    x = model.embed(inputs, ids)
    y, z = model.initial_state(3, "cpu")
    assert x.shape == y.shape == z.shape == (3, cfg.puzzle_emb_len + cfg.seq_len, cfg.hidden)
    out = model.step(x, y, z)
    y2, z2, logits, halt = out  # a named record that still unpacks as a tuple
    assert (out.y, out.z, out.logits, out.halt_logit) == (y2, z2, logits, halt)
    assert y2.shape == y.shape and z2.shape == z.shape
    assert logits.shape == (3, cfg.seq_len, cfg.vocab_size) and logits.dtype == torch.float32
    assert halt.shape == (3,) and halt.dtype == torch.float32
    assert torch.isfinite(logits).all()
    # forward is embed + step (the DDP-friendly single call)
    same = model(inputs, ids, y, z)
    torch.testing.assert_close(same.logits, logits)


def test_bf16_autocast_keeps_fp32_outputs():
    model = TRM(TINY)
    inputs, ids = batch(TINY)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = model.embed(inputs, ids)
        y, z, logits, halt = model.step(x, *model.initial_state(3, "cpu"))
    assert x.dtype == torch.bfloat16 and y.dtype == torch.bfloat16
    assert logits.dtype == torch.float32 and halt.dtype == torch.float32
    ref = model.step(model.embed(inputs, ids), *model.initial_state(3, "cpu"))[2]
    assert (logits - ref).abs().max() < 0.5  # same function, bf16 rounding only


def test_arc_config_parameter_count():
    # paper: about 6.83M trunk parameters at hidden 512, 2 layers, vocabulary 12
    model = TRM(ModelConfig(num_puzzles=3))
    n = count_parameters(model)
    assert abs(n - 6.83e6) < 0.005e6, n
    assert swiglu_inner(512, 4.0) == 1536
    names = {name for name, _ in model.named_parameters()}
    assert not any("puzzle" in name for name in names)  # the table is a buffer
    assert "puzzle_emb.table" in model.state_dict()
    assert all(not isinstance(m, torch.nn.Linear) or m.bias is None or m is model.halt_head for m in model.modules())


def test_init_values():
    cfg = replace(TINY, hidden=128, heads=4)
    model = TRM(cfg, seed=1)
    assert torch.all(model.halt_head.weight == 0) and torch.all(model.halt_head.bias == -5)
    assert torch.all(model.puzzle_emb.table == 0)
    for m in model.modules():
        if isinstance(m, Linear) and m is not model.halt_head:
            std = 1 / math.sqrt(m.in_features)
            assert m.weight.abs().max() <= 2 * std / 0.8796 + 1e-6  # truncated at two sigmas
            assert abs(m.weight.std().item() / std - 1) < 0.1
    assert abs(model.tokens.weight.std().item() * math.sqrt(128) - 1) < 0.15
    for v in (model.y_init, model.z_init):
        assert abs(v.std().item() - 1) < 0.15 and not v.requires_grad
    # a fresh model halts nothing: halting logit = bias = -5
    inputs, ids = batch(cfg)
    halt = model.step(model.embed(inputs, ids), *model.initial_state(3, "cpu"))[3]
    torch.testing.assert_close(halt, torch.full((3,), -5.0))
    # seeds are explicit: same seed same weights, other seed other weights
    assert torch.equal(TRM(cfg, seed=1).lm_head.weight, model.lm_head.weight)
    assert not torch.equal(TRM(cfg, seed=2).lm_head.weight, model.lm_head.weight)


def test_embed_layout_and_scale():
    model = TRM(TINY)
    with torch.no_grad():
        model.puzzle_emb.table.copy_(torch.randn(TINY.num_puzzles, TINY.hidden))
    inputs, ids = batch(TINY)
    x = model.embed(inputs, ids)
    scale = math.sqrt(TINY.hidden)
    torch.testing.assert_close(x[:, 0], scale * model.puzzle_emb.table[ids])
    assert torch.all(x[:, 1 : TINY.puzzle_emb_len] == 0)
    torch.testing.assert_close(x[:, TINY.puzzle_emb_len :], scale * model.tokens.weight[inputs])
    y, z = model.initial_state(2, "cpu")
    assert torch.all(y == model.y_init) and torch.all(z == model.z_init)


def _sdpa_backward_nodes(t: torch.Tensor) -> int:
    seen, stack, count = set(), [t.grad_fn], 0
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        count += "Attention" in type(fn).__name__
        stack.extend(f for f, _ in fn.next_functions)
    return count


def test_only_last_recursion_is_in_the_graph():
    model = TRM(TINY).train()
    inputs, ids = batch(TINY)
    _, _, logits, _ = model.step(model.embed(inputs, ids), *model.initial_state(3, "cpu"))
    # the last recursion's n+1 network calls, each through every layer; T-1 earlier ones absent
    assert _sdpa_backward_nodes(logits) == TINY.layers * (TINY.n_latent + 1)


def _manual_step(model: TRM, x, y, z, grad_all: bool):
    cfg = model.cfg
    for r in range(cfg.n_recursions):
        if r < cfg.n_recursions - 1 and not grad_all:
            y, z = y.detach(), z.detach()
        for _ in range(cfg.n_latent):
            z = model.net(z, y + x)
        y = model.net(y, z)
        if r < cfg.n_recursions - 1 and not grad_all:
            y, z = y.detach(), z.detach()
    return model.lm_head(y[:, cfg.puzzle_emb_len :])


def test_gradients_match_a_manual_last_recursion_only_version():
    model = TRM(TINY).train()
    inputs, ids = batch(TINY)
    labels = torch.randint(0, TINY.vocab_size, inputs.shape)

    def grads(fn):
        model.zero_grad()
        model.puzzle_emb.discard_grads()
        x = model.embed(inputs, ids)
        logits = fn(x)
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()).backward()
        return [p.grad.clone() for p in model.blocks.parameters()]

    ours = grads(lambda x: model.step(x, *model.initial_state(3, "cpu"))[2])
    manual = grads(lambda x: _manual_step(model, x, *model.initial_state(3, "cpu"), grad_all=False))
    full = grads(lambda x: _manual_step(model, x, *model.initial_state(3, "cpu"), grad_all=True))
    for a, b in zip(ours, manual):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(ours, full))


def test_puzzle_rows_get_grads_and_only_batch_rows_change():
    model = TRM(TINY).train()
    assert all(p is not model.puzzle_emb.table for p in model.parameters())
    inputs, _ = batch(TINY)
    ids = torch.tensor([2, 4, 2])
    _, _, logits, halt = model(inputs, model.puzzle_emb.leaf(ids), *model.initial_state(3, "cpu"))
    (logits.square().mean() + halt.sum()).backward()
    got_ids, grads = model.puzzle_emb.pop_grads()
    assert got_ids.tolist() == [2, 4, 2] and grads.shape == (3, TINY.hidden)
    assert grads.abs().sum() > 0
    assert model.puzzle_emb.pop_grads()[0].numel() == 0  # popped means cleared
    before = model.puzzle_emb.table.clone()
    sign_sgd_update(model.puzzle_emb.table, got_ids, grads, lr=0.01, weight_decay=0.1)
    changed = (model.puzzle_emb.table != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [2, 4]
    # ids straight into the model (inference, the memory probe) give plain rows: nothing gathered
    model(inputs, ids, *model.initial_state(3, "cpu"))
    assert model.puzzle_emb.pop_grads()[0].numel() == 0


def test_rows_passed_in_equal_rows_looked_up():
    model = TRM(TINY).train()
    with torch.no_grad():
        model.puzzle_emb.table.copy_(torch.randn(TINY.num_puzzles, TINY.hidden))
    inputs, ids = batch(TINY)
    y, z = model.initial_state(3, "cpu")
    by_ids, by_rows = model(inputs, ids, y, z), model(inputs, model.puzzle_emb.leaf(ids), y, z)
    assert torch.equal(by_ids.logits, by_rows.logits)


def test_extend_with_mean_and_load_resized_table():
    model = TRM(TINY)
    with torch.no_grad():
        model.puzzle_emb.table.copy_(torch.randn(TINY.num_puzzles, TINY.hidden))
    mean = model.puzzle_emb.table[1:].mean(0)
    new = model.puzzle_emb.extend(2)
    assert list(new) == [6, 7] and model.puzzle_emb.num_puzzles == 8
    torch.testing.assert_close(model.puzzle_emb.table[6], mean)
    torch.testing.assert_close(model.puzzle_emb.table[7], mean)
    assert list(model.puzzle_emb.extend(1, init="zeros")) == [8]
    assert torch.all(model.puzzle_emb.table[8] == 0)
    fresh = TRM(TINY)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.puzzle_emb.table, model.puzzle_emb.table)


def test_attention_refuses_heads_that_do_not_divide_hidden():
    with pytest.raises(ValueError, match="divisible"):
        TRM(replace(TINY, heads=5))


def test_rms_norm_forward_and_backward_match_the_definition():
    from arc_pipeline.solver.layers import rms_norm

    h = (torch.randn(5, 7, 64, dtype=torch.float64) * 3).requires_grad_(True)
    g = torch.randn(5, 7, 64, dtype=torch.float64)
    ref = h * torch.rsqrt(h.square().mean(-1, keepdim=True) + 1e-5)
    ref.backward(g)
    expected = h.grad.clone()
    h32 = h.detach().float().requires_grad_(True)
    out = rms_norm(h32, 1e-5)
    out.backward(g.float())
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h32.grad.double(), expected, rtol=1e-4, atol=1e-5)
    hb = h.detach().bfloat16()
    assert rms_norm(hb, 1e-5).dtype == torch.bfloat16


def test_rotary_scores_depend_only_on_relative_position():
    from arc_pipeline.solver.layers import Rotary, apply_rotary

    rot = Rotary(head_dim=8, positions=12, theta=10000.0)
    q, k = torch.randn(8), torch.randn(8)
    qk = torch.stack([q, k])[:, None].expand(1, 12, 2, 1, 8).contiguous()  # same q, k everywhere
    out = apply_rotary(qk, rot.cos, rot.sin)[0, :, :, 0]  # (S, 2, 8)
    torch.testing.assert_close(out.norm(dim=-1), qk[0, :, :, 0].norm(dim=-1))  # rotations keep norms
    score = lambda m, n: out[m, 0] @ out[n, 1]  # noqa: E731
    torch.testing.assert_close(score(3, 1), score(10, 8))
    torch.testing.assert_close(score(0, 5), score(6, 11))
    assert not torch.allclose(score(3, 1), score(3, 2))
    torch.testing.assert_close(out[0], qk[0, 0, :, 0])  # position 0 is not rotated


def test_rotary_real_path_for_the_compiler_matches_the_complex_one(monkeypatch):
    from arc_pipeline.solver.layers import Rotary, apply_rotary

    rot = Rotary(head_dim=16, positions=10, theta=10000.0)
    qk = torch.randn(3, 10, 2, 2, 16)
    eager = apply_rotary(qk, rot.cos, rot.sin)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    torch.testing.assert_close(apply_rotary(qk, rot.cos, rot.sin), eager)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_rotary_in_low_precision_is_the_float32_rotation_rounded_once_with_its_backward(dtype):
    """bf16/fp16 q and k are rotated without a float32 copy: the result is the exact rotation rounded
    once (a rare tie excepted), and the gradient is the float64 autograd one to the dtype's precision."""
    from arc_pipeline.solver.layers import Rotary, apply_rotary

    torch.manual_seed(0)
    rot = Rotary(head_dim=16, positions=40, theta=10000.0)
    qk = (torch.randn(3, 40, 2, 2, 16) * 3).to(dtype)

    def exact(q):  # float64 complex rotation
        pairs = torch.view_as_complex(q.unflatten(-1, (-1, 2)).contiguous())
        return torch.view_as_real(pairs * torch.complex(rot.cos.double(), rot.sin.double())).flatten(-2)

    x = qk.clone().requires_grad_(True)
    out = apply_rotary(x, rot.cos, rot.sin)
    assert out.dtype == dtype and out.shape == qk.shape
    want = exact(qk.double())
    assert (out != want.to(dtype)).float().mean() < 1e-3  # rounded once from float32: ties aside, exact
    torch.testing.assert_close(out.double(), want, rtol=2 * torch.finfo(dtype).eps, atol=1e-3)
    g = torch.randn(qk.shape)
    (out.double() * g).sum().backward()
    ref = qk.double().requires_grad_(True)
    (exact(ref) * g).sum().backward()
    torch.testing.assert_close(x.grad.double(), ref.grad, rtol=4 * torch.finfo(dtype).eps, atol=4 * torch.finfo(dtype).eps * 4)


def test_glu_backward_matches_autograd(monkeypatch):
    from arc_pipeline.solver.layers import glu

    gu = torch.randn(4, 7, 2 * 24, dtype=torch.float32)
    g = torch.randn(4, 7, 24)
    a = gu.clone().requires_grad_(True)
    out = glu(a)
    out.backward(g)
    b = gu.clone().requires_grad_(True)
    gate, up = b.chunk(2, dim=-1)
    ref = torch.nn.functional.silu(gate) * up
    ref.backward(g)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(a.grad, b.grad)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    torch.testing.assert_close(glu(gu), ref.detach())


def test_rms_norm_plain_path_for_the_compiler_matches(monkeypatch):
    from arc_pipeline.solver.layers import rms_norm

    h = torch.randn(3, 5, 32)
    ours = rms_norm(h, 1e-5)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    torch.testing.assert_close(rms_norm(h, 1e-5), ours)


@pytest.mark.slow
def test_compiled_step_matches_eager():
    model = TRM(replace(TINY, layers=1)).train()
    inputs, ids = batch(TINY)
    y, z = model.initial_state(3, "cpu")

    def run(fn):
        model.zero_grad()
        out = fn(inputs, model.puzzle_emb.leaf(ids), y, z)
        (out[2].square().mean() + out[3].sum()).backward()
        rows = model.puzzle_emb.pop_grads()[1]
        return out[2].detach(), [p.grad.clone() for p in model.parameters()], rows

    eager = run(model)
    compiled = run(torch.compile(model))
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(compiled[1], eager[1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(compiled[2], eager[2], rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_rows_gathered_outside_compile_leave_no_graph_break():
    """The trainer passes trainable rows in (PuzzleEmbedding.leaf): the compiled forward is one graph.
    Marking rows trainable inside it, as the forward once did, broke the graph every call."""
    model = TRM(replace(TINY, layers=1)).train()
    inputs, ids = batch(TINY)
    y, z = model.initial_state(3, "cpu")
    explained = torch._dynamo.explain(model)(inputs, model.puzzle_emb.leaf(ids), y, z)
    assert explained.graph_break_count == 0, explained.break_reasons
