"""The `build` stage's engine: augmented ARC puzzles as compact arrays, examples made on the fly.

Design: a build stores each base grid once, one augmentation record per puzzle id and one small
integer row per example (puzzle, input grid, output grid, pair, test index). The loader
(`augment.dataset`) turns a batch of example rows into token canvases with one numba kernel. The
reference materialised every token (~6.5 GB for 1000 augmentations); this stores ~1/25 of that and
builds in seconds, and the loader is far faster than a GPU consumes.

Files in the dataset directory (all written to a temporary directory, then renamed into place):
    meta.json          format, fingerprint, canvas, seq_len, vocab_size, num_puzzles, protocol,
                       split counts, config, and the byte size of every other file
    puzzles.parquet    one row per puzzle id: task_id, role, aug_index, dihedral, colors, split,
                       example_start, example_count (its range in that split)
    grids.npy          all base grids, packed (uint8)      grid_index.npy  (G, 3) int64: start, h, w
    augs.npy           (P, 11) uint8 record per puzzle id (row 0 = the blank puzzle, identity)
    examples_<split>.npy  (E, 5) int32: puzzle_id, grid_in, grid_out (-1 = hidden), pair, test_index
    task_index.npy     (T, 6) int64, one row per task in puzzle-id order (TASK_COLUMNS): first puzzle id,
                       puzzles (its augmented copies), split of its examples, first row there, rows per
                       puzzle, role (0 train, 1 target); puzzle k's rows follow at first + k * rows.
                       What the trainer's sampler reads (memory-mapped), instead of puzzles.parquet
    task_ids.npy       (T,) the task ids, UTF-8 bytes
    offsets_<split>.npy   (E, 2) uint8: each example's (row, column) on the canvas, drawn at build time
                       (translation "reference"; zeros where the split is not translated)

Puzzle ids: 0 is blank; then every (task, augmentation) of the training tasks in input order,
then the target tasks. Splits: train (training tasks' pairs, minus the held-out val pairs; with
protocol `joint` also the target demonstrations), val (held-out test pairs of some training
tasks, top-left), adapt (target demonstrations under protocol `pretrain-adapt`), test (every
augmented copy of every target test input, top-left).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal, Mapping

import numpy as np
import polars as pl

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import COUNT, OPTIONAL, SEED, UNIT, Range, option
from arc_pipeline.arc.task import Task
from arc_pipeline.augment.encode import VOCAB
from arc_pipeline.augment.records import SWAPS_AXES, Aug

FORMAT = "arc-dataset/2"  # 2: offsets_<split>.npy (translation drawn at build time)
SPLITS = ("train", "val", "adapt", "test")
EXAMPLE_COLUMNS = ("puzzle_id", "grid_in", "grid_out", "pair", "test_index")
# A chunk (the unit of work and of memory) holds at most CHUNK_TASKS tasks and ~CHUNK_PUZZLES puzzles.
CHUNK_TASKS = 1024
CHUNK_PUZZLES = 200_000
ARRAY_FILES = (("grids.npy", "grid_index.npy", "augs.npy") + tuple(f"examples_{s}.npy" for s in SPLITS)
               + tuple(f"offsets_{s}.npy" for s in SPLITS))
TASK_COLUMNS = ("puzzle", "puzzles", "split", "start", "rows", "role")
INDEX_FILES = ("task_index.npy", "task_ids.npy")  # builds before them have none: read from puzzles.parquet


@dataclass(frozen=True)
class BuildConfig:
    augmentations: int = option(1000, "augmented copies per task, identity included; fewer when a task's symmetry "
                                "allows fewer", COUNT)
    seed: int = option(0, "seed of the augmentations, translations and held-out choice", SEED)
    canvas: int = option(30, "tokens per side; every grid (after transforms) must fit", Range(1, 255))
    protocol: Literal["joint", "pretrain-adapt"] = option("joint", "follows run.protocol (set that one)")
    permute_zero: bool = option(False, "also permute the background colour 0")
    translate: bool = option(True, "random offsets for train/adapt pairs (one shared by input and output)")
    translation: Literal["reference", "per_draw"] = option(
        "reference", '"reference": one offset per example drawn here, at build time, and one randomly chosen pair '
        'per puzzle left at the top-left (the reference\'s builder); "per_draw": a fresh offset at every draw of an '
        "example, pair 0 always top-left (ours before: more positions seen, not what the paper trained)")
    val_fraction: float = option(0.05, "share of training tasks whose test pairs are held out for checkpoint "
                                 "selection", UNIT)
    val_augs: int = option(8, "augmented copies of each held-out pair (identity first)", COUNT)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    fingerprint: str
    num_puzzles: int
    counts: dict[str, int] = field(default_factory=dict)  # examples per split
    seconds: float = 0.0
    skipped: bool = False  # an identical build was already in place


def _fingerprint_head(cfg: BuildConfig, augs: Mapping[str, np.ndarray] | None) -> "hashlib._Hash":
    """The build fingerprint's hash (format, config, the fixed augmentation records when given), to
    which `build` adds every task's `task_blob` in order."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "config": asdict(cfg)}, sort_keys=True).encode())
    for tid in sorted(augs or {}):
        h.update(f"\x00augs\x00{tid}".encode() + np.ascontiguousarray(augs[tid], dtype=np.uint8).tobytes())
    return h


def task_blob(role: str, tid: str, task: Task) -> bytes:
    """What the build fingerprint hashes of one task (id, pair counts, every grid's shape and cells)."""
    parts = [f"\x00{role}\x00{tid}\x00{len(task.train)}\x00{len(task.test)}".encode()]
    for p in (*task.train, *task.test):
        for g in (p.input, p.output):
            if g is None:
                parts.append(b"\x01none")
            else:
                parts.append(np.array(g.shape, dtype=np.int64).tobytes() + np.ascontiguousarray(g).tobytes())
    return b"".join(parts)


def demos_key(task: Task) -> str:
    """Digest of a task's demonstration pairs (as a set): two tasks sharing an id but not their
    demonstrations must not share a trained puzzle row."""
    from arc_pipeline.arc.fingerprint import pair_key

    return hashlib.sha256("|".join(sorted(pair_key(p) for p in task.train)).encode()).hexdigest()[:16]


def _fits(task: Task, canvas: int, role: str) -> None:
    for kind, pairs in (("train", task.train), ("test", task.test)):
        for i, p in enumerate(pairs):
            for g in (p.input, p.output):
                # A dihedral transform may swap the sides, so the longer side must fit.
                if g is not None and max(g.shape) > canvas:
                    raise ArcError(
                        f"{role} task {task.id}, {kind} pair {i}: grid {g.shape[0]}x{g.shape[1]} does not fit the "
                        f"{canvas}x{canvas} canvas; raise build.canvas or drop the task"
                    )


def build(
    train: Mapping[str, Task],
    target: Mapping[str, Task],
    cfg: BuildConfig,
    out_dir: str | Path,
    on_progress: Callable[[int], None] | None = None,
    *,
    augs: Mapping[str, np.ndarray] | None = None,
    workers: int | None = None,
) -> BuildResult:
    """Build the dataset into `out_dir` (one progress unit per task); skip if an identical build is there.

    `train` is a dict or an `arc.store.TaskStore` (read memory-mapped, chunk by chunk: memory stays
    bounded by a chunk, and a killed build of a store resumes with the chunks it finished).
    `augs[task_id]`: that task's (n, 11) records, used as given instead of sampled (evaluating a
    checkpoint on exactly the augmentations it was trained with). `workers`: processes (0 = every
    core; None = every core when there are enough tasks to pay for starting them)."""
    from arc_pipeline.arc.pool import ordered, worker_pool, workers_for
    from arc_pipeline.arc.store import TaskStore
    from arc_pipeline.augment import chunks as ck

    start = time.perf_counter()
    out_dir = Path(out_dir)
    store = train if isinstance(train, TaskStore) else None
    given = {k: np.asarray(v) for k, v in (augs or {}).items()}
    size = max(1, min(CHUNK_TASKS, CHUNK_PUZZLES // cfg.augmentations))  # tasks per chunk
    jobs: list[ck.Chunk] = []
    if store is not None:
        jobs += [ck.Chunk(i, "train", lo, min(lo + size, len(store)), store)
                 for i, lo in enumerate(range(0, len(store), size))]
    else:
        items = list(train.values())
        jobs += [ck.Chunk(i, "train", lo, lo + len(items[lo:lo + size]), None, tuple(items[lo:lo + size]))
                 for i, lo in enumerate(range(0, len(items), size))]
    items = list(target.values())
    jobs += [ck.Chunk(len(jobs) + i, "target", lo, lo + len(items[lo:lo + size]), None, tuple(items[lo:lo + size]))
             for i, lo in enumerate(range(0, len(items), size))]
    work = _work_dir(out_dir, cfg, store, target, given, size)
    n_workers = workers_for(workers, len(train) + len(target) >= 2000)
    try:
        with worker_pool(n_workers) as pool:  # forked: the chunk workers use no polars
            h = _fingerprint_head(cfg, given or None)
            if (out_dir / "meta.json").is_file():  # a build is there: is it this one? (hashing only, no sampling)
                seen = h.copy()
                for blob in ordered(ck.blob_chunk, [(c,) for c in jobs], pool):
                    seen.update(blob)
                existing = _existing(out_dir, seen.hexdigest())
                if existing is not None:
                    shutil.rmtree(work, ignore_errors=True)
                    return existing
            plans = [work / f"plan_{c.index:06d}.npz" for c in jobs]
            calls = [(c,) if plans[c.index].is_file() else (c, cfg, given, plans[c.index]) for c in jobs]
            for c, blob in zip(jobs, ordered(ck.plan_or_blob, calls, pool)):
                h.update(blob)
                if on_progress is not None:
                    on_progress(c.hi - c.lo)
            fp = h.hexdigest()
            counts = np.concatenate([np.load(p)["counts"] for p in plans]) if plans else np.zeros((0, 6), np.int64)
            ids = [*(store.ids if store is not None else train.keys()), *target.keys()]
            n_train = len(train)
            val = _val_tasks(ids[:n_train], counts[:n_train], target, cfg)
            place, totals, index = _layout(counts, n_train, [tid in val for tid in ids[:n_train]], cfg)
            arrays = work / "out"
            _allocate(arrays, totals)
            fills = []
            for c in jobs:
                done = work / f"fill_{c.index:06d}.done"
                if not done.is_file():
                    lo, hi = (c.lo, c.hi) if c.role == "train" else (n_train + c.lo, n_train + c.hi)
                    fills.append((c, cfg, plans[c.index], place.slice(lo, hi), arrays,
                                  work / f"table_{c.index:06d}.npz", done))
            for _ in ordered(ck.fill_chunk, fills, pool):
                pass
        _puzzle_table(work, jobs, plans, place, n_train, arrays / "puzzles.parquet")
        np.save(arrays / "task_index.npy", index, allow_pickle=False)
        np.save(arrays / "task_ids.npy", task_ids(ids), allow_pickle=False)
        meta = {
            "format": FORMAT,
            "fingerprint": fp,
            "canvas": cfg.canvas,
            "seq_len": cfg.canvas * cfg.canvas,
            "vocab_size": VOCAB,
            "num_puzzles": totals["puzzles"],
            "protocol": cfg.protocol,
            "counts": {s: totals[s] for s in SPLITS},
            "tasks": {"train": n_train, "target": len(target), "val": len(val)},
            "translate": {s: cfg.translate and s in ("train", "adapt") for s in SPLITS},
            "translation": cfg.translation,  # reference: offsets_<split>.npy; per_draw: drawn by the loader
            "config": asdict(cfg),
        }
        _finish(out_dir, arrays, meta)
    except BaseException:
        if store is None:  # nothing to resume from: leave no work folder behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return BuildResult(out_dir, fp, meta["num_puzzles"], meta["counts"], time.perf_counter() - start)


def _puzzle_table(work: Path, jobs: list, plans: list[Path], place, n_train: int, path: Path) -> None:
    """puzzles.parquet from the chunks' parts, streamed (one chunk's rows in memory at a time)."""
    from arc_pipeline.augment import chunks as ck

    parts = []
    for c in jobs:
        part = work / f"table_{c.index:06d}.parquet"
        first = c.lo if c.role == "train" else n_train + c.lo
        ck.table_frame(int(place.puzzle[first]), c.role, np.load(plans[c.index])["recs"],
                       np.load(work / f"table_{c.index:06d}.npz")).write_parquet(part, statistics=False)
        parts.append(part)
    if parts:
        pl.scan_parquet(parts).sink_parquet(path, statistics=False)  # one scan: memory does not grow with the parts
    else:
        empty = {"ids": np.zeros(0, str), "demos": np.zeros(0, "S16"), "split": [], "start": [], "count": [], "augs": []}
        ck.table_frame(1, "train", np.zeros((0, 11), np.uint8), empty).write_parquet(path, statistics=False)


def _work_dir(out_dir: Path, cfg: BuildConfig, store, target: Mapping[str, Task], given: dict, size: int) -> Path:
    """The folder a build keeps its chunks in: reused when the same inputs are built again (a killed
    build of a task store resumes), otherwise emptied."""
    from arc_pipeline.arc.fingerprint import tasks_fingerprint

    work = out_dir.parent / f".{out_dir.name}.work"
    if store is None:
        key = f"in-memory {os.getpid()} {time.time_ns()}"  # tasks handed over in memory: never resumed
    else:
        h = hashlib.sha256(json.dumps([FORMAT, asdict(cfg), store.signature(), size, str(store.folder)]).encode())
        h.update(tasks_fingerprint(target.values()).encode())
        for tid in sorted(given):
            h.update(tid.encode() + given[tid].astype(np.uint8).tobytes())
        key = h.hexdigest()
    key_file = work / "key"
    if not (key_file.is_file() and key_file.read_text() == key):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        key_file.write_text(key)
    return work


def _val_tasks(ids: list[str], counts: np.ndarray, target: Mapping[str, Task], cfg: BuildConfig) -> set[str]:
    # Ranked by a hash of (seed, id), so the choice does not depend on input order; a task that
    # is also a target (same id) never validates. counts: train pairs, tests, known tests, ... per task.
    eligible = [tid for tid, c in zip(ids, counts.tolist()) if c[1] and c[2] == c[1] and c[0] and tid not in target]
    if cfg.val_fraction == 0 or len(eligible) < 2:
        return set()
    m = max(1, round(cfg.val_fraction * len(eligible)))
    rank = sorted(eligible, key=lambda tid: hashlib.blake2b(f"val\x00{cfg.seed}\x00{tid}".encode(), digest_size=8).digest())
    return set(rank[:m])


def _exclusive(a: np.ndarray) -> np.ndarray:
    return np.r_[0, np.cumsum(a)[:-1]].astype(np.int64) if len(a) else np.zeros(0, np.int64)


def _layout(counts: np.ndarray, n_train: int, val: list[bool], cfg: BuildConfig):
    """Every task's place (first puzzle id, grid, cell, first row per split) and the totals."""
    n_tr, n_te, known, grids, cells, n_aug = (counts[:, i] for i in range(6))
    role_train = np.arange(len(counts)) < n_train
    is_val = np.zeros(len(counts), dtype=bool)
    is_val[:n_train] = val
    demos = np.where(role_train & ~is_val, n_tr + known, n_tr)
    demo_split = "train" if cfg.protocol == "joint" else "adapt"
    per = {s: np.zeros(len(counts), np.int64) for s in SPLITS}
    per["train"] += np.where(role_train, n_aug * demos, 0)
    per[demo_split] += np.where(~role_train, n_aug * demos, 0)
    per["val"] += np.where(is_val, np.minimum(cfg.val_augs, n_aug) * n_te, 0)
    per["test"] += np.where(~role_train, n_aug * n_te, 0)
    kept = np.where(demos > 0, n_aug, 0)  # puzzles with examples, each keeps one pair at the top-left
    in_train = role_train | (demo_split == "train")
    kept_base = np.where(in_train, _exclusive(np.where(in_train, kept, 0)), _exclusive(np.where(~in_train, kept, 0)))
    totals = {s: int(per[s].sum()) for s in SPLITS}
    place = _Places(1 + _exclusive(n_aug), _exclusive(grids), _exclusive(cells), is_val,
                    {s: _exclusive(per[s]) for s in SPLITS}, kept_base, dict(totals))
    totals.update(puzzles=int(1 + n_aug.sum()), grids=int(grids.sum()), cells=int(cells.sum()))
    split = np.where(role_train, SPLITS.index("train"), SPLITS.index(demo_split))
    index = np.stack([place.puzzle, n_aug, split, np.choose(split, [place.rows[s] for s in SPLITS]), demos,
                      (~role_train).astype(np.int64)], axis=1).astype(np.int64).reshape(-1, len(TASK_COLUMNS))
    return place, totals, index


def task_ids(ids: list[str]) -> np.ndarray:
    """Task ids as one fixed-width bytes array (UTF-8), memory-mappable."""
    return np.array([i.encode() for i in ids], dtype=bytes) if ids else np.zeros(0, dtype="S1")


@dataclass(frozen=True)
class _Places:
    """Every task's place; `slice(lo, hi)` is one chunk's `augment.chunks.Place`."""

    puzzle: np.ndarray
    grid: np.ndarray
    cell: np.ndarray
    val: np.ndarray
    rows: dict
    kept: np.ndarray
    totals: dict

    def slice(self, lo: int, hi: int):
        from arc_pipeline.augment.chunks import Place

        return Place(self.puzzle[lo:hi], self.grid[lo:hi], self.cell[lo:hi], self.val[lo:hi],
                     {s: r[lo:hi] for s, r in self.rows.items()}, self.kept[lo:hi], self.totals)


def _allocate(out: Path, totals: dict) -> None:
    """The output arrays at their final sizes (zeros, filled through memory maps by the chunks);
    kept when already there at those sizes (a resumed build)."""
    shapes = {"grids.npy": ((totals["cells"],), np.uint8), "grid_index.npy": ((totals["grids"], 3), np.int64),
              "augs.npy": ((totals["puzzles"], 11), np.uint8)}
    for s in SPLITS:
        shapes[f"examples_{s}.npy"] = ((totals[s], len(EXAMPLE_COLUMNS)), np.int32)
        shapes[f"offsets_{s}.npy"] = ((totals[s], 2), np.uint8)
    out.mkdir(exist_ok=True)
    for name, (shape, dtype) in shapes.items():
        path = out / name
        if path.is_file():
            try:
                a = np.load(path, mmap_mode="r") if np.prod(shape) else np.load(path)
                if a.shape == shape and a.dtype == dtype:
                    continue
            except (OSError, ValueError):
                pass
        if np.prod(shape) == 0:  # an empty memory map cannot be made
            np.save(path, np.zeros(shape, dtype), allow_pickle=False)
        else:
            np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()
    mm = np.load(out / "augs.npy", mmap_mode="r+")
    mm[0] = Aug.identity().to_row()  # row 0, the blank puzzle
    mm.flush()


def _finish(out_dir: Path, arrays: Path, meta: dict,
            names: tuple[str, ...] = (*ARRAY_FILES, "puzzles.parquet", *INDEX_FILES)) -> None:
    # meta.json last (it lists every file's size), then the finished folder renamed into place.
    meta = {**meta, "files": {name: (arrays / name).stat().st_size for name in names}}
    (arrays / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(arrays, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def extents(rows: np.ndarray, shapes: np.ndarray, augs: np.ndarray) -> np.ndarray:
    """(E, 2) rows x columns each example covers on the canvas: its input and output, transformed."""
    rows = np.asarray(rows, dtype=np.int64)
    extent = np.maximum(shapes[rows[:, 1]], np.where((rows[:, 2] >= 0)[:, None], shapes[np.maximum(rows[:, 2], 0)], 0))
    swap = np.asarray(SWAPS_AXES)[augs[rows[:, 0], 0]]
    return np.where(swap[:, None], extent[:, ::-1], extent)


def _existing(out_dir: Path, fp: str) -> BuildResult | None:
    try:
        meta = json.loads((out_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fp:
        return None
    sizes = meta.get("files", {})
    if meta.get("format") == FORMAT and any(f not in sizes for f in INDEX_FILES):  # from before the task index
        return None
    if any(not (out_dir / f).is_file() or (out_dir / f).stat().st_size != n for f, n in sizes.items()):
        return None
    return BuildResult(out_dir, fp, int(meta["num_puzzles"]), dict(meta["counts"]), 0.0, skipped=True)


def _write(out_dir: Path, arrays: dict[str, np.ndarray], puzzles: pl.DataFrame, meta: dict) -> None:
    # A build held in memory (augment.puzzles): written to a sibling temp dir, then `_finish`ed into place.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, a in arrays.items():
            np.save(tmp / name, np.ascontiguousarray(a), allow_pickle=False)
        puzzles.write_parquet(tmp / "puzzles.parquet", statistics=False)
        _finish(out_dir, tmp, meta, (*arrays, "puzzles.parquet"))
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
