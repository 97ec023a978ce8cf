"""The stages for Sudoku and maze data ([data] domain = "sudoku" | "maze").

Each stage module calls `for_run(cfg)` first and hands over to the function of the same name here
when the run is a board run; train and adapt need no hook (a board build opens through
`augment.dataset.open_split` like an ARC build). Artifacts keep the ARC names:
    tasks/train.csv, tasks/target.csv   the validated sets (published CSV layout)
    dataset/                           augment.puzzles.dataset build
    predictions.parquet                one row per target puzzle: row, tokens, text, steps, halt_prob
    score.json, scores.parquet         exact (and for mazes valid-and-optimal) accuracy, per rating bin
    report.html                        boards and mazes drawn, wrong ones first
There is no submission.json: the puzzle sets are not a Kaggle competition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.rundir import (DATASET, METRICS, PREDICTIONS, REPORT_HTML, SCORE_JSON, SCORES_PARQUET, TARGET_CSV,
                                 TRAIN_CSV, RunDir)
from arc_pipeline.stages.contract import Context, StageResult



def for_run(cfg) -> bool:
    """True when the run's data are Sudoku or mazes."""
    return cfg.data.domain != "arc"


def _domain(cfg):
    from arc_pipeline.augment.puzzles.domain import domain

    return domain(cfg.data.domain)


# ---------------------------------------------------------------- ingest


def load_sources(cfg, ctx: Context):
    """(train set, target set, overlapping train rows) from [data]: CSV files or `generate ...` specs."""
    from arc_pipeline.augment.puzzles.domain import is_spec, load, parse_spec

    d, name = cfg.data, cfg.data.domain
    if cfg.run.protocol != "joint":
        raise ArcError(f"run.protocol = {cfg.run.protocol!r}: {name} runs train on the training puzzles and answer "
                       "unseen ones; set run.protocol = \"joint\"")
    if not d.train or not d.target:
        raise ArcError(f"[data] needs train and target sources for a {name} run (CSV files or `generate {name} ...`)")
    generated: dict[str, tuple] = {}

    def part(source: str, split: str):
        if not is_spec(source):
            return load(source, name)
        kind, args = parse_spec(source)
        if kind != name:
            raise ArcError(f"source {source!r} generates {kind} puzzles but data.domain = {name!r}")
        if source not in generated:
            res = _domain(cfg).generate(args, workers=None)
            s = res.summary()
            rate = s.get("puzzles_per_s", s.get("mazes_per_s"))
            ctx.note(f"ingest: generated {s['train']} + {s['test']} {name} puzzles in {s['seconds']} s "
                     f"({rate}/s with {s['workers']} worker(s))")
            generated[source] = (res.train, res.test)
        train, test = generated[source]
        if split == "test" and not len(test):
            raise ArcError(f"target {source!r} has no test puzzles; add --test-count N")
        return train if split == "train" else test

    sources = d.train_sources()
    mixed = next((s for s in sources if s.weight is not None or s.limit or s.demos is not None), None)
    if mixed is not None:
        raise ArcError(f"data.train: {mixed.source}: weight, limit and demos apply to ARC sources; a {name} run "
                       "takes plain CSV files or `generate` specs (use data.limit_train to cut the set)")
    parts = [part(s.source, "train") for s in sources]
    target = part(d.target, "test")
    sizes = {p.size for p in parts} | {target.size}
    if len(sizes) > 1:
        raise ArcError(f"[data] sources hold puzzles of sizes {sorted(sizes)}; one run takes one size")
    train = _concat(parts)
    train, target = _first(train, d.limit_train), _first(target, d.limit_target)
    seen = {q.tobytes() for q in target.questions}
    overlap = np.array([q.tobytes() in seen for q in train.questions], bool)
    return train, target, overlap


def _concat(sets):
    from arc_pipeline.augment.puzzles.csvfile import PuzzleSet

    return PuzzleSet(sets[0].size, np.concatenate([s.questions for s in sets]), np.concatenate([s.answers for s in sets]),
                     np.concatenate([s.ratings for s in sets]), tuple(x for s in sets for x in s.sources))


def _first(s, n: int):
    return s if not n or n >= len(s) else _take(s, np.arange(n))


def _take(s, rows: np.ndarray):
    from arc_pipeline.augment.puzzles.csvfile import PuzzleSet

    return PuzzleSet(s.size, s.questions[rows], s.answers[rows], s.ratings[rows], tuple(s.sources[i] for i in rows))


def ingest(cfg, run_dir: Path, ctx: Context) -> StageResult:
    dom = _domain(cfg)
    train, target, overlap = load_sources(cfg, ctx)
    if overlap.any():
        verb = "kept" if cfg.data.keep_overlap else "dropped"
        ctx.note(f"ingest: {verb} {int(overlap.sum())} training puzzle(s) whose question is a target question"
                 + ("" if cfg.data.keep_overlap else " (data.keep_overlap=true keeps them)"))
        if not cfg.data.keep_overlap:
            train = _take(train, np.flatnonzero(~overlap))
    if not len(train):
        raise ArcError("no training puzzles left after the overlap check; add training sources")
    dom.save(run_dir / TRAIN_CSV, train)
    dom.save(run_dir / TARGET_CSV, target)
    summary = {"domain": dom.name, "size": train.size, "train_puzzles": len(train), "target_puzzles": len(target),
               "train_overlapping": int(overlap.sum()), "target_rating_mean": round(float(target.ratings.mean()), 3)}
    return StageResult([TRAIN_CSV, TARGET_CSV], summary)


def read_sets(cfg, run_dir: Path):
    """The (train, target) sets a finished ingest wrote, validated again."""
    from arc_pipeline.augment.puzzles.domain import load

    for rel in (TRAIN_CSV, TARGET_CSV):
        if not (run_dir / rel).exists():
            raise ArcError(f"{run_dir / rel} is missing; run `arc-pipeline ingest --run-dir {run_dir}` first")
    return load(run_dir / TRAIN_CSV, cfg.data.domain), load(run_dir / TARGET_CSV, cfg.data.domain)


# ---------------------------------------------------------------- build


def build(cfg, run_dir: Path, ctx: Context) -> StageResult:
    from arc_pipeline.augment.puzzles.dataset import build as build_puzzles

    train, target = read_sets(cfg, run_dir)
    result = build_puzzles(cfg.data.domain, train, target, cfg.build, run_dir / DATASET)
    summary = {"puzzles": result.num_puzzles, **{f"{k}_examples": v for k, v in result.counts.items()},
               "seconds": round(result.seconds, 2)}
    return StageResult([DATASET], summary, note="reused an identical build" if result.skipped else "")


# ---------------------------------------------------------------- predict


def predict(cfg, run_dir: Path, ctx: Context) -> StageResult:
    """Every target puzzle once (no test-time augmentation, as in the paper), halting as [predict] says."""
    from arc_pipeline.arc.io import atomic_path
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.predict import predict as predict_split

    rd = RunDir(run_dir)
    path = rd.checkpoint(cfg.run, on_note=lambda note: ctx.note(f"predict: {note}"))
    if path is None:
        raise ArcError(f"{run_dir}: no checkpoint to predict with; run `arc-pipeline train --run-dir {run_dir}` first")
    runtime = setup_runtime(cfg.train.device, cfg.predict.runtime_dtype(cfg.train.dtype))
    result = predict_split(path, open_split(rd.dataset, "test"), runtime, cfg.predict,
                           fingerprint=read_meta(rd.dataset)["fingerprint"],
                           remaining=ctx.remaining if ctx.deadline is not None else None, progress=ctx.progress)
    if runtime.rank == 0:
        with atomic_path(rd.predictions) as tmp:
            result.voted.write_parquet(tmp)
    if result.stopped:
        ctx.note(f"predict: {result.stopped}")
    return StageResult([PREDICTIONS], result.summary, note=result.stopped)


def read_predictions(run_dir: Path, cells: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens (n, cells) with zeros where missing, predicted mask, steps) in target row order."""
    import polars as pl

    tokens, have, steps = np.zeros((n, cells), np.uint8), np.zeros(n, bool), np.zeros(n, np.int16)
    if (run_dir / PREDICTIONS).exists():
        f = pl.read_parquet(run_dir / PREDICTIONS)
        rows = f["row"].to_numpy()
        if len(rows):
            tokens[rows] = np.frombuffer(b"".join(f["tokens"].to_list()), np.uint8).reshape(len(rows), cells)
            have[rows] = True
            steps[rows] = f["steps"].to_numpy()
    return tokens, have, steps


# ---------------------------------------------------------------- submit, score


def submit(cfg, run_dir: Path, ctx: Context) -> StageResult:
    return StageResult([], {"skipped": True}, note=f"{cfg.data.domain} runs have no submission file")


def score(cfg, run_dir: Path, ctx: Context) -> StageResult:
    import polars as pl

    from arc_pipeline.arc.io import atomic_path, write_json
    from arc_pipeline.augment.puzzles.domain import bin_rows

    dom = _domain(cfg)
    _, target = read_sets(cfg, run_dir)
    n = len(target)
    tokens, have, steps = read_predictions(run_dir, target.size * target.size, n)
    cols = {k: v & have for k, v in dom.score(tokens, target).items()}
    metrics = list(cols)

    def rates(mask: np.ndarray) -> dict:
        k = int(mask.sum())
        return {"puzzles": k, **{m: round(float(cols[m][mask].mean()), 4) if k else 0.0 for m in metrics}}

    bins = [{"range": label, **rates(m)} for label, m in bin_rows(target.ratings, dom.edges(target.ratings)) if m.any()]
    out = {"domain": dom.name, "size": target.size, **rates(np.ones(n, bool)), "predicted": int(have.sum()),
           "metrics": metrics, "by_rating": {"name": dom.rating, "bins": bins}}
    if dom.name == "maze":
        out["note"] = ("exact: the labelled path (up/right/down/left tie-break); valid_optimal: any shortest S-G path "
                       "that changes nothing else")
    write_json(run_dir / SCORE_JSON, out, indent=2)
    per = pl.DataFrame({"row": np.arange(n), "rating": target.ratings, "predicted": have, "steps": steps,
                        **{m: cols[m] for m in metrics}})
    with atomic_path(run_dir / SCORES_PARQUET) as tmp:
        per.write_parquet(tmp)
    summary = {"puzzles": n, "predicted": int(have.sum()), **{m: out[m] for m in metrics}}
    return StageResult([SCORE_JSON, SCORES_PARQUET], summary)


# ---------------------------------------------------------------- report


def report(cfg, run_dir: Path, ctx: Context) -> StageResult:
    import json

    from arc_pipeline.arc.io import write_text
    from arc_pipeline.manifest import Manifest
    from arc_pipeline.report.board import BoardReport, render
    from arc_pipeline.report.data import read_curves

    dom = _domain(cfg)
    _, target = read_sets(cfg, run_dir)
    tokens, have, _ = read_predictions(run_dir, target.size * target.size, len(target))
    scores = json.loads((run_dir / SCORE_JSON).read_text()) if (run_dir / SCORE_JSON).exists() else None
    stages = Manifest(run_dir).timeline(leave_out=("report",))
    curves = read_curves({"train": run_dir / METRICS})
    page = BoardReport(f"arc-pipeline run: {run_dir.resolve().name} ({dom.name})", dom, target,
                        np.where(have[:, None], dom.grids(tokens), 0), have, scores, stages, curves)
    write_text(run_dir / REPORT_HTML, render(page))
    return StageResult([REPORT_HTML], {"puzzles": len(target), "curves": len(curves)})
