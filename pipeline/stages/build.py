"""build: the augmented dataset (dataset/) from the ingested tasks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.rundir import DATASET, TASKS, RunDir
from arc_pipeline.stages import boards
from arc_pipeline.stages.contract import Context, Stage, StageResult


def run(cfg, run_dir: str | Path, ctx: Context | None = None, workers: int | None = None) -> StageResult:
    if boards.for_run(cfg):  # Sudoku or mazes
        return boards.build(cfg, Path(run_dir), ctx or Context())
    from arc_pipeline.augment.build import build

    ctx = ctx or Context()
    rd = RunDir(run_dir)
    train, target = rd.tasks()
    bcfg = cfg.build
    if bcfg.protocol != cfg.run.protocol:  # one source of truth: [run] protocol
        bcfg = dataclasses.replace(bcfg, protocol=cfg.run.protocol)
    train, target, unfit = fitting(train, target, bcfg.canvas)
    if unfit:
        ctx.note(f"build: left out {len(unfit)} task(s) with a grid larger than the {bcfg.canvas}x{bcfg.canvas} "
                 f"canvas ({', '.join(f'{k}: {v}' for k, v in list(unfit.items())[:3])}{' ...' if len(unfit) > 3 else ''}); "
                 "a target task left out answers with its test input (raise build.canvas to keep them)")
    augs = None
    if cfg.run.protocol == "joint" and cfg.run.checkpoint:  # evaluated as is: on its own augmentations
        augs = checkpoint_augs(Path(cfg.run.checkpoint), target, bcfg.canvas)
        ctx.note(f"build: augmentations of {len(augs)} task(s) taken from checkpoint {cfg.run.checkpoint}")
    with ctx.progress("build", len(train) + len(target), unit="task") as advance:
        result = build(train, target, bcfg, rd.dataset, on_progress=advance, augs=augs, workers=workers)
    summary = {"puzzles": result.num_puzzles, **{f"{k}_examples": v for k, v in result.counts.items()},
               "seconds": round(result.seconds, 2)}
    if unfit:
        summary["unfit_tasks"] = sorted(unfit)
    return StageResult([DATASET], summary, note="reused an identical build" if result.skipped else "")


def fitting(train: dict, target: dict, canvas: int) -> tuple[dict, dict, dict[str, str]]:
    """(train, target) without the tasks holding a grid longer than `canvas` on a side (a dihedral
    transform may turn it), and those tasks: "train|target id" -> the grid. One such task falls back
    alone (submit answers it with its test input) instead of failing the build; none left is an ArcError."""
    def big(task) -> str | None:
        for kind, pairs in (("train", task.train), ("test", task.test)):
            for i, p in enumerate(pairs):
                for g in (p.input, p.output):
                    if g is not None and max(g.shape) > canvas:
                        return f"{kind} pair {i} is {g.shape[0]}x{g.shape[1]}"
        return None

    unfit: dict[str, str] = {}
    kept = []
    for role, tasks in (("train", train), ("target", target)):
        keep = {}
        for tid, task in tasks.items():
            why = big(task)
            if why is None:
                keep[tid] = task
            else:
                unfit[f"{role} {tid}"] = why
        kept.append(keep)
    if target and not kept[1]:
        raise ArcError(f"no target task fits the {canvas}x{canvas} canvas (e.g. {next(iter(unfit.values()))}); "
                       f"raise build.canvas (a checkpoint fixes it: pre-train at the canvas the tasks need)")
    return kept[0], kept[1], unfit


def checkpoint_augs(path: Path, target, canvas: int) -> dict:
    """task id -> the (n, 11) records a checkpoint's puzzle rows hold (in its aug_index order), for
    a build whose puzzles must be the checkpoint's; every target task must be among them."""
    import math

    import numpy as np
    import polars as pl

    from arc_pipeline.solver import ckpt_folder, puzzle_match

    step = ckpt_folder.resolve(path)
    seq_len = int(ckpt_folder.read_meta(step)["model_config"]["seq_len"])
    if canvas * canvas != seq_len:
        raise ArcError(f"{step}: the checkpoint reads {seq_len} tokens, a {math.isqrt(seq_len)}x{math.isqrt(seq_len)} "
                       f"canvas, but build.canvas = {canvas}; set --set build.canvas={math.isqrt(seq_len)}")
    pmap = puzzle_match.read_puzzle_map(step)
    if pmap is None:
        raise ArcError(f"{step}: no puzzle_map.parquet, so the augmentations it was trained with are unknown")
    known = set(pmap["task_id"].to_list())
    missing = sorted(t for t in target if t not in known)
    if missing:
        raise ArcError(f"{step} was not trained on target task(s) {', '.join(missing[:5])}"
                       f"{' ...' if len(missing) > 5 else ''} ({len(missing)} of {len(target)}); protocol joint evaluates a "
                       f"checkpoint on its own tasks: use --set run.protocol=pretrain-adapt to adapt it to new ones")
    out = {}
    ordered = pmap.sort(["task_id", "aug_index", "puzzle_id"] if "aug_index" in pmap.columns else ["task_id", "puzzle_id"])
    for (tid,), part in ordered.group_by(["task_id"], maintain_order=True):
        colors = np.array(part["colors"].to_list(), dtype=np.uint8).reshape(part.height, -1)
        out[tid] = np.concatenate([part["dihedral"].to_numpy().astype(np.uint8)[:, None], colors], axis=1)
    return out


STAGE = Stage(
    "build", run,
    reads=(TASKS,), writes=(DATASET,),
    config=("build", "run.protocol", "run.seed", "run.checkpoint"),
)
