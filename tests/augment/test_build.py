"""Dataset build and loader: splits, protocols, determinism, atomicity, corruption, token layout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, Task
from arc_pipeline.augment.build import SPLITS, BuildConfig, build
from arc_pipeline.augment.dataset import open_split, read_puzzles
from arc_pipeline.augment.encode import PAD
from arc_pipeline.augment.transform import apply

CFG = BuildConfig(augmentations=12, seed=5, val_fraction=0.2, val_augs=3)


@pytest.fixture(scope="module")
def tasks() -> tuple[dict[str, Task], dict[str, Task]]:
    train = dict(list(load("arc1/training").tasks.items())[:15])
    ev = list(load("arc1/evaluation").tasks.items())[:4]
    target = dict(ev[:3])
    # one target with its answers hidden, as on Kaggle
    tid, t = ev[3]
    target[tid] = Task(tid, t.train, tuple(Pair(p.input, None) for p in t.test))
    return train, target


@pytest.fixture(scope="module")
def joint(tasks, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("joint") / "dataset"
    build(*tasks, CFG, out)
    return out


@pytest.fixture(scope="module")
def per_draw(tasks, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("per_draw") / "dataset"
    build(*tasks, replace(CFG, translation="per_draw"), out)
    return out


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_same_seed_byte_identical_other_seed_differs(tasks, joint, tmp_path):
    calls = []
    r = build(*tasks, CFG, tmp_path / "again", on_progress=calls.append)
    assert files(tmp_path / "again") == files(joint)
    assert sum(calls) == len(tasks[0]) + len(tasks[1])
    build(*tasks, replace(CFG, seed=6), tmp_path / "other")
    assert files(tmp_path / "other")["augs.npy"] != files(joint)["augs.npy"]
    assert files(tmp_path / "other")["offsets_train.npy"] != files(joint)["offsets_train.npy"]
    assert not r.skipped and r.num_puzzles == len(np.load(joint / "augs.npy"))


def test_identical_build_is_skipped_changed_one_is_rebuilt(tasks, tmp_path):
    out = tmp_path / "ds"
    first = build(*tasks, CFG, out)
    again = build(*tasks, CFG, out)
    assert again.skipped and again.fingerprint == first.fingerprint
    changed = build(*tasks, replace(CFG, augmentations=4), out)
    assert not changed.skipped and changed.num_puzzles < first.num_puzzles
    assert open_split(out, "train").num_puzzles == changed.num_puzzles
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temp or old directories left


def test_failed_build_leaves_previous_build_untouched(tasks, tmp_path):
    out = tmp_path / "ds"
    build(*tasks, replace(CFG, augmentations=2), out)
    before = files(out)
    big = Task("big", (Pair(np.zeros((12, 3), np.uint8), np.zeros((3, 3), np.uint8)),), ())
    with pytest.raises(ArcError, match="big.*does not fit the 10x10"):
        build({"big": big}, {}, replace(CFG, canvas=10), out)
    assert files(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_puzzles_and_splits_under_joint(tasks, joint):
    train, target = tasks
    puzzles = read_puzzles(joint)
    assert puzzles["puzzle_id"].to_list() == list(range(1, len(puzzles) + 1))
    assert set(puzzles.filter(pl.col("role") == "target")["task_id"]) == set(target)
    assert set(puzzles["split"]) == {"train"}  # joint: target demonstrations train too
    ex = {s: open_split(joint, s) for s in SPLITS}
    assert len(ex["adapt"]) == 0
    # val: held-out test pairs of some training tasks, never the target, never trained on
    val = ex["val"].examples
    assert len(val) > 0 and set(val["task_id"]) <= set(train)
    val_pairs = set(zip(val["puzzle_id"], val["pair"]))
    train_ex = ex["train"].examples
    assert not val_pairs & set(zip(train_ex["puzzle_id"], train_ex["pair"]))
    assert val.group_by("puzzle_id", "test_index").len()["len"].max() == 1
    assert val.group_by("task_id").agg(pl.col("puzzle_id").n_unique())["puzzle_id"].max() <= CFG.val_augs
    # test: every augmented copy of every target test input
    test = ex["test"].examples
    per_task = puzzles.group_by("task_id").len()
    expected = sum(per_task.filter(pl.col("task_id") == t)["len"][0] * len(target[t].test) for t in target)
    assert len(test) == expected and set(test["task_id"]) == set(target)
    assert test["test_index"].null_count() == 0 and train_ex["test_index"].null_count() == len(train_ex)
    # example ranges in puzzles.parquet point at the puzzle's own rows
    rows = np.asarray(ex["train"].rows)
    for p in puzzles.sample(30, seed=0).iter_rows(named=True):
        got = rows[p["example_start"] : p["example_start"] + p["example_count"], 0]
        assert len(got) == p["example_count"] > 0 and (got == p["puzzle_id"]).all()


def test_pretrain_adapt_moves_target_demonstrations_to_adapt(tasks, tmp_path):
    out = tmp_path / "pa"
    build(*tasks, replace(CFG, protocol="pretrain-adapt"), out)
    train_ids = set(open_split(out, "train").examples["task_id"])
    adapt = open_split(out, "adapt").examples
    assert train_ids == set(tasks[0]) and set(adapt["task_id"]) == set(tasks[1])
    assert adapt["pair"].max() < max(len(t.train) for t in tasks[1].values())  # demonstrations only


def test_source_protocol_and_batch_determinism(joint, per_draw):
    src = open_split(joint, "train")
    assert (src.seq_len, src.vocab_size) == (900, 12)
    idx = np.arange(0, len(src), max(1, len(src) // 200))
    a, b = src.batch(idx, seed=1), src.batch(idx, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a.inputs.shape == (len(idx), 900) and a.puzzle_ids.dtype == np.int32 and a.puzzle_ids.min() >= 1
    # an example's tokens depend on (seed, index) alone, not on the rest of the batch
    single = src.batch(idx[5:6], seed=1)
    assert np.array_equal(single.inputs[0], a.inputs[5]) and np.array_equal(single.labels[0], a.labels[5])
    # reference translation: offsets were drawn at build time, the batch seed does not move them
    assert np.array_equal(src.batch(idx, seed=2).inputs, a.inputs)
    other = open_split(per_draw, "train")  # per_draw: a fresh offset at every draw, from the seed
    assert not np.array_equal(other.batch(idx, seed=2).inputs, other.batch(idx, seed=1).inputs)


def _locate(tokens: np.ndarray) -> tuple[int, int]:
    nz = np.argwhere(tokens.reshape(30, 30) >= 2)
    return int(nz[:, 0].min()), int(nz[:, 1].min())


@pytest.mark.parametrize("translation", ["reference", "per_draw"])
def test_train_examples_are_translated_augmented_pairs(tasks, joint, per_draw, translation):
    train, target = tasks
    src = open_split(joint if translation == "reference" else per_draw, "train")
    ex = src.examples
    step = 7 if translation == "per_draw" else 1
    idx = np.arange(0, len(src), step)
    batch = src.batch(idx, seed=9)
    moved, home = 0, {}
    for k, i in enumerate(idx):
        row = ex.row(int(i), named=True)
        task = {**train, **target}[row["task_id"]]
        pair = (*task.train, *task.test)[row["pair"]]
        aug = src.aug(int(i))
        want_in, want_out = apply(pair.input, aug), apply(pair.output, aug)
        r, c = _locate(batch.inputs[k])
        assert (r, c) == _locate(batch.labels[k])  # one shared offset for input and output
        if translation == "per_draw" and row["pair"] == 0:
            assert (r, c) == (0, 0)  # ours: pair 0 of every puzzle stays in place
        home[row["puzzle_id"]] = home.get(row["puzzle_id"], 0) + ((r, c) == (0, 0))
        moved += (r, c) != (0, 0)
        grid_in = batch.inputs[k].reshape(30, 30)[r : r + want_in.shape[0], c : c + want_in.shape[1]]
        grid_out = batch.labels[k].reshape(30, 30)[r : r + want_out.shape[0], c : c + want_out.shape[1]]
        assert np.array_equal(grid_in - 2, want_in) and np.array_equal(grid_out - 2, want_out)
        assert (batch.inputs[k] >= 2).sum() == want_in.size and (batch.labels[k] >= 2).sum() == want_out.size
    assert moved > len(idx) // 3
    if translation == "reference":  # one pair per puzzle, chosen at random, at the top-left
        assert min(home.values()) >= 1
        pair0_home = np.mean([_locate(src.batch(np.array([i]), 0).inputs[0]) == (0, 0)
                              for i in ex.with_row_index().filter(pl.col("pair") == 0)["index"].to_list()[:200]])
        assert pair0_home < 0.8  # not always pair 0


def test_test_split_is_top_left_and_maps_back(tasks, joint):
    _, target = tasks
    src = open_split(joint, "test")
    ex = src.examples
    idx = np.arange(len(src))
    batch = src.batch(idx, seed=0)
    back = src.to_original(batch.inputs, idx)
    for k, row in enumerate(ex.iter_rows(named=True)):
        pair = target[row["task_id"]].test[row["test_index"]]
        assert np.array_equal(back[k], pair.input)
        assert _locate(batch.inputs[k]) == (0, 0)
        labels = src.to_original(batch.labels[k : k + 1], idx[k : k + 1])[0]
        if pair.output is None:
            assert (batch.labels[k] == PAD).all() and labels is None
        else:
            assert np.array_equal(labels, pair.output)


def test_damaged_builds_fail_with_the_file_named(tasks, tmp_path):
    out = tmp_path / "ds"
    build(*tasks, replace(CFG, augmentations=2), out)
    f = out / "examples_train.npy"
    good = f.read_bytes()
    f.write_bytes(good[:-40])
    with pytest.raises(ArcError, match="examples_train.npy is truncated"):
        open_split(out, "test")  # a damaged build is not trusted for any split
    f.write_bytes(good)
    assert len(open_split(out, "train")) > 0
    (out / "grids.npy").unlink()
    with pytest.raises(ArcError, match="grids.npy is missing"):
        open_split(out, "test")
    (out / "meta.json").unlink()
    with pytest.raises(ArcError, match="meta.json is missing"):
        open_split(out, "train")
    with pytest.raises(ArcError, match="unknown split"):
        open_split(out, "dev")


def test_small_canvas_build(tmp_path):
    small = {
        f"s{i}": Task(f"s{i}", (Pair(np.full((2, 3), i, np.uint8), np.full((3, 2), 9 - i, np.uint8)),) * 2, ())
        for i in range(1, 4)
    }
    build(small, {}, BuildConfig(augmentations=8, canvas=4, val_fraction=0.0), tmp_path / "d")
    src = open_split(tmp_path / "d", "train")
    assert src.seq_len == 16 and len(src) == 3 * 8 * 2
    b = src.batch(np.arange(len(src)), seed=0)
    assert ((b.inputs >= 2).sum(1) == 6).all() and ((b.labels >= 2).sum(1) == 6).all()


def test_val_never_holds_a_target_task(tasks, tmp_path):
    train, target = tasks
    both = {**train, **target}  # the target ids are training tasks too
    build(both, target, replace(CFG, val_fraction=0.5, augmentations=2), tmp_path / "d")
    val = open_split(tmp_path / "d", "val").examples
    assert len(val) > 0 and not set(val["task_id"]) & set(target)
