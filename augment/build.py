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
import io
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
from arc_pipeline.arc.fields import COUNT, OPTIONAL, UNIT, Range, option
from arc_pipeline.arc.task import Task
from arc_pipeline.augment.encode import VOCAB
from arc_pipeline.augment.records import SWAPS_AXES, Aug
from arc_pipeline.augment.sample import sample_aug_rows
from arc_pipeline.augment.transform import check_aug_rows

FORMAT = "arc-dataset/2"  # 2: offsets_<split>.npy (translation drawn at build time)
SPLITS = ("train", "val", "adapt", "test")
EXAMPLE_COLUMNS = ("puzzle_id", "grid_in", "grid_out", "pair", "test_index")
ARRAY_FILES = (("grids.npy", "grid_index.npy", "augs.npy") + tuple(f"examples_{s}.npy" for s in SPLITS)
               + tuple(f"offsets_{s}.npy" for s in SPLITS))


@dataclass(frozen=True)
class BuildConfig:
    augmentations: int = option(1000, "augmented copies per task, identity included; fewer when a task's symmetry "
                                "allows fewer", COUNT)
    seed: int = option(0, "seed of the augmentations, translations and held-out choice", OPTIONAL)
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


def fingerprint(train: Mapping[str, Task], target: Mapping[str, Task], cfg: BuildConfig,
                augs: Mapping[str, np.ndarray] | None = None) -> str:
    """Content hash of a build's inputs: format, config, every task (ids, order and grids), and
    the fixed augmentation records when given."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "config": asdict(cfg)}, sort_keys=True).encode())
    for tid in sorted(augs or {}):
        h.update(f"\x00augs\x00{tid}".encode() + np.ascontiguousarray(augs[tid], dtype=np.uint8).tobytes())
    for role, tasks in (("train", train), ("target", target)):
        for tid, task in tasks.items():
            h.update(f"\x00{role}\x00{tid}\x00{len(task.train)}\x00{len(task.test)}".encode())
            for p in (*task.train, *task.test):
                for g in (p.input, p.output):
                    if g is None:
                        h.update(b"\x01none")
                    else:
                        h.update(np.array(g.shape, dtype=np.int64).tobytes() + np.ascontiguousarray(g).tobytes())
    return h.hexdigest()


def _val_tasks(train: Mapping[str, Task], target: Mapping[str, Task], cfg: BuildConfig) -> set[str]:
    # Ranked by a hash of (seed, id), so the choice does not depend on input order; a task that
    # is also a target (same id) never validates.
    eligible = [tid for tid, t in train.items() if t.test and t.has_solutions and t.train and tid not in target]
    if cfg.val_fraction == 0 or len(eligible) < 2:
        return set()
    m = max(1, round(cfg.val_fraction * len(eligible)))
    rank = sorted(eligible, key=lambda tid: hashlib.blake2b(f"val\x00{cfg.seed}\x00{tid}".encode(), digest_size=8).digest())
    return set(rank[:m])


class _Grids:
    """Accumulates base grids into the packed layout."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.index: list[tuple[int, int, int]] = []
        self.size = 0

    def add(self, g: np.ndarray | None) -> int:
        if g is None:
            return -1
        self.chunks.append(np.ascontiguousarray(g, dtype=np.uint8).ravel())
        self.index.append((self.size, g.shape[0], g.shape[1]))
        self.size += g.size
        return len(self.index) - 1


def demos_key(task: Task) -> str:
    """Digest of a task's demonstration pairs (as a set): two tasks sharing an id but not their
    demonstrations must not share a trained puzzle row."""
    from arc_pipeline.arc.fingerprint import pair_key

    return hashlib.sha256("|".join(sorted(pair_key(p) for p in task.train)).encode()).hexdigest()[:16]


def _rows(puzzles: np.ndarray, pairs: list[tuple[int, int, int, int]]) -> np.ndarray:
    # Every pair for every puzzle, puzzle-major: (puzzle, grid_in, grid_out, pair, test_index).
    if len(puzzles) == 0 or not pairs:
        return np.zeros((0, 5), dtype=np.int32)
    p = np.asarray(pairs, dtype=np.int32)
    out = np.empty((len(puzzles), len(p), 5), dtype=np.int32)
    out[:, :, 0] = np.asarray(puzzles, dtype=np.int32)[:, None]
    out[:, :, 1:] = p[None, :, :]
    return out.reshape(-1, 5)


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
) -> BuildResult:
    """Build the dataset into `out_dir` (one progress unit per task); skip if an identical build is there.

    `augs[task_id]`: that task's (n, 11) records, used as given instead of sampled (evaluating a
    checkpoint on exactly the augmentations it was trained with)."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    fp = fingerprint(train, target, cfg, augs)
    existing = _existing(out_dir, fp)
    if existing is not None:
        return existing
    val = _val_tasks(train, target, cfg)
    grids = _Grids()
    puzzle_rows: list[np.ndarray] = []  # (n, 11) records, in puzzle-id order
    table: dict[str, list] = {k: [] for k in ("task_id", "role", "aug_index", "split", "example_start", "example_count",
                                              "demos")}
    examples: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    counts = dict.fromkeys(SPLITS, 0)
    next_id = 1
    demo_split = "train" if cfg.protocol == "joint" else "adapt"
    for role, tasks in (("train", train), ("target", target)):
        for task in tasks.values():
            _fits(task, cfg.canvas, role)
            if augs is not None and task.id in augs:  # e.g. exactly those an imported checkpoint trained
                recs = check_aug_rows(augs[task.id])
            else:
                recs = sample_aug_rows(task, cfg.augmentations, cfg.seed, permute_zero=cfg.permute_zero)
            ids = np.arange(next_id, next_id + len(recs))
            next_id += len(recs)
            puzzle_rows.append(recs)
            demos = [(grids.add(p.input), grids.add(p.output), i, -1) for i, p in enumerate(task.train)]
            k = len(task.train)
            tests = [(grids.add(p.input), grids.add(p.output), k + j, j) for j, p in enumerate(task.test)]
            if role == "train":
                split = "train"
                if task.id in val:
                    held = _rows(ids[: cfg.val_augs], tests)
                    examples["val"].append(held)
                    counts["val"] += len(held)
                else:
                    # known test pairs of training tasks are demonstrations like any other
                    demos += [(gi, go, pair, -1) for gi, go, pair, _ in tests if go >= 0]
            else:
                split = demo_split
                held = _rows(ids, tests)
                examples["test"].append(held)
                counts["test"] += len(held)
            rows = _rows(ids, demos)
            table["task_id"] += [task.id] * len(ids)
            table["demos"] += [demos_key(task)] * len(ids)
            table["role"] += [role] * len(ids)
            table["aug_index"] += list(range(len(ids)))
            table["split"] += [split] * len(ids)
            table["example_start"] += list(counts[split] + np.arange(len(ids)) * len(demos))
            table["example_count"] += [len(demos)] * len(ids)
            examples[split].append(rows)
            counts[split] += len(rows)
            if on_progress is not None:
                on_progress(1)
    augs = np.concatenate([Aug.identity().to_row()[None, :], *puzzle_rows])
    arrays = {
        "grids.npy": np.concatenate(grids.chunks) if grids.chunks else np.zeros(0, np.uint8),
        "grid_index.npy": np.asarray(grids.index, dtype=np.int64).reshape(-1, 3),
        "augs.npy": augs,
    }
    for s in SPLITS:
        arrays[f"examples_{s}.npy"] = np.concatenate(examples[s]) if examples[s] else np.zeros((0, 5), np.int32)
    translated = {s: cfg.translate and s in ("train", "adapt") for s in SPLITS}
    for i, s in enumerate(SPLITS):
        moved = translated[s] and cfg.translation == "reference"
        in_split = np.asarray(table["split"]) == s
        ranges = (np.asarray(table["example_start"], dtype=np.int64)[in_split], np.asarray(table["example_count"], dtype=np.int64)[in_split])
        arrays[f"offsets_{s}.npy"] = build_offsets(arrays[f"examples_{s}.npy"], arrays["grid_index.npy"], augs, ranges,
                                                   cfg.canvas, np.random.default_rng([cfg.seed, 0x7E, i])) if moved \
            else np.zeros((len(arrays[f"examples_{s}.npy"]), 2), np.uint8)
    puzzles = pl.DataFrame(
        {
            "puzzle_id": np.arange(1, len(augs), dtype=np.int32),
            "task_id": table["task_id"],
            "role": table["role"],
            "aug_index": np.asarray(table["aug_index"], dtype=np.int32),
            "dihedral": augs[1:, 0],
            "colors": augs[1:, 1:],
            "split": table["split"],
            "example_start": np.asarray(table["example_start"], dtype=np.int64),
            "example_count": np.asarray(table["example_count"], dtype=np.int32),
            "demos": table["demos"],  # what the task's demonstrations are: ids alone do not identify a task
        }
    )
    meta = {
        "format": FORMAT,
        "fingerprint": fp,
        "canvas": cfg.canvas,
        "seq_len": cfg.canvas * cfg.canvas,
        "vocab_size": VOCAB,
        "num_puzzles": int(len(augs)),
        "protocol": cfg.protocol,
        "counts": counts,
        "tasks": {"train": len(train), "target": len(target), "val": len(val)},
        "translate": translated,
        "translation": cfg.translation,  # reference: offsets_<split>.npy; per_draw: drawn by the loader
        "config": asdict(cfg),
    }
    _write(out_dir, arrays, puzzles, meta)
    return BuildResult(out_dir, fp, int(len(augs)), counts, time.perf_counter() - start)


def extents(rows: np.ndarray, shapes: np.ndarray, augs: np.ndarray) -> np.ndarray:
    """(E, 2) rows x columns each example covers on the canvas: its input and output, transformed."""
    rows = np.asarray(rows, dtype=np.int64)
    extent = np.maximum(shapes[rows[:, 1]], np.where((rows[:, 2] >= 0)[:, None], shapes[np.maximum(rows[:, 2], 0)], 0))
    swap = np.asarray(SWAPS_AXES)[augs[rows[:, 0], 0]]
    return np.where(swap[:, None], extent[:, ::-1], extent)


def build_offsets(rows: np.ndarray, grid_index: np.ndarray, augs: np.ndarray, ranges: tuple[np.ndarray, np.ndarray],
                  canvas: int, rng: np.random.Generator) -> np.ndarray:
    """(E, 2) uint8 offsets, one per example row, uniform over where its transformed input and output
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


def _existing(out_dir: Path, fp: str) -> BuildResult | None:
    try:
        meta = json.loads((out_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("fingerprint") != fp:
        return None
    sizes = meta.get("files", {})
    if any(not (out_dir / f).is_file() or (out_dir / f).stat().st_size != n for f, n in sizes.items()):
        return None
    return BuildResult(out_dir, fp, int(meta["num_puzzles"]), dict(meta["counts"]), 0.0, skipped=True)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def _write(out_dir: Path, arrays: dict[str, np.ndarray], puzzles: pl.DataFrame, meta: dict) -> None:
    # Everything goes to a sibling temp dir first; only a complete build is renamed into place.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir()
    try:
        sizes = {}
        for name, a in arrays.items():
            data = _npy_bytes(a)
            (tmp / name).write_bytes(data)
            sizes[name] = len(data)
        puzzles.write_parquet(tmp / "puzzles.parquet", statistics=False)
        sizes["puzzles.parquet"] = (tmp / "puzzles.parquet").stat().st_size
        meta = {**meta, "files": sizes}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    finally:
        for p in (tmp, old):
            if p.exists():
                shutil.rmtree(p)
