"""Variants beyond TRM (URM, arXiv 2512.14693): ConvSwiGLU against a naive twin, truncated backprop
through loops (TRM's schedule gives exactly the gradients of the plain T-1-without-gradients code),
URM's one-state loop, and Muon for a split of the 2-D weights; every default stays TRM's."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.layers import ConvSwiGLU
from arc_pipeline.solver.model import TRM
from arc_pipeline.solver.optim import AdamATan2, SplitOptimizer, make_dense_optimizer, muon_parameters, set_lr

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ModelConfig(vocab_size=6, seq_len=8, num_puzzles=3, hidden=16, heads=2, expansion=2.0, layers=2,
                   n_latent=3, n_recursions=3, max_steps=2, puzzle_emb_len=2)


def naive_conv_swiglu(m: ConvSwiGLU, h: torch.Tensor) -> torch.Tensor:
    """down(silu(conv(silu(gate) * up))) with the convolution written as a sum over taps."""
    gate, up = F.linear(h, m.gate_up.weight).chunk(2, dim=-1)
    a = F.silu(gate) * up  # (B, S, C)
    k, s = m.conv.kernel_size[0], h.shape[1]
    w, b = m.conv.weight[:, 0, :], m.conv.bias  # (C, k), (C,)
    out = b.expand_as(a).clone()
    for t in range(s):
        for j in range(k):
            src = t + j - k // 2
            if 0 <= src < s:
                out[:, t] += w[:, j] * a[:, src]
    return F.linear(F.silu(out), m.down.weight)


@pytest.mark.parametrize("kernel", [1, 2, 3, 4])
@pytest.mark.parametrize("seq", [1, 5])
def test_conv_swiglu_matches_naive_twin_and_keeps_shape(kernel, seq):
    g = torch.Generator().manual_seed(kernel * 10 + seq)
    m = ConvSwiGLU(12, 2.0, kernel)
    for mod in (m.gate_up, m.conv, m.down):
        with torch.no_grad():
            mod.init(g)
    h = torch.randn(3, seq, 12, generator=g)
    out = m(h)
    assert out.shape == h.shape
    torch.testing.assert_close(out, naive_conv_swiglu(m, h), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", [2, 3])
def test_conv_swiglu_reads_the_positions_its_padding_says(kernel):
    """Output t depends on inputs t - k//2 .. t - k//2 + k - 1 and no others (kernel 2: t-1 and t)."""
    m = ConvSwiGLU(8, 2.0, kernel)
    with torch.no_grad():
        m.conv.init(torch.Generator().manual_seed(0))
    s, t = 7, 3
    h = torch.randn(1, s, 8, requires_grad=True)
    m(h)[0, t].sum().backward()
    touched = {i for i in range(s) if h.grad[0, i].abs().sum() > 0}
    assert touched == set(range(t - kernel // 2, t - kernel // 2 + kernel))


def test_defaults_are_trm_no_new_weights():
    """Default configs build exactly TRM's weights (checkpoints and the reference import unchanged)."""
    model = TRM(TINY)
    conv = TRM(replace(TINY, conv_kernel=2))
    assert not any("conv" in k for k in model.state_dict())
    extra = set(conv.state_dict()) - set(model.state_dict())
    assert extra == {f"blocks.{i}.mlp.conv.{p}" for i in range(TINY.layers) for p in ("weight", "bias")}
    # everything but the new convolutions is initialised identically (the conv draws come last)
    for k, v in model.state_dict().items():
        assert torch.equal(v, conv.state_dict()[k]), k
    assert TrainConfig().muon == "off" and TINY.grad_calls == 0 and TINY.recursion == "trm"


def _batch(cfg: ModelConfig, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, cfg.vocab_size, (4, cfg.seq_len), generator=g)
    ids = torch.randint(0, cfg.num_puzzles, (4,), generator=g)
    return inputs, ids


def _grads(model: TRM, run) -> dict[str, torch.Tensor]:
    """Gradients of a fixed scalar of `run(model, x, y, z) -> (y, z, logits, halt)` w.r.t. the weights,
    after a warm-up step so (y, z) are not the start vectors; puzzle rows included."""
    model.zero_grad(set_to_none=True)
    model.puzzle_emb.pop_grads()
    inputs, ids = _batch(model.cfg)
    with torch.no_grad():
        y, z = model.initial_state(len(inputs))
        y, z, _, _ = model.step(model.embed(inputs, ids), y, z)
    torch.manual_seed(1)
    y, z, logits, halt = run(model, model.embed(inputs, model.puzzle_emb.leaf(ids)), y, z)
    (logits.square().mean() + halt.sum() + y.float().pow(3).mean()).backward()
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    _, out["puzzle_rows"] = model.puzzle_emb.pop_grads()
    return out


def todays_step(model: TRM, x, y, z):
    """The step as it was before model.grad_calls: T-1 recursions under no_grad, then one with grad."""
    with torch.no_grad():
        for _ in range(model.cfg.n_recursions - 1):
            y, z = model.recursion(x, y, z)
    y, z = model.recursion(x, y, z)
    return y, z, model.lm_head(y[:, model.cfg.puzzle_emb_len:]).float(), model.halt_head(y[:, 0]).float().squeeze(-1)


def naive_step(model: TRM, x, y, z, grad_calls: int):
    """Every network call of the step in a flat list; all but the last `grad_calls` without gradients."""
    cfg = model.cfg
    calls = []  # (state updated, inputs added)
    for _ in range(cfg.n_recursions):
        calls += [("z", "yx")] * cfg.n_latent + [("y", "z")] if cfg.recursion == "trm" else [("y", "x")] * cfg.n_latent
    free = len(calls) - grad_calls
    s = {"y": y, "z": z}
    for i, (target, inject) in enumerate(calls):
        if target == "z" and (i == 0 or calls[i - 1][0] == "y"):
            s["yx"] = s["y"] + x  # the start of a recursion: y is fixed for its latent updates
        src = {"yx": s.get("yx"), "x": x, "z": s["z"]}[inject]
        with torch.set_grad_enabled(i >= free):
            s[target] = model.net(s[target], src)
    y = s["y"]
    return y, s["z"], model.lm_head(y[:, cfg.puzzle_emb_len:]).float(), model.halt_head(y[:, 0]).float().squeeze(-1)


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_trm_schedule_gives_exactly_todays_gradients():
    per = TINY.n_latent + 1
    for grad_calls in (0, per):  # the default and the same schedule spelt out
        model = TRM(replace(TINY, grad_calls=grad_calls))
        _equal(_grads(model, TRM.step), _grads(model, todays_step))


@pytest.mark.parametrize("recursion", ["trm", "urm"])
def test_every_truncation_matches_the_flat_naive_schedule(recursion):
    cfg = replace(TINY, recursion=recursion)
    total = cfg.n_recursions * cfg.calls_per_recursion()
    seen = []
    for grad_calls in (1, 2, cfg.calls_per_recursion(), cfg.calls_per_recursion() + 1, total):
        model = TRM(replace(cfg, grad_calls=grad_calls))
        got = _grads(model, TRM.step)
        _equal(got, _grads(model, lambda m, x, y, z: naive_step(m, x, y, z, grad_calls)))
        seen.append(got["blocks.0.mlp.gate_up.weight"])
    # more calls backpropagating changes the gradient (the option does something)
    assert all(not torch.equal(a, b) for a, b in zip(seen, seen[1:]))


def test_urm_loop_is_one_state_h_net_h_plus_x():
    cfg = replace(TINY, recursion="urm", n_latent=2, n_recursions=2, conv_kernel=2)
    model = TRM(cfg)
    inputs, ids = _batch(cfg)
    x = model.embed(inputs, ids)
    y, z = model.initial_state(len(inputs))
    y1, z1, logits, halt = model.step(x, y, z)
    h = y
    for _ in range(4):
        h = model.net(h, x)
    torch.testing.assert_close(y1, h, rtol=0, atol=0)
    assert torch.equal(z1, z)  # z is carried untouched
    assert logits.shape == (4, cfg.seq_len, cfg.vocab_size) and halt.shape == (4,)


def test_muon_split_is_the_named_matrices_and_the_rest_stays_adam_atan2():
    model = TRM(TINY)
    trunk = {id(p) for p in muon_parameters(model, "trunk")}
    matrices = {id(p) for p in muon_parameters(model, "matrices")}
    assert trunk == {id(p) for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2}
    assert matrices == {id(p) for p in model.parameters() if p.ndim == 2}
    assert trunk < matrices and id(model.tokens.weight) in matrices - trunk
    assert muon_parameters(model, "off") == []
    with pytest.raises(ValueError, match="muon"):
        muon_parameters(model, "everything")

    opt = make_dense_optimizer(model, TrainConfig(muon="trunk", lr=1e-3, muon_lr=2e-2))
    muon, rest = opt.parts
    assert isinstance(opt, SplitOptimizer) and isinstance(muon, torch.optim.Muon) and isinstance(rest, AdamATan2)
    assert {id(p) for g in muon.param_groups for p in g["params"]} == trunk
    assert {id(p) for g in rest.param_groups for p in g["params"]} == {id(p) for p in model.parameters()} - trunk
    set_lr(opt, 5e-4)
    assert [g["lr"] for g in muon.param_groups] == [pytest.approx(1e-2)]  # 5e-4 x muon_lr / lr
    assert [g["lr"] for g in rest.param_groups] == [5e-4]
    assert isinstance(make_dense_optimizer(model, TrainConfig()), AdamATan2)


def test_muon_update_is_torch_muon_at_the_shape_scaled_rate_and_resumes():
    cfg = TrainConfig(muon="matrices", lr=1e-3, weight_decay=0.1)
    torch.manual_seed(0)
    model = TRM(TINY)
    twin = TRM(TINY)
    twin.load_state_dict(model.state_dict())
    opt = make_dense_optimizer(model, cfg)
    w, w_twin = model.blocks[0].mlp.gate_up.weight, twin.blocks[0].mlp.gate_up.weight
    lone = torch.optim.Muon([w_twin], lr=1e-3, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")

    def fill_grads(m: TRM, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        for p in m.parameters():
            p.grad = torch.randn(p.shape, generator=g)

    for step in range(2):
        fill_grads(model, step)
        fill_grads(twin, step)
        before = w.detach().clone()
        opt.step()
        lone.step()
        assert torch.equal(w, w_twin)
        # Muon's update has RMS ~0.2 x rate (match_rms_adamw), whatever the gradient's size
        rms = ((before * (1 - 1e-3 * 0.1) - w.detach()).square().mean().sqrt() / 1e-3).item()
        assert 0.1 < rms < 0.3
    # the state dict round-trips: a restored optimizer takes the same next step
    clone = TRM(TINY)
    clone.load_state_dict(model.state_dict())
    opt2 = make_dense_optimizer(clone, cfg)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as from disk: no shared buffers
    fill_grads(model, 9)
    fill_grads(clone, 9)
    opt.step()
    opt2.step()
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="parts"):
        make_dense_optimizer(clone, cfg).load_state_dict({"parts": []})


def test_urm_preset_loads_with_the_published_settings():
    from arc_pipeline.config import load_config

    cfg = load_config(preset="urm")
    m, t = cfg.model, cfg.train
    assert (m.recursion, m.layers, m.n_recursions, m.n_latent, m.max_steps, m.conv_kernel, m.grad_calls) == \
        ("urm", 4, 2, 6, 16, 2, 0)
    assert (t.epochs, t.lr, t.puzzle_lr, t.weight_decay, t.global_batch, t.muon) == (200000, 1e-4, 1e-2, 0.1, 768, "off")
    assert math.isclose(t.ema, 0.999)


def test_urm_with_muon_trains_and_resumes_exactly_through_checkpoints(tmp_path):
    """The whole mix through solver.train: a run cut at step 3 and resumed ends with the weights
    of the straight run (Muon's momentum and the split's state survive the checkpoint)."""
    import numpy as np

    from arc_pipeline.augment.source import ArraySource
    from arc_pipeline.solver.train import train

    rng = np.random.default_rng(0)
    x = rng.integers(2, 6, (64, 6)).astype(np.uint8)  # reverse a sequence of tokens 2..5
    src = ArraySource(x, x[:, ::-1].copy(), rng.integers(1, 5, 64).astype(np.int32), vocab_size=6, num_puzzles=5)
    mcfg = ModelConfig(vocab_size=6, seq_len=6, num_puzzles=5, hidden=16, heads=2, layers=2, n_latent=2, n_recursions=2,
                       max_steps=3, puzzle_emb_len=2, halt_exploration=0.0, recursion="urm", conv_kernel=2)
    tcfg = TrainConfig(global_batch=4, steps=6, lr=1e-3, lr_warmup=1, log_every=1, checkpoint_every=3, device="cpu",
                       ema=0.9, muon="matrices")
    straight = train(mcfg, tcfg, src, tmp_path / "a" / "ckpt")
    assert train(mcfg, replace(tcfg, steps=3), src, tmp_path / "b" / "ckpt").step == 3
    resumed = train(mcfg, tcfg, src, tmp_path / "b" / "ckpt")
    a = torch.load(straight.checkpoint / "weights.pt", weights_only=True)
    b = torch.load(resumed.checkpoint / "weights.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    start = TRM(mcfg, seed=tcfg.seed).state_dict()
    assert not torch.equal(a["blocks.0.mlp.conv.weight"], start["blocks.0.mlp.conv.weight"])  # it trained

