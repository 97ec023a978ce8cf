"""`arc-pipeline bench learn`: each network is the sudoku6 preset + a shipped variant overlay + --set
(the same files `run --config variants/NAME` and `bench suite` read), and figures come back with the
right shape at a toy size."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.bench.learn import LearnConfig, cmd, configs, variant_names
from arc_pipeline.solver.config import ModelConfig, TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

# what the bench trained before its variants became overlays (its figures in docs/variants.md)
TRM = ModelConfig(vocab_size=8, seq_len=36, num_puzzles=2, hidden=64, heads=4, layers=2, n_latent=2, n_recursions=2,
                  max_steps=4, mixer="mlp", pos_encoding="none", puzzle_emb_len=1, halt_exploration=0.1)
TRAIN = TrainConfig(global_batch=64, steps=10**9, lr=3e-3, lr_warmup=100, weight_decay=0.1, puzzle_lr=1e-3,
                    puzzle_weight_decay=0.1, ema=0.99, seed=0, device="cpu", checkpoint_every=0, keep_checkpoints=1,
                    log_every=50)


def _model(name: str, **kw) -> ModelConfig:
    return configs(LearnConfig(**kw), name, vocab_size=8, seq_len=36)[0]


def test_every_variant_trains_what_the_bench_trained_before_overlays():
    assert configs(LearnConfig(), "trm", vocab_size=8, seq_len=36) == (TRM, TRAIN)
    assert _model("baseline") == replace(TRM, n_latent=1, n_recursions=1, max_steps=1, halt_exploration=0.0)
    loop = replace(TRM, recursion="urm", layers=4, n_recursions=2, n_latent=6)
    assert _model("urm_loop") == loop and _model("urm") == replace(loop, conv_kernel=2)
    assert _model("urm_matched") == replace(TRM, recursion="urm", n_latent=TRM.n_latent + 1)
    assert _model("conv") == replace(TRM, conv_kernel=2)
    assert configs(LearnConfig(), "muon", vocab_size=8, seq_len=36) == (TRM, replace(TRAIN, muon="matrices"))
    assert configs(LearnConfig(seed=3), "trm", vocab_size=8, seq_len=36)[1].seed == 3


def test_full_backprop_is_every_call_and_urm_matched_keeps_the_calls_per_step():
    from arc_pipeline.solver.model import TRM as Net

    full = _model("full_backprop")
    assert full == replace(TRM, grad_calls=-1) and Net(full).free_calls == 0  # was grad_calls = 6 here: the same
    assert Net(replace(TRM, grad_calls=TRM.n_recursions * TRM.calls_per_recursion())).free_calls == 0
    matched = _model("urm_matched")
    assert matched.n_recursions * matched.calls_per_recursion() == TRM.n_recursions * TRM.calls_per_recursion()


def test_sets_are_config_keys_over_the_variant_and_typos_are_refused():
    assert _model("baseline", sets=("model.hidden=32",)).hidden == 32
    with pytest.raises(ArcError, match="valid keys: .*hidden"):
        _model("trm", sets=("model.hiden=32",))
    assert variant_names(LearnConfig(variants="trm, urm")) == ("trm", "urm")
    for bad in ("trm,hrm", "", "trm,trm"):
        with pytest.raises(ArcError, match="variants"):
            variant_names(LearnConfig(variants=bad))


TOY = ["--train-count", "40", "--test-count", "12", "--curve-examples", "12", "--set", "model.hidden=16",
       "--set", "train.global_batch=8"]


@pytest.mark.integration
def test_bench_learn_json_at_toy_size(tmp_path):
    args = ["--json", "--minutes", "0.03", "--points", "1", "--sequential", "--out", str(tmp_path), *TOY]
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"exact", "baseline_exact", "minutes"} <= set(out) and out["minutes"] == 0.03
    assert 0.0 <= out["exact"] <= 1.0 and 0.0 <= out["baseline_exact"] <= 1.0
    assert out["trm"]["parameters"] == out["baseline"]["parameters"]
    assert len(out["trm"]["exact_by_step"]) == 4 and len(out["baseline"]["exact_by_step"]) == 1
    assert out["trm"]["steps"] > 0 and len(out["trm"]["curve"]) == 1
    assert (tmp_path / "trm" / "metrics.jsonl").is_file() and (tmp_path / "baseline" / "checkpoints" / "latest").is_file()


@pytest.mark.integration
def test_bench_learn_equal_steps_gives_every_network_the_same_steps_and_curve_points(tmp_path):
    args = ["--json", "--steps", "5", "--points", "2", "--sequential", "--variants", "trm,urm_matched",
            "--out", str(tmp_path), *TOY, "--minutes", "0.0001"]  # the minutes are unused
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["equal_steps"] == 5
    for name in ("trm", "urm_matched"):
        assert out[name]["steps"] == 5 and [p["step"] for p in out[name]["curve"]] == [3, 5]
    assert out["trm"]["parameters"] == out["urm_matched"]["parameters"]
