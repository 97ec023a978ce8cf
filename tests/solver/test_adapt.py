"""Test-time adaptation on a tiny pre-trained model: table extension, frozen phases, resume."""

from pathlib import Path

import polars as pl
import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.synth import SynthConfig, synth_suite
from arc_pipeline.augment.build import BuildConfig, build
from arc_pipeline.augment.dataset import open_split, read_meta, read_puzzles
from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver.adapt import AdaptConfig, adapt, plan_rows, trained_ids
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import setup_runtime
from arc_pipeline.solver.infer import PredictConfig
from arc_pipeline.solver.predict import predict
from arc_pipeline.solver.train import train

TABLE = "puzzle_emb.table"


def tiny_train_cfg(steps, **kw):
    base = dict(global_batch=8, steps=steps, lr=3e-3, lr_warmup=1, device="cpu", ema=0.9, checkpoint_every=0, log_every=1)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Pre-training on suite A alone (its own build), then a pretrain-adapt build of A + target suite B."""
    d = tmp_path_factory.mktemp("adapt")
    suite_a = synth_suite(1, SynthConfig(n_tasks=4))
    suite_b = synth_suite(2, SynthConfig(n_tasks=2))
    build(suite_a, {}, BuildConfig(augmentations=2, canvas=6, val_fraction=0), d / "pre_data")
    build(suite_a, suite_b, BuildConfig(augmentations=2, canvas=6, protocol="pretrain-adapt", val_fraction=0), d / "data")
    meta = read_meta(d / "pre_data")
    mcfg = ModelConfig(seq_len=36, num_puzzles=meta["num_puzzles"], hidden=32, heads=2, layers=1, n_latent=1,
                       n_recursions=1, max_steps=2, puzzle_emb_len=2, expansion=2)
    train(mcfg, tiny_train_cfg(3), open_split(d / "pre_data", "train"), d / "pre",
          puzzle_map=read_puzzles(d / "pre_data"), dataset_fingerprint=meta["fingerprint"])
    return d


def weights(path):
    return torch.load(Path(ckpt_folder.resolve(path)) / "weights.pt", weights_only=True)


def trunk(w):
    return {k: v for k, v in w.items() if k != TABLE}


def run_adapt(setup, name, steps, fraction, **kw):
    return adapt(setup / "pre", setup / "data", setup / name, AdaptConfig(steps=steps, embeddings_only_fraction=fraction, lr_warmup=1),
                 train_cfg=tiny_train_cfg(steps, **kw.pop("train", {})), **kw)


def test_plan_rows_copies_only_trained_rows():
    table = torch.zeros(6, 3)
    table[1:4] = 1.0  # rows 4, 5 never trained
    colors = [list(range(10))] * 5
    pre_map = pl.DataFrame({"puzzle_id": [1, 2, 3, 4, 5], "task_id": ["a", "a", "b", "c", "c"], "role": ["train"] * 3 + ["target"] * 2,
                            "dihedral": [0, 1, 0, 0, 1], "colors": colors})
    trained = trained_ids(table, pre_map)
    assert trained.tolist() == [1, 2, 3]
    assert trained_ids(table, None).tolist() == [1, 2, 3]  # no map: the non-zero rows
    build_puzzles = pl.DataFrame({"puzzle_id": [1, 2, 3, 4], "task_id": ["b", "a", "c", "z"], "dihedral": [0, 1, 0, 0],
                                  "colors": colors[:4]})
    assert plan_rows(build_puzzles, pre_map, trained, 6).tolist() == [0, 3, 2, -1, -1, -1]


def test_embeddings_only_phase_extends_the_table_and_touches_nothing_else(setup):
    pre = weights(setup / "pre")
    res = run_adapt(setup, "frozen", 3, 1.0)
    n_pre, n = pre[TABLE].shape[0], read_meta(setup / "data")["num_puzzles"]
    assert res.step == 3 and n > n_pre
    # stamped with the build's fingerprint: the predict stage loads it against the build
    assert ckpt_folder.read_meta(res.checkpoint)["dataset_fingerprint"] == read_meta(setup / "data")["fingerprint"]
    assert (res.rows_carried, res.rows_new) == (n_pre - 1, n - n_pre)
    init, final = weights(setup / "frozen" / "init"), weights(res.checkpoint)
    assert final[TABLE].shape == (n, pre[TABLE].shape[1])
    # suite A's rows keep their values bit for bit (same ids here: A comes first in both builds)
    assert torch.equal(final[TABLE][:n_pre], pre[TABLE])
    # the target rows start at the mean of the trained rows, then train
    assert torch.allclose(init[TABLE][n_pre:], pre[TABLE][1:].mean(0).expand(n - n_pre, -1))
    assert not torch.equal(final[TABLE][n_pre:], init[TABLE][n_pre:])
    for k, v in trunk(init).items():  # trunk frozen throughout
        assert torch.equal(final[k], v), k
    # the starting trunk is the pre-trained EMA copy, not the live weights
    ema = torch.load(Path(ckpt_folder.resolve(setup / "pre")) / "ema.pt", weights_only=True)["shadow"]
    name = next(iter(ema))
    assert torch.equal(init[name], ema[name]) and not torch.equal(init[name], pre[name])


def test_after_the_frozen_fraction_the_trunk_trains(setup):
    res = run_adapt(setup, "thaw", 2, 0.5)
    init, final = trunk(weights(setup / "thaw" / "init")), trunk(weights(res.checkpoint))
    assert any(not torch.equal(final[k], v) for k, v in init.items())


class Crash(Exception):
    pass


def test_adapt_resumes_after_a_crash_exactly(setup):
    def crash_at_3(row):
        if row["step"] == 3:
            raise Crash

    every = {"train": {"checkpoint_every": 2}}
    with pytest.raises(Crash):
        run_adapt(setup, "crashed", 4, 0.25, on_metrics=crash_at_3, **every)
    assert ckpt_folder.latest(setup / "crashed").name == "step_00000002"
    resumed = run_adapt(setup, "crashed", 4, 0.25, **every)
    whole = run_adapt(setup, "whole", 4, 0.25, **every)
    assert resumed.step == whole.step == 4
    a, b = weights(resumed.checkpoint), weights(whole.checkpoint)
    for k in b:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    # a finished run is not trained again
    again = run_adapt(setup, "whole", 4, 0.25, **every)
    assert again.stopped == "already_done" and again.step == 4
    # another starting point into the same folder is refused, not silently mixed
    with pytest.raises(ArcError, match="another pre-trained checkpoint"):
        adapt(setup / "pre", setup / "data", setup / "whole", AdaptConfig(steps=4, from_ema=False), train_cfg=tiny_train_cfg(4))


def test_prediction_reads_the_adapted_rows(setup):
    res = run_adapt(setup, "frozen", 3, 1.0)  # already done: no training
    assert res.stopped == "already_done"
    test = open_split(setup / "data", "test")
    out = predict(setup / "frozen", test, setup_runtime("cpu"), PredictConfig(batch_size=4), checkpoint_rows=True)
    assert out.summary["predictions"] == out.raw.height == len(test)
    assert sorted(zip(out.raw["task_id"], out.raw["test_index"])) == sorted(
        zip(test.examples["task_id"], test.examples["test_index"]))
    # the pre-trained checkpoint has no rows for the target puzzles: every test puzzle is unmatched
    n = test.examples["puzzle_id"].n_unique()
    with pytest.raises(ArcError, match=f"{n} test puzzle\\(s\\) of this build are not rows of the checkpoint"):
        predict(setup / "pre", test, setup_runtime("cpu"), PredictConfig(), checkpoint_rows=True)
