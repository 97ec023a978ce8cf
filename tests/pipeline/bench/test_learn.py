"""`arc-pipeline bench learn` end to end at a toy size: figures come back with the right shape."""

from __future__ import annotations

import json

import pytest

from click.testing import CliRunner

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.bench.learn import LearnConfig, _with_overrides, cmd, configs

pytestmark = pytest.mark.usefixtures("one_thread")


def test_baseline_is_the_same_network_without_recursion():
    trm, base, _ = configs(LearnConfig(), vocab_size=8, seq_len=36)
    assert (base.n_latent, base.n_recursions, base.max_steps) == (1, 1, 1)
    assert (trm.n_recursions, trm.max_steps) != (1, 1)
    assert {k: v for k, v in vars(trm).items() if k not in ("n_latent", "n_recursions", "max_steps", "halt_exploration")} == \
        {k: v for k, v in vars(base).items() if k not in ("n_latent", "n_recursions", "max_steps", "halt_exploration")}


def test_overrides_are_typed_and_typos_are_refused():
    cfg = _with_overrides(LearnConfig(), ("hidden=32", "lr=0.01", "parallel=false"))
    assert (cfg.hidden, cfg.lr, cfg.parallel) == (32, 0.01, False)
    try:
        _with_overrides(LearnConfig(), ("hiden=32",))
    except ArcError as e:
        assert "hidden" in str(e)
    else:
        raise AssertionError("a misspelt key must be refused")


@pytest.mark.integration
def test_bench_learn_json_at_toy_size(tmp_path):
    args = ["--json", "--minutes", "0.03", "--points", "1", "--sequential", "--out", str(tmp_path),
            "--set", "train_count=40", "--set", "test_count=12", "--set", "hidden=16", "--set", "max_steps=2",
            "--set", "batch=8", "--set", "curve_examples=12"]
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"exact", "baseline_exact", "minutes"} <= set(out) and out["minutes"] == 0.03
    assert 0.0 <= out["exact"] <= 1.0 and 0.0 <= out["baseline_exact"] <= 1.0
    assert out["trm"]["parameters"] == out["baseline"]["parameters"]
    assert len(out["trm"]["exact_by_step"]) == 2 and len(out["baseline"]["exact_by_step"]) == 1
    assert out["trm"]["steps"] > 0 and len(out["trm"]["curve"]) == 1
    assert (tmp_path / "trm" / "metrics.jsonl").is_file() and (tmp_path / "baseline" / "checkpoints" / "latest").is_file()


def test_bench_learn_variants_change_only_their_part():
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.bench.learn import VARIANTS, LearnConfig, configs, variant_names

    trm, _, tcfg = configs(LearnConfig(), vocab_size=8, seq_len=36)

    def changed(name):
        m, t = VARIANTS[name][1](trm, tcfg)
        return ({k for k in vars(trm) if getattr(m, k) != getattr(trm, k)},
                {k for k in vars(tcfg) if getattr(t, k) != getattr(tcfg, k)})

    loop = {"recursion", "layers", "n_latent"}  # the bench's T is 2 already: URM's H_cycles
    m = VARIANTS["urm"][1](trm, tcfg)[0]
    assert (m.layers, m.n_recursions, m.n_latent, m.conv_kernel, m.grad_calls) == (4, 2, 6, 2, 0)
    assert changed("trm") == (set(), set())
    assert changed("urm") == (loop | {"conv_kernel"}, set())
    assert changed("urm_loop") == (loop, set())
    assert changed("conv") == ({"conv_kernel"}, set())
    assert changed("full_backprop") == ({"grad_calls"}, set())
    assert changed("muon") == (set(), {"muon"})
    assert changed("urm_matched") == ({"recursion", "n_latent"}, set())
    matched = VARIANTS["urm_matched"][1](trm, tcfg)[0]
    # TRM's calls per step (T x (n + 1)) on URM's one state: the same layers, so the same parameters
    assert matched.n_recursions * matched.calls_per_recursion() == trm.n_recursions * trm.calls_per_recursion()
    assert variant_names(LearnConfig(variants="trm, urm")) == ("trm", "urm")
    for bad in ("trm,hrm", "", "trm,trm"):
        with pytest.raises(ArcError, match="variants"):
            variant_names(LearnConfig(variants=bad))


@pytest.mark.integration
def test_bench_learn_equal_steps_gives_every_network_the_same_steps_and_curve_points(tmp_path):
    args = ["--json", "--steps", "5", "--points", "2", "--sequential", "--variants", "trm,urm_matched", "--out", str(tmp_path),
            "--set", "train_count=40", "--set", "test_count=12", "--set", "hidden=16", "--set", "max_steps=2",
            "--set", "batch=8", "--set", "curve_examples=12", "--minutes", "0.0001"]  # the minutes are unused
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["equal_steps"] == 5
    for name in ("trm", "urm_matched"):
        assert out[name]["steps"] == 5 and [p["step"] for p in out[name]["curve"]] == [3, 5]
    assert out["trm"]["parameters"] == out["urm_matched"]["parameters"]
