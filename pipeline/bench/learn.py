"""`arc-pipeline bench learn`: the TRM against the same network without recursion on generated
6x6 Sudoku (2x3 boxes, random minimal puzzles, 1k train / 1k held out), equal wall-clock each;
`--variants` picks other networks (shipped variant overlays, pipeline/presets/variants/NAME.toml:
URM and each of its parts alone) to run beside them.

Each network's config is the `sudoku6` preset (the same setting through `arc-pipeline run`), then the
variant's overlay, then `--set section.key=value`: `arc-pipeline run --preset sudoku6 --config
variants/NAME` trains the same network through the pipeline, and `bench suite` layers the same files.
The bench keeps its own loop around `solver.train.train` for its held-out learning curves.

The TRM runs n latent updates and T recursions per supervision step, with deep supervision and
ACT; the baseline is the same network (same parameter count) run once: n = T = N_sup = 1. Both
train through `solver.train.train`, side by side in two processes of one thread each (the same
wall-clock window and an equal share of the 2 cores; `--sequential` runs them one after the
other), in `curve_points` slices of `--minutes`, each ending with a held-out evaluation on
`curve_examples` puzzles (the learning curve). The final figure is the EMA weights on every
held-out puzzle, all N_sup steps. `--json` prints exact, baseline_exact, minutes and the curves.
`--steps N` gives every network the same N optimizer steps instead of the same wall-clock (the
curve points at equal step counts), for variants whose steps cost more.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import click

Point = Callable[[str, dict[str, Any]], None]


BASE = "sudoku6"  # the preset whose [model] and [train] the bench trains


@dataclass(frozen=True)
class LearnConfig:
    minutes: float = 20.0  # training wall-clock per network (curve evaluations included)
    seed: int = 0  # the data's seed and run.seed (which seeds training)
    train_count: int = 1000
    test_count: int = 1000
    curve_points: int = 8
    curve_examples: int = 250
    threads: int = 1  # torch intra-op threads per network; 0 = torch's default
    parallel: bool = True  # train the networks at once, one process each
    variants: str = "trm,baseline"  # comma-separated names of shipped variant overlays
    steps: int = 0  # > 0: equal optimizer steps per network instead of equal wall-clock (minutes unused)
    sets: tuple[str, ...] = ()  # section.key=value over the preset and the variant (e.g. model.hidden=128)


def configs(cfg: LearnConfig, name: str, vocab_size: int, seq_len: int):
    """(model config, train config) of variant `name`: the `sudoku6` preset, the variant's overlay, then
    cfg.sets, sized to the source; the bench's loop sets the schedule (no checkpoints kept between slices)."""
    from arc_pipeline.config import load_config

    pc = load_config(BASE, files=[f"variants/{name}"], sets=(f"run.seed={cfg.seed}", *cfg.sets))
    model = replace(pc.model, vocab_size=vocab_size, seq_len=seq_len, num_puzzles=2)
    train = replace(pc.train, steps=10**9, epochs=0.0, time_budget_s=0.0, checkpoint_every=0, keep_checkpoints=1)
    return model, train


def sudoku_sources(cfg: LearnConfig):
    """(train source with symmetry augmentation, held-out source), inequivalent under symmetry."""
    from arc_pipeline.augment.puzzles.sudoku import SudokuSource
    from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate

    gen = generate(SudokuGenConfig(size=6, count=cfg.train_count, test_count=cfg.test_count, seed=cfg.seed, difficulty="easy"))
    return SudokuSource(gen.train, augment=True), SudokuSource(gen.test, augment=False)


def train_curve(name: str, mcfg, tcfg, cfg: LearnConfig, train_src, test_src, out: Path, runtime, on_point: Point | None) -> dict:
    """Train `mcfg` for cfg.minutes in cfg.curve_points slices; evaluate after each; then in full.

    The slices stop when cfg.minutes are spent (their evaluations included), so a network whose steps
    or evaluations are slow ends at the same wall-clock as the others, with fewer curve points. With
    cfg.steps the slices are equal step counts instead (every network gets the same optimizer steps
    and every curve point, whatever its wall-clock)."""
    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver.model import count_parameters
    from arc_pipeline.solver.evaluate import evaluate
    from arc_pipeline.solver.train import train

    budget_s = cfg.minutes * 60
    slice_s = budget_s / cfg.curve_points
    curve, spent, res = [], 0.0, None

    def more() -> bool:
        if res is None:
            return True
        if cfg.steps:
            return res.step < cfg.steps
        return len(curve) < cfg.curve_points and budget_s - spent > 0.05 * slice_s

    while more():
        if cfg.steps:  # the k-th slice ends at step k * steps / points (train resumes from the last)
            until = min(cfg.steps, -(-(len(curve) + 1) * cfg.steps // cfg.curve_points))
            sliced = replace(tcfg, steps=until, time_budget_s=0.0)
        else:
            sliced = replace(tcfg, time_budget_s=min(slice_s, budget_s - spent))
        res = train(mcfg, sliced, train_src, out / name / "checkpoints", val_source=test_src,
                    val_limit=cfg.curve_examples, runtime=runtime, metrics_path=out / name / "metrics.jsonl")
        spent += res.seconds
        point = {"minutes": round(spent / 60, 3), "step": res.step, "exact": res.val["exact"],
                 "exact_halted": res.val["exact_halted"], "train_exact": res.metrics.get("exact_accuracy"),
                 "loss": res.metrics.get("loss")}
        curve.append(point)
        if on_point is not None:
            on_point(name, point)
    model = ckpt.build_model(res.checkpoint, device=runtime.device, use_ema=tcfg.ema > 0)
    final = evaluate(model, test_src, runtime, batch_size=256)
    return {"exact": final["exact"], "exact_halted": final["exact_halted"], "exact_by_step": final["exact_by_step"],
            "token_accuracy": final["token_accuracy"], "mean_halt_step": final["mean_halt_step"], "steps": res.step,
            "train_minutes": round(spent / 60, 3), "parameters": count_parameters(model), "curve": curve}


def parse_variants(text: str, command: str = "bench learn") -> tuple[str, ...]:
    """The shipped variant names in a comma-separated `--variants` value, in its order; an unknown,
    repeated or missing name is refused with the valid ones (naming `command`, whose option it was)."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config.presets import variant_names

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in variant_names()]
    if unknown or not names or len(set(names)) != len(names):
        raise ArcError(f"{command} --variants {text!r}: give distinct names from {', '.join(variant_names())}")
    return names


def variant_names(cfg: LearnConfig) -> tuple[str, ...]:
    """The variant names cfg.variants gives (`parse_variants`)."""
    return parse_variants(cfg.variants)


def train_one(name: str, cfg: LearnConfig, out: Path, on_point: Point | None = None) -> dict:
    """Generate the data (deterministic from the seed) and train the network variant `name` describes."""
    import torch

    from arc_pipeline.solver.device import setup_runtime

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_src, test_src = sudoku_sources(cfg)
    mcfg, tcfg = configs(cfg, name, train_src.vocab_size, train_src.seq_len)
    return train_curve(name, mcfg, tcfg, cfg, train_src, test_src, out, setup_runtime(tcfg.device), on_point)


def _child(name: str, cfg: LearnConfig, out: Path, queue) -> None:
    # one network per process: both share the same wall-clock window and one core each
    try:
        queue.put(("done", name, train_one(name, cfg, out, lambda n, p: queue.put(("point", n, p)))))
    except Exception as e:  # report to the parent, which raises; the child still fails loudly
        queue.put(("error", name, f"{type(e).__name__}: {e}"))
        raise


def _run_parallel(cfg: LearnConfig, out: Path, on_point: Point | None) -> dict[str, dict]:
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    names = variant_names(cfg)
    procs = [ctx.Process(target=_child, args=(name, cfg, out, queue), daemon=True) for name in names]
    for p in procs:
        p.start()
    results: dict[str, dict] = {}
    try:
        while len(results) < len(names):
            kind, name, payload = queue.get()
            if kind == "point" and on_point is not None:
                on_point(name, payload)
            elif kind == "done":
                results[name] = payload
            elif kind == "error":
                raise click.ClickException(f"bench learn: training {name} failed: {payload}")
    finally:
        for p in procs:
            p.join(timeout=5 if len(results) == len(names) else 0.1)
            if p.is_alive():
                p.terminate()
    return results


def run(cfg: LearnConfig, out: Path, on_point: Point | None = None) -> dict:
    """Train the networks (side by side, one process each, or one after the other); the figures:
    each network's under its name, and `exact` / `baseline_exact` for trm / baseline when run."""
    import torch

    t0 = time.perf_counter()
    names = variant_names(cfg)
    if cfg.parallel:
        res = _run_parallel(cfg, out, on_point)
    else:
        res = {name: train_one(name, cfg, out, on_point) for name in names}
    figures = {"exact": res["trm"]["exact"]} if "trm" in res else {}
    if "baseline" in res:
        figures["baseline_exact"] = res["baseline"]["exact"]
    return {
        **figures, "minutes": cfg.minutes, "equal_steps": cfg.steps, **{name: res[name] for name in names}, "variants": list(names),
        "config": asdict(cfg), "threads": cfg.threads or torch.get_num_threads(),
        "total_minutes": round((time.perf_counter() - t0) / 60, 2),
    }


@click.command("learn")
@click.option("--minutes", type=float, default=20.0, show_default=True, help="Training wall-clock per network.")
@click.option("--steps", type=int, default=0, show_default=True,
              help="Equal optimizer steps per network instead of equal wall-clock (0 = use --minutes).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--points", type=int, default=8, show_default=True, help="Learning-curve points per network.")
@click.option("--curve-examples", type=int, default=250, show_default=True,
              help="Held-out puzzles per curve point (the final figure uses all of them).")
@click.option("--train-count", type=int, default=1000, show_default=True, help="Generated training puzzles.")
@click.option("--test-count", type=int, default=1000, show_default=True, help="Generated held-out puzzles.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads per network (0 = torch's default).")
@click.option("--sequential", is_flag=True, help="Train the networks one after the other instead of side by side.")
@click.option("--variants", default="trm,baseline", show_default=True,
              help="Comma-separated shipped variant overlays (pipeline/presets/variants: `arc-pipeline presets` lists them).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Keep checkpoints and metrics here.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value over the sudoku6 preset and the variant (e.g. model.hidden=128).")
def cmd(minutes: float, steps: int, as_json: bool, seed: int, points: int, curve_examples: int, train_count: int,
        test_count: int, threads: int, sequential: bool, variants: str, out: Path | None, sets: tuple[str, ...]) -> None:
    """TRM vs the same network without recursion (or other --variants) on generated 6x6 Sudoku, equal
    wall-clock (or equal --steps)."""
    from arc_pipeline import ui

    cfg = LearnConfig(minutes=minutes, seed=seed, curve_points=points, curve_examples=curve_examples,
                      train_count=train_count, test_count=test_count, threads=threads, parallel=not sequential,
                      variants=variants, steps=steps, sets=sets)
    for name in variant_names(cfg):  # refuse a misspelt name or key before any training
        configs(cfg, name, vocab_size=8, seq_len=36)

    def show(name: str, p: dict) -> None:
        if not as_json:
            ui.info(f"{name:>8}  {p['minutes']:6.2f} min  step {p['step']:6d}  held-out exact {p['exact']:.3f}  "
                    f"(train exact {p['train_exact'] or 0:.3f}, loss {p['loss'] or 0:.3f})")

    with tempfile.TemporaryDirectory() as tmp:
        result = run(cfg, out or Path(tmp), show)
    if as_json:
        ui.verbatim(json.dumps(result))
        return
    each = f"{steps:,} steps" if steps else f"{minutes:g} min"
    ui.table(f"6x6 Sudoku, {cfg.train_count} train / {cfg.test_count} held out, {each} each",
             ["network", "params", "steps", "minutes", "held-out exact", "exact (halted)", "token acc"],
             [[name, r["parameters"], r["steps"], f"{r['train_minutes']:.1f}", f"{r['exact']:.3f}", f"{r['exact_halted']:.3f}",
               f"{r['token_accuracy']:.3f}"]
              for name, r in ((n, result[n]) for n in result["variants"])])
