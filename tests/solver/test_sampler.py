"""The training sampler: the reference's rule (every task once per epoch, one puzzle, all its pairs)
on the real ARC-AGI-1 1000-augmentation build, the uniform rule kept as an option, ranks, resume
and group weights."""

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load
from arc_pipeline.augment.build import BuildConfig, build
from arc_pipeline.augment.dataset import open_split
from arc_pipeline.augment.source import Groups
from arc_pipeline.solver.sampler import GroupSampler, Sampler, make_sampler


@pytest.fixture(scope="module")
def arc1_train(tmp_path_factory):
    """The paper's ARC-AGI-1 joint build: training tasks + the evaluation tasks' demonstrations, 1000 augmentations."""
    train, target = load("arc1/training").tasks, load("arc1/evaluation").tasks
    out = tmp_path_factory.mktemp("arc1") / "dataset"
    build(train, target, BuildConfig(augmentations=1000, seed=0), out)
    return open_split(out, "train")


def _task_of_rows(src) -> np.ndarray:
    tasks = src.puzzles.sort("puzzle_id")["task_id"].to_numpy()
    return tasks[np.asarray(src.rows[:, 0], dtype=np.int64) - 1]


def test_reference_rule_gives_each_task_its_pair_share_on_the_arc1_build(arc1_train):
    src = arc1_train
    s = make_sampler(src, "reference", seed=0)
    assert isinstance(s, GroupSampler)
    groups = src.groups()
    assert len(groups.names) == 800  # 400 training + 400 evaluation tasks (their demonstrations)
    pairs = pl.DataFrame({"task": groups.names, "pairs": groups.mean_pairs()})
    share = dict(zip(pairs["task"], pairs["pairs"] / pairs["pairs"].sum()))
    assert s.epoch_length == pytest.approx(pairs["pairs"].sum())
    task_of = _task_of_rows(src)
    epochs = 3
    idx = s.indices_at(0, int(epochs * s.epoch_length))
    got = pl.DataFrame({"task": task_of[idx]}).group_by("task").len()
    seen = dict(zip(got["task"], got["len"] / len(idx)))
    assert set(seen) == set(share)
    worst = max(abs(seen[t] / share[t] - 1) for t in share)
    assert worst < 0.01, worst

    # the uniform rule weighs tasks by puzzles x pairs: the few-colour tasks starve (issue 9: 332efdb3 ~0.01x)
    counts = pl.DataFrame({"task": task_of}).group_by("task").len()
    uniform = dict(zip(counts["task"], counts["len"] / len(task_of)))
    ratio = {t: uniform[t] / share[t] for t in share}
    assert ratio["332efdb3"] == pytest.approx(0.01, abs=0.002)  # 9 distinct puzzles of 1000 asked
    evaluation = set(load("arc1/evaluation").tasks)
    assert sum(ratio[t] <= 0.08 for t in evaluation) == 11


def test_each_epoch_streams_one_whole_puzzle_per_task(arc1_train):
    src = arc1_train
    s = make_sampler(src, "reference", seed=1)
    n = int(s.epoch_length)
    for e in range(2):
        idx = s.indices_at(e * n, n)
        puzzles = np.asarray(src.rows[idx, 0])
        tasks = _task_of_rows(src)[idx]
        frame = pl.DataFrame({"task": tasks, "puzzle": puzzles})
        per_task = frame.group_by("task").agg(pl.col("puzzle").n_unique().alias("puzzles"), pl.len().alias("n"))
        assert per_task["puzzles"].max() == 1  # one puzzle per task per epoch
        assert len(np.unique(idx)) == n  # all of that puzzle's pairs, none twice
        starts = src.puzzles.filter(pl.col("puzzle_id").is_in(np.unique(puzzles).tolist()))
        assert int(starts["example_count"].sum()) == n
    # the chosen puzzles differ from epoch to epoch (seeded), and the seed matters
    assert not np.array_equal(s.indices_at(0, n), s.indices_at(n, n))
    assert not np.array_equal(s.indices_at(0, n), make_sampler(src, "reference", seed=2).indices_at(0, n))
    assert np.array_equal(s.indices_at(0, n), make_sampler(src, "reference", seed=1).indices_at(0, n))


def _toy_groups(sizes_per_group):
    ptr, starts, counts, pos = [0], [], [], 0
    for sizes in sizes_per_group:
        for c in sizes:
            starts.append(pos)
            counts.append(c)
            pos += c
        ptr.append(len(starts))
    names = tuple(f"g{i}" for i in range(len(sizes_per_group)))
    return Groups(names, np.array(ptr), np.array(starts), np.array(counts))


def test_ranks_split_the_stream_without_duplicates_or_gaps():
    g = _toy_groups([[3, 3, 3], [1, 1], [4], [2, 2, 2, 2]])
    one = GroupSampler(g, seed=5)
    ranks = [GroupSampler(g, seed=5) for _ in range(3)]
    rng = np.random.default_rng(0)
    for _ in range(40):
        counts = rng.integers(0, 5, 3)
        whole, _ = one.take([counts.sum()])
        parts = [r.take(counts, rank=i)[0] for i, r in enumerate(ranks)]
        assert np.array_equal(np.concatenate(parts), whole)
    assert all(r.position == one.position for r in ranks)


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5, 1.25]])
def test_state_restores_the_same_continuation(weights):
    # fractional weights make epochs vary in length: the saved cursor must still locate the position
    g = _toy_groups([[3, 3, 3], [1, 1], [4, 2], [2, 2, 2, 2]])
    a = GroupSampler(g, seed=9, weights=None if weights is None else np.array(weights))
    for c in (5, 7, 11, 3, 13, 2):
        a.take([c])
    b = GroupSampler(g, seed=9, weights=None if weights is None else np.array(weights))
    b.restore(a.state())
    assert len(a.state()) <= 3  # small: position and the epoch cursor
    assert np.array_equal(a.take([50])[0], b.take([50])[0])
    fresh = GroupSampler(g, seed=9, weights=None if weights is None else np.array(weights))
    fresh.restore({"position": a.position})  # an older checkpoint (position only) walks from the start
    assert np.array_equal(a.take([20])[0], fresh.take([20])[0])


def test_group_weights_scale_visits_per_epoch():
    g = _toy_groups([[2, 2], [2, 2], [2, 2]])
    s = GroupSampler(g, seed=0, weights=np.array([1.0, 3.0, 0.5]))
    group_of = np.repeat(np.arange(3), 4)
    assert s.epoch_length == pytest.approx(2 * 4.5)
    idx = s.indices_at(0, 9000)
    seen = np.bincount(group_of[idx], minlength=3) / len(idx)
    assert seen == pytest.approx(np.array([1.0, 3.0, 0.5]) / 4.5, abs=0.01)


def test_make_sampler_rules_and_errors(arc1_train):
    assert type(make_sampler(arc1_train, "uniform", 0)) is Sampler
    with pytest.raises(ArcError, match="uniform"):
        make_sampler(arc1_train, "uniform", 0, {"007bbfb7": 2.0})
    with pytest.raises(ArcError, match="not in the training split"):
        make_sampler(arc1_train, "reference", 0, {"no-such-task": 2.0})
    s = make_sampler(arc1_train, "reference", 0, {"007bbfb7": 2.0})
    assert s.weights.sum() == pytest.approx(801)
