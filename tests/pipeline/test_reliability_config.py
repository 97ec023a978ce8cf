"""Issue 11, bad values: the whole config is checked when it loads (types, ranges, finite numbers,
relations), one line naming key, value and what is valid; a diverging loss stops training."""

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import load_config, override


@pytest.mark.parametrize("setting,named", [
    ("train.lr=nan", "train.lr = nan"),
    ("train.lr=inf", "train.lr = inf"),
    ("train.steps=-1", "train.steps = -1"),
    ("model.max_steps=0", "model.max_steps = 0"),
    ("train.global_batch=0", "train.global_batch = 0"),
    ("predict.batch_size=-4", "predict.batch_size = -4"),
    ("model.hidden=-8", "model.hidden = -8"),
    ("model.heads=3", "model.heads = 3 does not divide model.hidden = 64"),
    ("train.device=gpu0", "train.device = 'gpu0'"),
    ("train.ema=1.5", "train.ema = 1.5"),
    ("run.time_budget=-5", "run.time_budget = '-5'"),
    ("run.reserve=1.2", "run.reserve = 1.2"),
    ("train.betas=0.9,1.5", "train.betas = [0.9, 1.5]"),
    ("run.devices=3", "run.devices = 3"),
    ("build.canvas=4", "build.canvas = 4"),
    ("model.grad_calls=16", "model.grad_calls = 16"),  # smoke: 2 recursions x (1 latent + 1 answer) calls
    ("model.conv_kernel=-1", "model.conv_kernel = -1"),
    ("model.recursion=hrm", "[model] recursion = 'hrm'"),
    ("train.muon_lr=-1", "train.muon_lr = -1.0"),
    ("vote.top_k=1", "vote.top_k = 1"),
    ("adapt.lr_warmup=-2", "adapt.lr_warmup = -2"),
    ("run.track=nope", "run.track = ['nope']"),
    ('data.train=[""]', "data.train = ['']"),
])
def test_bad_value_is_one_line_naming_key_value_and_range(setting, named):
    with pytest.raises(ArcError) as e:
        load_config("smoke", sets=[setting])
    msg = str(e.value)
    assert named in msg and "\n" not in msg and ("valid" in msg or "must" in msg)


def test_override_and_files_are_checked_too(tmp_path):
    with pytest.raises(ArcError, match="train.lr = nan"):
        override(load_config("smoke"), ["train.lr=nan"])
    f = tmp_path / "bad.toml"
    f.write_text("[model]\nhidden = 64\nheads = 5\n")
    with pytest.raises(ArcError, match="heads = 5"):
        load_config("smoke", files=[f])
    assert load_config("smoke").train.lr > 0  # every shipped preset is valid (test_config loads them all)


@pytest.mark.integration
def test_run_refuses_bad_config_before_any_stage(tmp_path, cli):
    rd = tmp_path / "run"
    r = cli("run", "--preset", "smoke", "--run-dir", str(rd), "--set", "train.steps=-1")
    assert r.exit_code == 1 and "train.steps = -1" in r.output and "Traceback" not in r.output
    assert not (rd / "tasks").exists() and not (rd / "submission.json").exists()  # nothing ran


def test_micro_batch_must_divide_the_per_device_batch():
    from arc_pipeline.config.rules import problems

    cfg = load_config("smoke", sets=["train.global_batch=64"])
    assert problems(override(cfg, ["train.micro_batch=16"])) == []
    assert override(cfg, ["train.micro_batch=auto"]).train.micro_batch == "auto"
    with pytest.raises(ArcError, match=r"train.micro_batch = 24 does not divide the per-device batch 64"):
        override(cfg, ["train.micro_batch=24"])
    with pytest.raises(ArcError, match=r"train.micro_batch = -2: out of range; valid: \[0, inf\) or 'auto'"):
        override(cfg, ["train.micro_batch=-2"])


def test_non_finite_loss_stops_training_and_never_saves_a_best(tmp_path, one_thread, toy_configs, toy_source):
    import math

    from arc_pipeline.solver import ckpt_folder
    from arc_pipeline.solver.train import train

    mcfg, tcfg = toy_configs(steps=6, lr=math.nan, checkpoint_every=1, eval_every=1)
    with pytest.raises(ArcError, match="not finite"):
        train(mcfg, tcfg, toy_source(), tmp_path / "ck", val_source=toy_source(seed=1))
    assert not (tmp_path / "ck" / "best").exists()
    for step in (tmp_path / "ck").glob("step_*"):  # whatever was saved came before the divergence
        assert ckpt_folder.read_meta(step)["step"] <= 1
