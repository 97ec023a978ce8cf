"""Test-time adaptation on a tiny pre-trained model: table extension, frozen phases, resume."""

from pathlib import Path

import polars as pl
import pytest
import torch

from arc.synth import SynthConfig, synth_suite
from augment.build import BuildConfig, build
from augment.dataset import open_split, read_meta, read_puzzles
from solver import checkpoint as ckpt
from solver.adapt import AdaptConfig, adapt, plan_rows
from solver.config import ModelConfig, TrainConfig
from solver.device import setup_runtime
from solver.infer import PredictConfig, predict_checkpoint
from solver.train import train

TABLE = "puzzle_emb.table"


def tiny_train_cfg(steps, **kw):
    base = dict(global_batch=8, steps=steps, lr=3e-3, lr_warmup=1, device="cpu", ema=0.9, checkpoint_every=0, log_every=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A pretrain-adapt build (4 training tasks, 2 target tasks, 2 augmentations) and a 3-step pre-training."""
    d = tmp_path_factory.mktemp("adapt")
    train_tasks = synth_suite(1, SynthConfig(n_tasks=4))
    target = synth_suite(2, SynthConfig(n_tasks=2))
    cfg = BuildConfig(augmentations=2, canvas=6, protocol="pretrain-adapt", val_fraction=0)
    build(train_tasks, target, cfg, d / "data")
    meta = read_meta(d / "data")
    mcfg = ModelConfig(seq_len=36, num_puzzles=meta["num_puzzles"], hidden=32, heads=2, layers=1, n_latent=1,
                       n_recursions=1, max_steps=2, puzzle_emb_len=2, expansion=2)
    train(mcfg, tiny_train_cfg(3), open_split(d / "data", "train"), d / "pre" / "checkpoints",
          puzzle_map=read_puzzles(d / "data"), dataset_fingerprint=meta["fingerprint"])
    return d


def weights(path):
    return torch.load(Path(ckpt.resolve(path)) / "weights.pt", weights_only=True)


def trunk(w):
    return {k: v for k, v in w.items() if k != TABLE}


def test_plan_rows_appends_one_row_per_target_puzzle(setup):
    puzzles = read_puzzles(setup / "data")
    targets = puzzles.filter(pl.col("role") == "target")
    rows, amap = plan_rows(puzzles, 13, targets, 13)
    assert rows[targets["puzzle_id"].to_numpy()].tolist() == list(range(13, 13 + targets.height))
    assert rows[puzzles.filter(pl.col("role") == "train")["puzzle_id"].to_numpy()].tolist() == [0] * 8
    # every (task, augmentation) names one row: the old untrained target rows left the map
    assert amap.height == 8 + targets.height
    assert amap.filter(pl.col("role") == "target")["puzzle_id"].to_list() == list(range(13, 13 + targets.height))


def test_embeddings_only_phase_extends_the_table_and_touches_nothing_else(setup):
    pre = weights(setup / "pre" / "checkpoints")
    out = setup / "frozen"
    res = adapt(setup / "pre" / "checkpoints", setup / "data", out, tiny_train_cfg(3), AdaptConfig(embeddings_only_fraction=1.0))
    assert res.step == 3 and res.new_rows == 4 and res.pretrained_rows == pre[TABLE].shape[0]
    init, final = weights(out / "init"), weights(res.checkpoint)
    n = pre[TABLE].shape[0]
    assert final[TABLE].shape == (n + 4, pre[TABLE].shape[1])
    assert torch.equal(final[TABLE][:n], pre[TABLE])  # pre-trained rows: bit for bit
    # new rows start at the mean of the rows pre-training trained (role 'train', ids 1..8)
    mean = pre[TABLE][1:9].mean(0)
    assert torch.allclose(init[TABLE][n:], mean.expand(4, -1))
    assert not torch.equal(final[TABLE][n:], init[TABLE][n:])  # and they did train
    for k, v in trunk(init).items():  # trunk frozen throughout
        assert torch.equal(final[k], v), k
    # the starting trunk is the pre-trained EMA copy, not the live weights
    ema = torch.load(Path(ckpt.resolve(setup / "pre" / "checkpoints")) / "ema.pt", weights_only=True)["shadow"]
    name = next(iter(ema))
    assert torch.equal(init[name], ema[name]) and not torch.equal(init[name], pre[name])


def test_after_the_frozen_fraction_the_trunk_trains(setup):
    res = adapt(setup / "pre" / "checkpoints", setup / "data", setup / "thaw", tiny_train_cfg(2), AdaptConfig(embeddings_only_fraction=0.5))
    init, final = trunk(weights(setup / "thaw" / "init")), trunk(weights(res.checkpoint))
    assert any(not torch.equal(final[k], v) for k, v in init.items())


class Crash(Exception):
    pass


def test_adapt_resumes_after_a_crash_exactly(setup):
    cfg = tiny_train_cfg(4, checkpoint_every=2)
    acfg = AdaptConfig(embeddings_only_fraction=0.25)

    def crash_at_3(row):
        if row["step"] == 3:
            raise Crash

    with pytest.raises(Crash):
        adapt(setup / "pre" / "checkpoints", setup / "data", setup / "crashed", cfg, acfg, on_metrics=crash_at_3)
    assert ckpt.latest(setup / "crashed" / "checkpoints").name == "step_00000002"
    resumed = adapt(setup / "pre" / "checkpoints", setup / "data", setup / "crashed", cfg, acfg)
    whole = adapt(setup / "pre" / "checkpoints", setup / "data", setup / "whole", cfg, acfg)
    assert resumed.step == whole.step == 4
    a, b = weights(resumed.checkpoint), weights(whole.checkpoint)
    for k in b:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    # a finished run is not trained again
    again = adapt(setup / "pre" / "checkpoints", setup / "data", setup / "whole", cfg, acfg)
    assert again.stopped == "already_done" and again.step == 4


def test_prediction_reads_the_adapted_rows(setup):
    res = adapt(setup / "pre" / "checkpoints", setup / "data", setup / "frozen", tiny_train_cfg(3), AdaptConfig(embeddings_only_fraction=1.0))
    frame, unmatched = predict_checkpoint(res.checkpoint, setup / "data", setup_runtime("cpu"), PredictConfig(batch_size=4))
    assert unmatched == 0
    test = open_split(setup / "data", "test")
    assert frame.height == len(test) and sorted(frame["index"].to_list()) == list(range(len(test)))
    # the pre-trained checkpoint never saw the target puzzles' new rows, but its map still names them
    _, unmatched_pre = predict_checkpoint(setup / "pre" / "checkpoints", setup / "data", setup_runtime("cpu"), PredictConfig())
    assert unmatched_pre == 0
