"""The suite's chain (build -> predict -> vote -> submission -> score) with an oracle model, so the
chain itself is proven fast; the trained run is `bench suite` (slow test at the end)."""

import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import torch

from arc_pipeline.arc.synth import SynthConfig, synth_suite
from arc_pipeline.augment.build import BuildConfig, build
from arc_pipeline.augment.dataset import open_split
from arc_pipeline.bench.suite import broken_invert, chain
from arc_pipeline.solver.infer import PredictConfig, Raw, run_steps

pytestmark = pytest.mark.integration  # the chain of several stages (build -> predict -> vote -> submission -> score)


class Oracle(torch.nn.Module):
    """Answers every test example with its label (the augmented true output), halting at step
    `halt_at`; examples whose index is in `wrong` get another example's answer instead."""

    def __init__(self, source, halt_at=2, max_steps=4, wrong=()):
        super().__init__()
        self.cfg = SimpleNamespace(max_steps=max_steps)
        self.halt_at = halt_at
        labels = source.batch(np.arange(len(source)), 0).labels.astype(np.int64)
        for i in wrong:
            labels[i] = labels[(i + 1) % len(labels)]
        self.labels = torch.from_numpy(labels)
        self.index = {(int(p), bytes(x)): i for i, (x, p) in enumerate(zip(*source.batch(np.arange(len(source)), 0)[::2]))}

    def embed(self, inputs, puzzle_ids):
        rows = [self.index[(int(p), bytes(x.to(torch.uint8).numpy()))] for x, p in zip(inputs, puzzle_ids)]
        return torch.tensor(rows, dtype=torch.float32)[:, None, None]

    def initial_state(self, batch_size, device):
        return torch.zeros(batch_size, 1, 1), torch.zeros(batch_size, 1, 1)

    def step(self, x, y, z):
        y = y + 1
        logits = torch.nn.functional.one_hot(self.labels[x[:, 0, 0].long()], 12).float()
        return y, z, logits, y[:, 0, 0] - self.halt_at + 0.5


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    d = tmp_path_factory.mktemp("suite")
    target = synth_suite(5, SynthConfig(n_tasks=11))  # one task per rule
    build({}, target, BuildConfig(augmentations=8, canvas=6, val_fraction=0), d / "dataset")
    return d, target, open_split(d / "dataset", "test")


def test_oracle_solves_every_test_output_and_halting_halves_the_steps(suite, cpu_runtime):
    d, target, test = suite
    on = chain(Oracle(test), test, target, d / "on", cpu_runtime, PredictConfig(halt="on", batch_size=16))
    off = chain(Oracle(test), test, target, d / "off", cpu_runtime, PredictConfig(halt="off", batch_size=16))
    assert on["pass2"] == off["pass2"] == 1.0 and on["tasks_solved"] == len(target)
    assert on["pass_at_k"]["1"] == 1.0
    assert on["mean_steps"] == 2.0 and off["mean_steps"] == 4.0
    sub = json.loads((d / "on" / "submission.json").read_text())
    assert set(sub) == set(target) and all(len(sub[t]) == len(target[t].test) for t in target)
    assert (d / "on" / "predictions.parquet").is_file()


def test_a_broken_inverse_collapses_the_rate(suite, cpu_runtime):
    d, target, test = suite
    raw = run_steps(Oracle(test), test, np.arange(len(test)), cpu_runtime, PredictConfig(batch_size=16))
    good = chain(None, test, target, d / "good", cpu_runtime, None, raw=raw)
    broken = chain(None, test, target, d / "broken", cpu_runtime, None, raw=raw, invert_fn=broken_invert)
    assert good["pass2"] == 1.0
    assert broken["pass2"] < 0.5  # only the identity copies survive, outvoted by scattered junk


def test_voting_outvotes_a_minority_of_wrong_predictions(suite, cpu_runtime):
    d, target, test = suite
    aug_index = test.puzzles.select("puzzle_id", "aug_index")
    ex = test.examples.with_row_index("i").join(aug_index, on="puzzle_id", how="left")
    # in every test input, the 3 copies after the identity answer wrongly (3 of 8 votes)
    wrong = ex.filter(pl.col("aug_index").is_between(1, 3))["i"].to_list()
    assert wrong
    res = chain(Oracle(test, wrong=wrong), test, target, d / "noisy", cpu_runtime, PredictConfig(batch_size=16))
    assert res["pass2"] == 1.0 and res["pass_at_k"]["1"] == 1.0


def test_test_inputs_without_predictions_still_get_both_attempts(suite, cpu_runtime):
    d, target, test = suite
    full = run_steps(Oracle(test), test, np.arange(len(test)), cpu_runtime, PredictConfig(batch_size=16))
    first_task = test.examples["task_id"][0]
    keep = np.flatnonzero((test.examples["task_id"] != first_task).to_numpy())
    raw = Raw(full.index[keep], full.tokens[keep], full.halt_prob[keep], full.steps[keep])
    res = chain(None, test, target, d / "partial", cpu_runtime, None, raw=raw)
    sub = json.loads((d / "partial" / "submission.json").read_text())
    assert set(sub) == set(target)
    assert len(sub[first_task]) == len(target[first_task].test)
    assert all(set(e) == {"attempt_1", "attempt_2"} for e in sub[first_task])
    n_missing = len(target[first_task].test)
    assert res["fallbacks"] == n_missing
    total = sum(len(t.test) for t in target.values())
    assert res["pass2"] == pytest.approx((total - n_missing) / total)


def test_a_suite_variant_is_the_shipped_overlay_over_the_suites_config(tmp_path):
    """The suite writes its config once; a variant is `--config variants/NAME` over it (the file bench
    learn and `run` read), so the suite's model with that part changed, as before overlays."""
    from dataclasses import asdict, replace

    from arc_pipeline.bench.suite import SuiteConfig, _config, timed
    from arc_pipeline.config import load_config

    cfg = SuiteConfig()
    (tmp_path / "joint.toml").write_text(_config(cfg, "joint", tmp_path / "a.json", tmp_path / "b.json", 4000))

    def model(variant):
        files = [tmp_path / "joint.toml", *([f"variants/{variant}"] if variant else [])]
        got = load_config("smoke", files=files).model
        return {k: v for k, v in asdict(got).items() if k not in ("seq_len", "vocab_size", "num_puzzles")}

    base = {k: v for k, v in asdict(cfg.model).items() if k not in ("seq_len", "vocab_size", "num_puzzles")}
    assert model(None) == base == model("trm")
    assert model("urm") == dict(base, recursion="urm", layers=4, n_recursions=2, n_latent=6, conv_kernel=2)
    assert model("urm_matched") == dict(base, recursion="urm", n_latent=cfg.model.n_latent + 1)
    assert load_config("smoke", files=[tmp_path / "joint.toml", "variants/muon"]).train.muon == "matrices"
    t = timed(cfg, 3)
    assert t.train.time_budget_s == 180 and t.train.steps > 10**6 and t.adapt_steps == 0  # the clock stops it
    assert replace(t, train=cfg.train, adapt_steps=cfg.adapt_steps) == cfg


def test_bench_suite_refuses_a_misspelt_variant_and_minutes_without_variants():
    from click.testing import CliRunner

    from arc_pipeline.bench.suite import cmd

    res = CliRunner().invoke(cmd, ["--variants", "trm,hrm"])
    assert res.exit_code != 0 and "hrm" in str(res.exception or res.output)
    res = CliRunner().invoke(cmd, ["--minutes", "5"])
    assert res.exit_code == 2 and "--variants" in res.output


def test_bench_suite_variants_run_each_network_through_the_pipeline(tmp_path):
    from dataclasses import replace

    from arc_pipeline.bench.suite import SuiteConfig, run_variants

    base = SuiteConfig(threads=1)
    cfg = replace(base, target_tasks=3, train_tasks=0, augmentations=2, train=replace(base.train, steps=3, log_every=1))
    out = run_variants(cfg, ("trm", "urm_matched"), tmp_path)
    assert out["variants"] == ["trm", "urm_matched"] and out["steps"] == 3
    for name in out["variants"]:
        assert out[name]["train_steps"] == 3 and 0.0 <= out[name]["pass2"] <= 1.0
        assert (tmp_path / name / "joint" / "score.json").is_file()
    assert out["trm"]["parameters"] == out["urm_matched"]["parameters"]
    # the run was given the variant: its resolved config (the suite's layer, then variants/urm_matched)
    assert 'recursion = "urm"' in (tmp_path / "urm_matched" / "joint" / "config.toml").read_text()
    assert 'recursion = "trm"' in (tmp_path / "trm" / "joint" / "config.toml").read_text()
    assert not (tmp_path / "trm" / "adapt").exists()  # the variants compare the joint protocol only


@pytest.mark.slow
def test_bench_suite_trains_and_solves_most_tasks(tmp_path):
    from click.testing import CliRunner

    from arc_pipeline.bench.suite import cmd

    result = CliRunner().invoke(cmd, ["--json", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["pass2"] > 0.5
    assert out["pass2_broken_inverse"] < out["pass2"] / 2
    assert out["pass2"] >= out["pass2_halt_off"]  # halting costs nothing
    assert out["mean_steps_halt_on"] < 0.75 * out["mean_steps_halt_off"]
    assert out["seconds"] < 15 * 60
