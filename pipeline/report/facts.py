"""The run's facts, as the report's box at the top of the page and compare's config rows: steps
trained of planned and why training stopped, model size and shape, the nearest shipped preset,
protocol, device, seed, speed; and the difference between two resolved configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arc_pipeline.manifest import Manifest

STOPPED = {"steps": "reached the planned steps", "time_budget": "stopped by the time budget",
           "sigterm": "stopped by SIGTERM (preempted; resumes on the next run)",
           "already_done": "already trained (resumed at the planned step)"}
GENERIC_NAMES = {"run", "runs", "out", "output", "working", "tmp"}  # a run dir name that says nothing alone


def run_name(run_dir: Path) -> str:
    """The run directory's name, with its parent's when the name alone is generic (Kaggle's and bench's 'run')."""
    p = run_dir.resolve()
    return f"{p.parent.name}/{p.name}" if p.name.lower() in GENERIC_NAMES and p.parent.name else p.name


def title(run_dir: Path, cfg, n_tasks: int, preset: tuple[str, list[str]] | None) -> str:
    """What the page is about: the target set and the run, never just 'run: run' (`preset`: `nearest_preset`)."""
    target = cfg.data.target if cfg is not None else f"{n_tasks} target tasks"
    how = f" ({cfg.run.protocol}" + (f", preset {preset[0]}" if preset else "") + ")" if cfg is not None else ""
    return f"{target}{how}: {run_name(run_dir)}"


def flat(cfg_dict: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{'section.key': value} of a config's to_dict()."""
    return {f"{sec}.{k}": v for sec, keys in cfg_dict.items() for k, v in keys.items()}


def config_diff(dicts: list[dict[str, dict[str, Any]]]) -> list[tuple[str, list[Any]]]:
    """The keys whose value differs between the configs, each with every config's value (None: absent)."""
    flats = [flat(d) for d in dicts]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    rows = [(k, [f.get(k) for f in flats]) for k in keys]
    return [(k, vals) for k, vals in rows if len({repr(v) for v in vals}) > 1]


def nearest_preset(cfg) -> tuple[str, list[str]] | None:
    """(the shipped preset this config differs least from, the keys that differ from it)."""
    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config import load_config, preset_names

    mine = cfg.to_dict()
    best = None
    for name in preset_names():
        try:
            diff = [k for k, _ in config_diff([load_config(name).to_dict(), mine])]
        except (ArcError, ValueError):
            continue
        if best is None or len(diff) < len(best[1]):
            best = (name, diff)
    return best


def model_size(rd, cfg) -> tuple[int, int] | None:
    """(trunk parameters, puzzle-table values) of the run's model, built on torch's meta device (no memory)."""
    try:
        mcfg, _ = rd.model_config(cfg.model)
        import torch

        from arc_pipeline.solver.model import TRM

        with torch.device("meta"):
            model = TRM(mcfg)
        trunk = sum(p.numel() for p in model.parameters())
        table = sum(b.numel() for name, b in model.named_buffers() if "puzzle" in name)
        return trunk, table
    except Exception:  # noqa: BLE001 (the size is a nicety: a model this code cannot build still gets a page)
        return None


def run_facts(rd, manifest: Manifest, cfg, n_tasks: int, n_outputs: int,
              preset: tuple[str, list[str]] | None) -> list[tuple[str, str]]:
    """(label, value) rows for the facts box; `cfg` None (a page built from files alone) leaves config rows out;
    `preset`: `nearest_preset(cfg)`."""
    facts: list[tuple[str, str]] = []
    train = manifest.stages.get("train")
    s = (train.summary or {}) if train is not None else {}
    if train is None:
        facts.append(("training", "not run" if manifest.path.is_file() else "unknown (no manifest.json)"))
    elif s.get("skipped"):
        facts.append(("training", f"skipped: {train.note}" if train.note else "skipped"))
    else:
        step = s.get("step")
        planned = s.get("planned")
        if planned is None and cfg is not None and not cfg.train.epochs:
            planned = cfg.train.steps
        why = STOPPED.get(s.get("stopped"), s.get("stopped") or "")
        if train.status != "done":
            why = f"{train.status}" + (f": {train.note}" if train.note else "")
        if step is not None:
            of = f" of {planned:,} planned ({step / planned:.0%})" if planned else ""
            facts.append(("steps trained", f"{step:,}{of}" + (f"; {why}" if why else "")))
        elif why:
            facts.append(("training", why))
        seconds, resumed = s.get("seconds"), s.get("resumed_from") or 0
        if step and seconds:
            speed = f"{(step - resumed) / seconds:.3g} steps/s over {seconds:,.0f} s"
            if s.get("examples_per_s"):
                speed += f" ({s['examples_per_s']:,.0f} examples/s at the end)"
            facts.append(("speed", speed))
    if cfg is not None:
        m = cfg.model
        shape = (f"hidden {m.hidden}, {m.heads} heads, {m.layers} layers, n {m.n_latent}, T {m.n_recursions}, "
                 f"N_sup {m.max_steps}" + (f", {m.recursion}" if m.recursion != "trm" else ""))
        size = model_size(rd, cfg)
        if size:
            shape = f"{size[0] / 1e6:.3g}M parameters + {size[1] / 1e6:.3g}M puzzle-table values; " + shape
        facts.append(("model", shape))
        if preset:
            changed = preset[1]
            more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
            facts.append(("preset", preset[0] + (f" with {len(changed)} key(s) changed: {', '.join(changed[:6])}{more}"
                                                 if changed else " (unchanged)")))
        joint = cfg.run.protocol == "joint"
        facts.append(("protocol", cfg.run.protocol + (" (the target tasks' demonstrations are trained on: the "
                                                      "paper's protocol, not competition-valid)" if joint else
                                                      " (trained on public tasks, adapted to the targets)")))
        device = s.get("device") or cfg.train.device + (f" x {cfg.run.devices} processes" if cfg.run.devices > 1 else "")
        facts.append(("device", device))
        seeds = {"run": cfg.run.seed, "build": cfg.build.seed, "train": cfg.train.seed, "predict": cfg.predict.seed}
        facts.append(("seed", str(cfg.run.seed) if len(set(seeds.values())) == 1
                      else ", ".join(f"{k} {v}" for k, v in seeds.items())))
        facts.append(("target", f"{cfg.data.target}: {n_tasks} tasks, {n_outputs} test outputs"))
    else:
        facts.append(("target", f"{n_tasks} tasks, {n_outputs} test outputs"))
    p = manifest.stages.get("predict")
    if p is not None and p.summary and not p.summary.get("skipped"):
        facts.append(("predicted with", str(p.summary.get("checkpoint_path") or p.summary.get("checkpoint", "?"))))
    return facts
