"""`arc-pipeline bench suite`: the whole chain on generated ARC-style tasks with known rules.

build -> train -> predict -> vote -> write submission -> score, on CPU, with the joint protocol
(target demonstrations inside training); then the same predictions with halting off, with a
deliberately broken inverse transform (the rate must collapse: proof the suite can fail), and a
pretrain-adapt run (pre-train on another generated suite, adapt to the target's demonstrations).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import click

Note = Callable[[str], None]


def _model():
    from solver.config import ModelConfig

    return ModelConfig(seq_len=16, hidden=64, heads=4, expansion=2.0, layers=2, n_latent=2, n_recursions=1,
                       max_steps=2, puzzle_emb_len=4)


def _train():
    from solver.config import TrainConfig

    # The suite proves the chain (build -> predict -> vote -> score), not the recipe. Its rates were
    # tuned under uniform sampling and per-example exploration; with the reference's rules (the
    # training default) the same 4,000 steps reached training exact 0.005 and pass@2 0.0, so the
    # suite states the rules it was tuned for (with them main trains exactly as before issue 9).
    return TrainConfig(global_batch=32, steps=4000, lr=3e-3, lr_warmup=50, weight_decay=0.1, puzzle_lr=3e-2,
                       puzzle_weight_decay=0.1, ema=0.99, device="cpu", dtype="float32", checkpoint_every=0,
                       log_every=100, keep_checkpoints=1, sampling="uniform", exploration="per_example")


@dataclass(frozen=True)
class SuiteConfig:
    seed: int = 0
    target_tasks: int = 16  # the generated tasks to answer (3 demonstrations, 1-2 test inputs each)
    train_tasks: int = 64  # extra generated tasks (other seed, same rules) that train alongside
    train_demos: int = 5  # demonstrations per extra task (more: the rules, not the grids, get learned)
    translate: bool = False  # random offsets for training pairs (off: the CPU budget learns faster)
    augmentations: int = 8  # per task, identity included
    min_side: int = 3
    max_side: int = 3  # 3x3 grids: the rules are learned within the CPU budget
    canvas: int = 4  # max_side + the EOS row/column
    model: Any = field(default_factory=_model)
    train: Any = field(default_factory=_train)
    predict_batch: int = 256
    adapt_steps: int = 600  # 0 skips the pretrain-adapt run
    pretrain_steps: int = 4000
    threads: int = 2


def broken_invert(grid, aug):
    """A deliberately wrong inverse: the prediction stays in the augmented frame."""
    return grid


def chain(model, source, tasks, out_dir: Path, runtime, pcfg, *, invert_fn=None, raw=None) -> dict[str, Any]:
    """predict (unless `raw` is given) -> vote -> predictions.parquet -> submission.json -> score."""
    from solver.infer import run_steps, shard, to_frame
    from solver.vote import PASS_KS, VoteConfig, pass_at_k, pass_at_k_per_task, to_candidates, vote, write_predictions
    from submissions.score import score
    from submissions.write import write_submission

    t0 = time.perf_counter()
    if raw is None:
        raw = run_steps(model, source, shard(len(source), 0, 1), runtime, pcfg)
    predict_s = time.perf_counter() - t0
    frame = to_frame(raw, source, invert_fn=invert_fn)
    voted = vote(frame, VoteConfig())
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.parquet", voted, VoteConfig().top_k)
    report = write_submission(out_dir / "submission.json", tasks, to_candidates(voted, tasks, k=2))
    sc = score(json.loads((out_dir / "submission.json").read_text()), tasks)
    passk = pass_at_k(voted, tasks, PASS_KS)
    return {
        "pass2": sc.micro, "pass2_macro": sc.macro, "tasks_solved": sc.tasks_solved,
        "pass_at_k": {str(k): v for k, v in passk.items()},  # per output (Kaggle's)
        "pass_at_k_per_task": {str(k): v for k, v in pass_at_k_per_task(voted, tasks, PASS_KS).items()},  # the paper's
        "mean_steps": float(raw.steps.mean()) if len(raw.steps) else 0.0,
        "predictions": len(raw.index), "predictions_per_s": len(raw.index) / max(predict_s, 1e-9),
        "fallbacks": report.fallbacks, "raw": raw,
    }


def _build(train_tasks, target, cfg: SuiteConfig, protocol: str, out: Path):
    from augment.build import BuildConfig, build

    return build(train_tasks, target, BuildConfig(augmentations=cfg.augmentations, seed=cfg.seed, canvas=cfg.canvas,
                                                  protocol=protocol, val_fraction=0.0, translate=cfg.translate), out)


def _train_on(data: Path, cfg: SuiteConfig, tcfg, ckpt_dir: Path, runtime):
    from augment.dataset import open_split, read_meta, read_puzzles
    from solver.train import train

    meta = read_meta(data)
    mcfg = replace(cfg.model, seq_len=int(meta["seq_len"]), num_puzzles=int(meta["num_puzzles"]))
    return train(mcfg, tcfg, open_split(data, "train"), ckpt_dir, puzzle_map=read_puzzles(data),
                 dataset_fingerprint=meta["fingerprint"], runtime=runtime, metrics_path=ckpt_dir / "metrics.jsonl")


def run_suite(cfg: SuiteConfig, work: Path, note: Note = lambda s: None) -> dict[str, Any]:
    """Run the proof in `work` (a fresh directory); returns the figures."""
    from arc.synth import SynthConfig, synth_suite
    from augment.dataset import open_split
    from solver.adapt import AdaptConfig, adapt
    from solver.device import set_threads, setup_runtime
    from solver.checkpoint import build_model
    from solver.infer import PredictConfig

    t0 = time.perf_counter()
    set_threads(cfg.threads)
    runtime = setup_runtime("cpu", "float32")
    synth = SynthConfig(n_tasks=cfg.target_tasks, min_side=cfg.min_side, max_side=cfg.max_side)
    target = synth_suite(1000 + cfg.seed, synth)
    extra_synth = replace(synth, n_tasks=cfg.train_tasks, n_train=cfg.train_demos)
    extra = synth_suite(2000 + cfg.seed, extra_synth) if cfg.train_tasks else {}
    out: dict[str, Any] = {"tasks": len(target), "test_outputs": sum(len(t.test) for t in target.values())}
    timing: dict[str, float] = {}

    note("joint: build + train")
    t = time.perf_counter()
    _build(extra, target, cfg, "joint", work / "joint" / "dataset")
    res = _train_on(work / "joint" / "dataset", cfg, cfg.train, work / "joint" / "checkpoints", runtime)
    timing["joint_train"] = time.perf_counter() - t
    out["train_steps"], out["train_metrics"] = res.step, res.metrics
    model = build_model(res.checkpoint, device=runtime.device)
    test = open_split(work / "joint" / "dataset", "test")
    note("joint: predict (halting on, off) + vote + submit + score")
    on = chain(model, test, target, work / "joint" / "halt_on", runtime,
               PredictConfig(batch_size=cfg.predict_batch, halt="on"))
    off = chain(model, test, target, work / "joint" / "halt_off", runtime,
                PredictConfig(batch_size=cfg.predict_batch, halt="off"))
    broken = chain(model, test, target, work / "joint" / "broken", runtime, None, invert_fn=broken_invert, raw=on["raw"])
    out.update(
        pass2=on["pass2"], pass2_macro=on["pass2_macro"], tasks_solved=on["tasks_solved"], pass_at_k=on["pass_at_k"],
        pass2_halt_off=off["pass2"], pass_at_k_halt_off=off["pass_at_k"],
        mean_steps_halt_on=on["mean_steps"], mean_steps_halt_off=off["mean_steps"],
        predictions_per_s_halt_on=on["predictions_per_s"], predictions_per_s_halt_off=off["predictions_per_s"],
        pass2_broken_inverse=broken["pass2"], predictions=on["predictions"],
    )
    note(f"joint: pass@2 {on['pass2']:.3f} (halting off {off['pass2']:.3f}, broken inverse {broken['pass2']:.3f})")

    if cfg.adapt_steps:
        note("pretrain-adapt: pre-train on another suite, adapt to the target demonstrations")
        t = time.perf_counter()
        pre_tasks = synth_suite(3000 + cfg.seed, replace(extra_synth, n_tasks=cfg.target_tasks + cfg.train_tasks))
        _build(pre_tasks, {}, cfg, "joint", work / "pretrain" / "dataset")
        _train_on(work / "pretrain" / "dataset", cfg, replace(cfg.train, steps=cfg.pretrain_steps),
                  work / "pretrain" / "checkpoints", runtime)
        timing["pretrain"] = time.perf_counter() - t
        t = time.perf_counter()
        _build(pre_tasks, target, cfg, "pretrain-adapt", work / "adapt" / "dataset")
        ares = adapt(work / "pretrain" / "checkpoints", work / "adapt" / "dataset", work / "adapt" / "checkpoints",
                     AdaptConfig(steps=cfg.adapt_steps), train_cfg=cfg.train, runtime=runtime)
        timing["adapt"] = time.perf_counter() - t
        amodel = build_model(ares.checkpoint, device=runtime.device)
        pa = chain(amodel, open_split(work / "adapt" / "dataset", "test"), target, work / "adapt", runtime,
                   PredictConfig(batch_size=cfg.predict_batch, halt="on"))
        out.update(pass2_pretrain_adapt=pa["pass2"], pass_at_k_pretrain_adapt=pa["pass_at_k"], adapt_steps=ares.step)
        note(f"pretrain-adapt: pass@2 {pa['pass2']:.3f}")
    timing["total"] = time.perf_counter() - t0
    out["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
    out["seconds"] = round(timing["total"], 1)
    out["config"] = json.loads(json.dumps(asdict(cfg), default=str))
    return out


@click.command("suite")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to build and train (default: a temporary directory, removed after).")
@click.option("--steps", type=int, default=None, help="Training steps of the joint and pre-training runs (default 4000).")
@click.option("--no-adapt", is_flag=True, help="Skip the pretrain-adapt run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="torch CPU threads (1 on a shared, busy machine).")
def cmd(as_json: bool, work_dir: Path | None, steps: int | None, no_adapt: bool, seed: int, threads: int) -> None:
    """The whole chain on a generated suite of simple ARC tasks (CPU, joint protocol; < 15 min)."""
    import tempfile

    from pipeline import ui

    cfg = SuiteConfig(seed=seed, threads=threads)
    if steps:
        cfg = replace(cfg, train=replace(cfg.train, steps=steps), pretrain_steps=steps)
    if no_adapt:
        cfg = replace(cfg, adapt_steps=0)
    note = (lambda s: None) if as_json else ui.info
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="arc-suite-") as tmp:
            out = run_suite(cfg, Path(tmp), note)
    else:
        out = run_suite(cfg, work_dir, note)
    if as_json:
        click.echo(json.dumps(out))
        return
    rows = [["pass@2 (halting on)", f"{out['pass2']:.3f}"], ["pass@2 (halting off)", f"{out['pass2_halt_off']:.3f}"],
            ["pass@2 (broken inverse)", f"{out['pass2_broken_inverse']:.3f}"],
            ["mean steps on / off", f"{out['mean_steps_halt_on']:.2f} / {out['mean_steps_halt_off']:.2f}"],
            ["pass@1 / @5 / @10 (per output)", " / ".join(f"{out['pass_at_k'][k]:.3f}" for k in ("1", "5", "10"))],
            ["pass@1 / @5 / @10 (per task)", " / ".join(f"{out['pass_at_k_per_task'][k]:.3f}" for k in ("1", "5", "10"))]]
    if "pass2_pretrain_adapt" in out:
        rows.append(["pass@2 (pretrain-adapt)", f"{out['pass2_pretrain_adapt']:.3f}"])
    rows.append(["seconds", f"{out['seconds']:.0f}"])
    ui.table(f"generated suite: {out['tasks']} tasks, {out['test_outputs']} test outputs", ["figure", "value"], rows)
