"""The build in chunks: byte-identical to the one-pass build it replaced (pinned digests on ARC-AGI-1),
at any chunking and worker count, from a memory-mapped task store, and resumed after a kill. The task
index (task_index.npy, task_ids.npy) came after: meta.json is pinned without its two entries, so the
pins show the rest unchanged, and the index is pinned beside them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import arc_pipeline.augment.build as B
from arc_pipeline.arc.load import load
from arc_pipeline.arc.store import StoreWriter, TaskStore
from arc_pipeline.augment import chunks
from arc_pipeline.augment.build import INDEX_FILES, BuildConfig, build, extents

# sha256 prefixes of every file of the one-pass build (main at 9079257, before the chunked build)
# of arc1/training -> arc1/evaluation, BuildConfig(augmentations=2); puzzles.parquet and meta.json as
# _bytes reads them (re-pinned from the byte pins' build under polars 2.1.0, whose bytes matched the
# one-pass build's: polars 2.2.0 writes the same rows as other bytes).
PINNED = {
    "augs.npy": "e78e05ad68c76658", "examples_adapt.npy": "39d0bd995b39dc89", "examples_test.npy": "29b12f5b9601dccd",
    "examples_train.npy": "ee199feda6d94aaa", "examples_val.npy": "3a7c55b9daad6c9d", "grid_index.npy": "521267188f3d9dbf",
    "grids.npy": "4a8dc059bba9253d", "meta.json": "949802e0655accd1", "offsets_adapt.npy": "08c1de8ae5cdf18d",
    "offsets_test.npy": "f27c0beafece1039", "offsets_train.npy": "9161095c5d0b0636", "offsets_val.npy": "b2c7f58571f5d859",
    "puzzles.parquet": "c1476893995726b0", "task_ids.npy": "956de3f8deacd74b", "task_index.npy": "5368d2cb426078a8",
}
# the same with arc1/training + conceptarc, three configurations (slow)
PINNED_MORE = {
    "joint8": (BuildConfig(augmentations=8), {
        "augs.npy": "4316be59a8c0a663", "examples_test.npy": "f7d056b1dc232439", "examples_train.npy": "96d9ce7c23f85e46",
        "examples_val.npy": "332398b0934ea3e4", "meta.json": "63fb055bf7eae2ce", "offsets_train.npy": "0f21d68db6ded310",
        "puzzles.parquet": "a58eda3c70383ac6", "grids.npy": "075d2871a93694ec", "grid_index.npy": "7b0b0fa8c3f9bd1e"}),
    "adapt5": (BuildConfig(augmentations=5, seed=3, protocol="pretrain-adapt"), {
        "augs.npy": "60940bfced422df3", "examples_adapt.npy": "bb6d03d77158db79", "examples_train.npy": "bbe74961fcbd1a30",
        "meta.json": "6420794da8f3af1f", "offsets_adapt.npy": "4e03b35f22368d3d", "offsets_train.npy": "20aabb5fd65e8e13",
        "puzzles.parquet": "68615f3c177c27a9"}),
    "perdraw3": (BuildConfig(augmentations=3, translation="per_draw", val_fraction=0.1), {
        "augs.npy": "0a8ff12244a7f82c", "examples_train.npy": "c95edc69cc5bbf88", "examples_val.npy": "3e6fc0c5be22c8e1",
        "meta.json": "50895f8e610310fe", "offsets_train.npy": "37ed21d99b710362", "puzzles.parquet": "6678e81abb201f37"}),
}


def _bytes(f: Path) -> bytes:
    """What is pinned of a file: its bytes; puzzles.parquet's rows and schema (polars versions write
    the same rows as different bytes); meta.json less the entries that came after the one-pass build
    (the task index's) or that follow the parquet writer (the parquet file's size)."""
    if f.name == "puzzles.parquet":
        frame = pl.read_parquet(f)
        return json.dumps({"schema": {k: str(v) for k, v in frame.schema.items()},
                           "rows": frame.to_dict(as_series=False)}, sort_keys=True).encode()
    if f.name != "meta.json":
        return f.read_bytes()
    meta = json.loads(f.read_text())
    assert all(meta["files"].pop(n) == (f.parent / n).stat().st_size for n in (*INDEX_FILES, "puzzles.parquet"))
    return json.dumps(meta, indent=1, sort_keys=True).encode()


def digests(d: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(_bytes(f)).hexdigest()[:16] for f in sorted(d.iterdir())}


def files(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(d.iterdir())}


def test_arc1_build_is_byte_identical_to_the_one_pass_build(tmp_path):
    build(dict(load("arc1/training").tasks), dict(load("arc1/evaluation").tasks), BuildConfig(augmentations=2),
          tmp_path / "ds", workers=1)
    assert digests(tmp_path / "ds") == PINNED


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PINNED_MORE))
def test_more_arc1_builds_are_byte_identical_to_the_one_pass_build(name, tmp_path):
    cfg, want = PINNED_MORE[name]
    train = {**load("arc1/training").tasks, **load("conceptarc").tasks}
    build(train, dict(load("arc1/evaluation").tasks), cfg, tmp_path / "ds", workers=2)
    got = digests(tmp_path / "ds")
    assert {k: got[k] for k in want} == want


@pytest.fixture(scope="module")
def small():
    train = dict(list(load("arc1/training").tasks.items())[:30])
    target = dict(list(load("arc1/evaluation").tasks.items())[:5])
    return train, target


@pytest.fixture(scope="module")
def reference(small, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("ref") / "ds"
    build(*small, BuildConfig(augmentations=6, val_fraction=0.2), out, workers=1)
    return files(out)


def _store(tasks: dict, folder: Path) -> TaskStore:
    w = StoreWriter(folder)
    for k, t in tasks.items():
        w.add(k, t)
    w.close()
    return TaskStore(folder)


def test_any_chunking_worker_count_and_a_task_store_give_the_same_bytes(small, reference, tmp_path, monkeypatch):
    monkeypatch.setattr(B, "CHUNK_TASKS", 4)  # 8 training chunks + 2 target chunks
    build(*small, BuildConfig(augmentations=6, val_fraction=0.2), tmp_path / "a", workers=2)
    assert files(tmp_path / "a") == reference
    store = _store(small[0], tmp_path / "store")
    build(store, small[1], BuildConfig(augmentations=6, val_fraction=0.2), tmp_path / "b", workers=1)
    assert files(tmp_path / "b") == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "store"]  # no work folders left


def test_a_killed_build_of_a_store_resumes_with_its_finished_chunks(small, reference, tmp_path, monkeypatch):
    monkeypatch.setattr(B, "CHUNK_TASKS", 4)
    store = _store(small[0], tmp_path / "store")
    cfg = BuildConfig(augmentations=6, val_fraction=0.2)
    fill, planned, filled = chunks.fill_chunk, [], []

    def dies_on_the_fourth(chunk, *a):
        if len(filled) == 3:
            raise KeyboardInterrupt  # as a kill would stop it
        filled.append(chunk.index)
        return fill(chunk, *a)

    monkeypatch.setattr(chunks, "fill_chunk", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        build(store, small[1], cfg, tmp_path / "ds", workers=1)
    assert (tmp_path / ".ds.work").is_dir() and not (tmp_path / "ds").exists()
    plan = chunks.plan_chunk
    monkeypatch.setattr(chunks, "plan_chunk", lambda c, *a: planned.append(c.index) or plan(c, *a))
    monkeypatch.setattr(chunks, "fill_chunk", lambda c, *a: filled.append(c.index) or fill(c, *a))
    build(store, small[1], cfg, tmp_path / "ds", workers=1)
    assert planned == [] and filled[:3] == [0, 1, 2] and filled[3:] == list(range(3, 10))
    assert files(tmp_path / "ds") == reference
    assert not (tmp_path / ".ds.work").exists()


def build_offsets(rows: np.ndarray, grid_index: np.ndarray, augs: np.ndarray, ranges: tuple[np.ndarray, np.ndarray],
                  canvas: int, rng: np.random.Generator) -> np.ndarray:
    """The twin (the one-pass build's drawing, kept here since the build draws chunk by chunk): (E, 2)
    uint8 offsets, one per example row, uniform over where its transformed input and output
    both fit; in every puzzle's row range (starts, counts) one pair, chosen at random, stays at (0, 0)."""
    out = np.zeros((len(rows), 2), dtype=np.uint8)
    if len(rows) == 0:
        return out
    room = canvas - extents(rows, grid_index[:, 1:], augs) + 1  # number of valid offsets per axis
    out[:] = np.floor(rng.random((len(rows), 2)) * room).astype(np.uint8)
    starts, counts = ranges
    keep = counts > 0
    home = starts[keep] + np.floor(rng.random(int(keep.sum())) * counts[keep]).astype(np.int64)
    out[home] = 0
    return out


def test_chunked_offsets_are_the_one_pass_offsets(small, reference, tmp_path):
    """The numpy twin: build_offsets draws a whole split from one generator; the chunks advance it."""
    d = tmp_path / "ds"
    d.mkdir()
    for name, data in reference.items():
        (d / name).write_bytes(data)
    import polars as pl

    p = pl.read_parquet(d / "puzzles.parquet").filter(pl.col("split") == "train")
    rows, index, augs = np.load(d / "examples_train.npy"), np.load(d / "grid_index.npy"), np.load(d / "augs.npy")
    ranges = (p["example_start"].to_numpy(), p["example_count"].to_numpy().astype(np.int64))
    whole = build_offsets(rows, index, augs, ranges, 30, np.random.default_rng([0, chunks.OFFSET_STREAM, 0]))
    assert np.array_equal(whole, np.load(d / "offsets_train.npy"))


def test_an_identical_rebuild_is_found_by_hashing_alone(small, reference, tmp_path, monkeypatch):
    cfg = BuildConfig(augmentations=6, val_fraction=0.2)
    build(*small, cfg, tmp_path / "ds", workers=1)
    planned = []
    monkeypatch.setattr(chunks, "plan_chunk", lambda c, *a: planned.append(c.index))  # sampling: the costly part
    assert build(*small, cfg, tmp_path / "ds", workers=1).skipped and planned == []
    assert files(tmp_path / "ds") == reference
