"""`arc-pipeline bench learn` end to end at a toy size: figures come back with the right shape."""

from __future__ import annotations

import json

import pytest

from click.testing import CliRunner

from arc.errors import ArcError
from pipeline.bench.learn import LearnConfig, _with_overrides, cmd, configs

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
