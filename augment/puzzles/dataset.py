"""A Sudoku or maze dataset build: base puzzles once, one augmentation record per example.

The build is written like an ARC build (`augment.build`): into a temporary sibling directory,
renamed into place only when complete, with meta.json listing every file's size and a content
fingerprint (an identical build is reused). Files:
    meta.json            format, domain, size, fingerprint, seq_len, vocab_size, num_puzzles (2),
                         split counts, the build config
    puzzles.parquet      the one shared puzzle id (row 0, blank, is not listed)
    questions.npy        (P, cells) uint8 tokens of every base puzzle: train, then val, then test
    answers.npy          (P, cells) uint8 tokens       ratings.npy  (P,) float32
    examples_<split>.npy (E, 1 + width) int32: base puzzle row, then the augmentation record
Splits: train (each training puzzle `augmentations` times, identity first, consecutive: one
sampling group per puzzle, as the reference's loader groups them), val (`val_fraction`
of the training puzzles held out, identity only: checkpoint selection), test (every target
puzzle once, identity; the paper scores Sudoku and mazes without test-time augmentation).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.build import BuildResult, _existing, _write
from arc_pipeline.augment.puzzles.csvfile import PuzzleSet
from arc_pipeline.augment.puzzles.domain import domain
from arc_pipeline.augment.puzzles.tokens import SHARED_PUZZLE_ID, SharedIdSource
from arc_pipeline.augment.source import Batch, Groups

FORMAT = "puzzle-dataset/1"
SPLITS = ("train", "val", "test")


def fingerprint(name: str, train: PuzzleSet, target: PuzzleSet, cfg) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "domain": name, "config": asdict(cfg)}, sort_keys=True).encode())
    for s in (train, target):
        h.update(f"\x00{s.size}\x00{len(s)}".encode())
        for a in (s.questions, s.answers, s.ratings):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def build(name: str, train: PuzzleSet, target: PuzzleSet, cfg, out_dir: str | Path) -> BuildResult:
    """Build (or reuse) the dataset of `train` and `target` sets of domain `name` under [build] `cfg`."""
    start = time.perf_counter()
    dom = domain(name)
    out_dir = Path(out_dir)
    if train.size != target.size:
        raise ArcError(f"training puzzles are {train.size}x{train.size} but target puzzles {target.size}x{target.size}; "
                       "one run takes one size")
    fp = fingerprint(name, train, target, cfg)
    done = _existing(out_dir, fp)
    if done is not None:
        return done
    size, copies = train.size, cfg.augmentations
    if copies > dom.max_augmentations(size):
        raise ArcError(f"build.augmentations = {copies}: a {name} has only {dom.max_augmentations(size)} symmetries "
                       f"(identity included); set build.augmentations <= {dom.max_augmentations(size)}")
    rng = np.random.default_rng([cfg.seed, 0x5D])
    n = len(train)
    n_val = int(round(cfg.val_fraction * n)) if n >= 2 else 0
    held = np.sort(rng.permutation(n)[:n_val])  # held-out training puzzles, by a seeded draw
    keep = np.setdiff1d(np.arange(n), held)
    order = np.concatenate([keep, held])
    questions = np.concatenate([dom.tokens(train.questions[order]), dom.tokens(target.questions)])
    answers = np.concatenate([dom.tokens(train.answers[order]), dom.tokens(target.answers)])
    ratings = np.concatenate([train.ratings[order], target.ratings]).astype(np.float32)
    base = {"train": np.arange(len(keep)), "val": len(keep) + np.arange(n_val), "test": n + np.arange(len(target))}
    rows = {
        "train": np.column_stack([np.repeat(base["train"], copies), dom.sample(len(keep), copies, size, rng)]),
        "val": np.column_stack([base["val"], dom.identity(n_val, size)]),
        "test": np.column_stack([base["test"], dom.identity(len(target), size)]),
    }
    arrays = {"questions.npy": questions, "answers.npy": answers, "ratings.npy": ratings}
    arrays |= {f"examples_{s}.npy": rows[s].astype(np.int32).reshape(-1, 1 + dom.record_width(size)) for s in SPLITS}
    counts = {s: len(rows[s]) for s in SPLITS}
    meta = {"format": FORMAT, "domain": name, "size": size, "fingerprint": fp, "seq_len": size * size,
            "vocab_size": dom.vocab_size(size), "num_puzzles": SharedIdSource.num_puzzles, "counts": counts,
            "puzzles": {"train": len(keep), "val": n_val, "test": len(target)}, "config": asdict(cfg)}
    puzzles = pl.DataFrame({"puzzle_id": [SHARED_PUZZLE_ID], "task_id": [name]})
    _write(out_dir, arrays, puzzles, meta)
    return BuildResult(out_dir, fp, SharedIdSource.num_puzzles, counts, time.perf_counter() - start)


class PuzzleSplit:
    """One split of a puzzle build as an `ExampleSource`: example i is base puzzle rows[i, 0]
    under record rows[i, 1:], made on the fly; independent of the batch seed."""

    num_puzzles = SharedIdSource.num_puzzles

    def __init__(self, name: str, size: int, split: str, questions, answers, ratings, rows, meta: dict):
        self.domain, self.size, self.split, self.meta = domain(name), size, split, meta
        self.questions, self.answers, self.ratings, self.rows = questions, answers, ratings, rows
        self.vocab_size = self.domain.vocab_size(size)

    @property
    def seq_len(self) -> int:
        return self.size * self.size

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, indices: np.ndarray, seed: int) -> Batch:
        r = self.rows[np.asarray(indices)]
        x = self.domain.apply(self.questions[r[:, 0]], r[:, 1:], self.size)
        y = self.domain.apply(self.answers[r[:, 0]], r[:, 1:], self.size)
        return Batch(x, y, np.full(len(r), SHARED_PUZZLE_ID, np.int32))

    def groups(self) -> Groups | None:
        """Each base board a group whose members are its augmented copies (one example each), so the
        reference sampling rule visits every board once per epoch with one random augmentation."""
        if len(self.rows) == 0:
            return None
        base = np.asarray(self.rows[:, 0], np.int64)
        first = np.r_[True, base[1:] != base[:-1]]  # a board's copies are consecutive rows
        if len(np.unique(base)) != int(first.sum()):
            raise ArcError(f"{self.split} split of a {self.domain.name} build: a puzzle's copies are not consecutive; "
                           "rebuild the dataset")
        ptr = np.r_[np.flatnonzero(first), len(base)].astype(np.int64)
        names = tuple(f"{self.domain.name}-{int(b)}" for b in base[first])
        return Groups(names, ptr, np.arange(len(base), dtype=np.int64), np.ones(len(base), np.int64))


def open_split(dataset_dir: str | Path, split: str, meta: dict) -> PuzzleSplit:
    """One split of a puzzle build, checked against its meta.json (`augment.dataset.read_meta`)."""
    from arc_pipeline.augment.dataset import _load

    d = Path(dataset_dir)
    if split not in SPLITS:
        raise ArcError(f"a {meta.get('domain')} build has no {split!r} split; valid: {', '.join(SPLITS)}")
    q, a, r = _load(d, "questions.npy"), _load(d, "answers.npy"), _load(d, "ratings.npy")
    rows = _load(d, f"examples_{split}.npy")
    dom, size = domain(meta["domain"]), int(meta["size"])

    def bad(name: str, why: str) -> ArcError:
        return ArcError(f"{d / name} is inconsistent ({why}); delete {d} and run `arc-pipeline build` again")

    if q.shape != a.shape or q.ndim != 2 or q.shape[1] != size * size or r.shape != (len(q),):
        raise bad("questions.npy", f"questions {q.shape}, answers {a.shape}, ratings {r.shape} for {size}x{size}")
    if len(q) and max(int(q.max()), int(a.max())) >= dom.vocab_size(size):
        raise bad("answers.npy", f"tokens outside the vocabulary of {dom.vocab_size(size)}")
    name = f"examples_{split}.npy"
    if rows.ndim != 2 or rows.shape[1] != 1 + dom.record_width(size) or len(rows) != meta["counts"][split]:
        raise bad(name, f"shape {rows.shape}, expected ({meta['counts'][split]}, {1 + dom.record_width(size)})")
    if len(rows) and (rows[:, 0].min() < 0 or rows[:, 0].max() >= len(q)):
        raise bad(name, "base puzzle row out of range")
    why = dom.check(rows[:, 1:], size)
    if why:
        raise bad(name, why)
    return PuzzleSplit(meta["domain"], size, split, q, a, r, rows, meta)
