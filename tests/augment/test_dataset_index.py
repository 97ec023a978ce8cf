"""Reading a build for training: the sampler's groups from the task index (one row per task, memory-
mapped) are today's groups from puzzles.parquet and give the same draws; the large arrays are memory-
mapped and a batch checks the rows it reads; the sampler's memory does not grow with the puzzles."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load
from arc_pipeline.augment.build import INDEX_FILES, BuildConfig, build
from arc_pipeline.augment.dataset import open_split, read_puzzles
from arc_pipeline.augment.source import Groups, UniformGroups
from arc_pipeline.solver.sampler import GroupSampler, make_sampler

CFG = BuildConfig(augmentations=6, val_fraction=0.2)


def groups_from_puzzles(dataset: Path, split: str) -> Groups | None:
    """The twin: the sampler's groups as the trainer built them before the task index (main at d8d7e7a),
    one row per puzzle read from puzzles.parquet."""
    p = read_puzzles(dataset).filter((pl.col("split") == split) & (pl.col("example_count") > 0)).sort("puzzle_id")
    if p.height == 0:
        return None
    key = (p["role"] + "\x00" + p["task_id"]).to_numpy()
    first = np.r_[True, key[1:] != key[:-1]]
    ptr = np.r_[np.flatnonzero(first), len(key)].astype(np.int64)
    starts, counts = p["example_start"].to_numpy().astype(np.int64), p["example_count"].to_numpy().astype(np.int64)
    return Groups(tuple(p["task_id"].to_numpy()[first].tolist()), ptr, starts, counts)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """ARC-AGI-1's first 40 training tasks (8 held out for val) and 6 evaluation tasks, both protocols."""
    root = tmp_path_factory.mktemp("index")
    train = dict(list(load("arc1/training").tasks.items())[:40])
    target = dict(list(load("arc1/evaluation").tasks.items())[:6])
    build(train, target, CFG, root / "joint", workers=1)
    build(train, target, replace(CFG, protocol="pretrain-adapt", seed=4), root / "adapt", workers=1)
    return root


def _expand(g: UniformGroups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ptr, starts, counts) of every puzzle, spelt out."""
    count = g.puzzles()
    group = np.repeat(np.arange(len(g)), count)
    k = np.arange(int(count.sum())) - np.repeat(np.r_[0, np.cumsum(count)[:-1]], count)
    starts, counts = g.ranges(group, k)
    return np.r_[0, np.cumsum(count)], starts, counts


@pytest.mark.parametrize("name,split", [("joint", "train"), ("adapt", "train"), ("adapt", "adapt")])
def test_groups_from_the_index_are_the_groups_from_puzzles_parquet(builds, name, split):
    src = open_split(builds / name, split)
    new, old = src.groups(), groups_from_puzzles(builds / name, split)
    assert isinstance(new, UniformGroups) and len(new) == len(old) > 0
    assert new.names == old.names
    for a, b in zip(_expand(new), (old.ptr, old.starts, old.counts)):
        assert np.array_equal(a, b)
    assert np.array_equal(new.mean_pairs(), old.mean_pairs()) and new.rows() == old.rows() == len(src)
    assert open_split(builds / name, "val").groups() is None  # held-out pairs are no training groups


@pytest.mark.parametrize("weights", [None, "fractional"])
def test_the_sampler_draws_the_same_stream_from_either(builds, weights):
    src = open_split(builds / "joint", "train")
    old = groups_from_puzzles(builds / "joint", "train")
    w = None if weights is None else np.random.default_rng(1).uniform(0.2, 2.5, len(old))
    for seed in (0, 7):
        a, b = GroupSampler(src.groups(), seed, weights=w), GroupSampler(old, seed, weights=w)
        assert a.epoch_length == b.epoch_length
        for take in ([768], [100, 300], [5000], [1, 2, 3]):  # several epochs, ranks
            for rank in range(len(take)):
                assert np.array_equal(a.take(take, rank)[0], b.take(take, rank)[0])
        assert a.state() == b.state()
    named = {src.groups().names[3]: 2.5}  # weights by task id reach the same groups
    assert np.array_equal(make_sampler(src, "reference", 3, named).take([4000])[0],
                          GroupSampler(old, 3, weights=np.where(np.arange(len(old)) == 3, 2.5, 1.0)).take([4000])[0])


def test_a_build_from_before_the_index_reads_its_groups_from_puzzles_parquet(builds, tmp_path):
    d = tmp_path / "old"
    d.mkdir()
    for f in (builds / "joint").iterdir():
        if f.name not in INDEX_FILES:
            (d / f.name).write_bytes(f.read_bytes())
    meta = json.loads((d / "meta.json").read_text())
    for n in INDEX_FILES:
        del meta["files"][n]
    (d / "meta.json").write_text(json.dumps(meta))
    new, old = open_split(builds / "joint", "train"), open_split(d, "train")
    assert new.groups().names == old.groups().names
    assert np.array_equal(GroupSampler(new.groups(), 5).take([3000])[0], GroupSampler(old.groups(), 5).take([3000])[0])


def test_the_large_arrays_are_memory_mapped(builds):
    src = open_split(builds / "joint", "train")
    for a in (src.rows, src.augs, src.offsets, src.grids.data, *src.tasks):
        assert isinstance(a, np.memmap) and a.filename is not None, type(a)
    g = src.groups()  # every task of a joint build trains: the group arrays are views of the mapped index
    assert all(isinstance(a.base, np.memmap) or isinstance(a, np.memmap) for a in (g.first, g.size, g.count))


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _poke(path: Path, row: int, col: int, value: int) -> None:
    a = np.load(path, mmap_mode="r+")
    a[row, col] = value
    a.flush()


def test_a_batch_checks_the_rows_it_reads_and_names_the_file(builds, tmp_path):
    good = open_split(builds / "joint", "train")
    n = len(good)
    d = _copy(builds / "joint", tmp_path / "rows")
    _poke(d / "examples_train.npy", n - 1, 1, 10**6)  # a grid index past the end
    src = open_split(d, "train")  # opening reads no row
    src.batch(np.arange(100), 0)
    with pytest.raises(ArcError, match="examples_train.npy is inconsistent .grid index out of range"):
        src.batch(np.array([0, n - 1]), 0)
    d = _copy(builds / "joint", tmp_path / "augs")
    _poke(d / "augs.npy", int(good.rows[5, 0]), 3, 0)  # colour 2 -> 0, as colour 0 is: no permutation
    with pytest.raises(ArcError, match="augs.npy is inconsistent .every colour map"):
        open_split(d, "train").batch(np.array([5]), 0)
    d = _copy(builds / "joint", tmp_path / "offsets")
    _poke(d / "offsets_train.npy", 7, 0, 29)
    with pytest.raises(ArcError, match="offsets_train.npy is inconsistent .an example does not fit"):
        open_split(d, "train").batch(np.array([7]), 0)
    d = _copy(builds / "joint", tmp_path / "index")
    _poke(d / "task_index.npy", 0, 4, 99)  # rows per puzzle of the first task
    with pytest.raises(ArcError, match="task_index.npy: its train ranges cover"):
        open_split(d, "train").groups()


_MEASURE = """
import resource, numpy as np
from arc_pipeline.augment.dataset import open_split
from arc_pipeline.solver.sampler import make_sampler
def anon():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("RssAnon:"))
open_split({warm!r}, "train").batch(np.arange(4), 0)  # numba's kernel loaded, imports done
before = anon()
src = open_split({d!r}, "train")
s = make_sampler(src, "reference", 0)
for step in range(20):
    src.batch(s.take([768])[0], step)
print(anon() - before)
"""


@pytest.mark.integration
def test_the_samplers_memory_does_not_grow_with_the_puzzles(tmp_path, builds):
    """40 then 400 tasks x 300 augmentations (12k then 120k puzzle ids): in a fresh process, opening the
    split, building the sampler and drawing 20 batches of 768 adds private (anonymous) memory that does
    not grow with the puzzles: the per-task arrays and an epoch's order are a few KB per 100 tasks. (Read
    as before the index, puzzles.parquet's rows and augs/offsets loaded whole, the same run added 12 MB at
    40 tasks and 80 MB at 400; here 1.4 and 1.5 MB.)"""
    tasks = list(load("arc1/training").tasks.items())
    target = dict(list(load("arc1/evaluation").tasks.items())[:2])
    growth = []
    for n in (40, 400):
        build(dict(tasks[:n]), target, BuildConfig(augmentations=300, val_fraction=0.0), tmp_path / str(n))
        code = _MEASURE.format(warm=str(builds / "joint"), d=str(tmp_path / str(n)))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        growth.append(int(out.stdout.strip().splitlines()[-1]))
    assert growth[1] - growth[0] < 4e6, f"private memory grew {growth[0] / 1e6:.1f} -> {growth[1] / 1e6:.1f} MB"
