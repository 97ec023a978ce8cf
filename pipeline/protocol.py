"""How a score was made and what it cost: the `protocol` and `cost` blocks of score.json, the report
and every export (docs/exporting.md).

Every TRM-family figure is read with its protocol (pass@1 or pass@2, per task or per output, whether
the evaluation tasks' demonstrations were trained on, extra data, which checkpoint) and its cost
(ARC Prize reports $ per task). Both blocks are built from what the run directory holds: the resolved
config, tasks.parquet, the manifest's stage records and the checkpoint predict used.

Prices are an ASSUMPTION unless the user sets `run.device_price`: `PRICES` is a table of on-demand cloud
rates per device-hour (December 2026, rounded); change it for your provider.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# $ per device-hour, on-demand cloud rates rounded (an assumption: set run.device_price for your own)
PRICES: dict[str, float] = {"H200": 3.50, "H100": 2.50, "A100": 1.50, "L40S": 1.00, "L4": 0.80, "A10": 0.75,
                            "T4": 0.35, "CPU": 0.10}
PRICE_NOTE = ("assumed on-demand rate per device-hour (arc_pipeline.protocol.PRICES); set run.device_price "
              "to your own")

METRICS = {
    "micro": "test outputs right (attempt_1 or attempt_2 exactly equal) / test outputs (Kaggle's per-output wording)",
    "macro": "mean over tasks of (the task's test outputs right / its test outputs): ARC Prize's scorer, "
             "arc-agi-benchmarking and the TRM paper (pass@2 per task)",
    "tasks_solved": "tasks whose every test output is right (the ARC-AGI-2 README's count)",
    "pass_at_k.per_task": "mean over tasks of the fraction of its test outputs whose truth is among the top K "
                          "ranked candidates (K = 1, 2: the paper's pass@1 / pass@2)",
    "pass_at_k.per_output": "fraction of all test outputs whose truth is among the top K ranked candidates",
}
COST_NOTE = ("device-seconds: each stage's wall clock as the manifest records it, times the devices it held. "
             "A stage resumed after a failure or a stop (SIGTERM, Ctrl-C) counts its earlier attempts too; an "
             "attempt killed outright (SIGKILL, a lost machine) left no end time and is not counted; a stage cached "
             "from an earlier invocation counts the run that made it; score and report are left out (the block is "
             "taken while score runs).")
STAGE_ORDER = ("ingest", "build", "train", "adapt", "predict", "submit", "score", "report")


def protocol_block(cfg, run_dir: str | Path) -> dict[str, Any]:
    """What produced the run's predictions: protocol, training data, checkpoint, augmentations, halting,
    ranking and the metric definitions."""
    from arc_pipeline.manifest import Manifest

    run_dir = Path(run_dir)
    stages = Manifest(run_dir).stages
    joint = cfg.run.protocol == "joint"
    evaluated_as_is = joint and bool(cfg.run.checkpoint)
    predict = stages["predict"].summary if "predict" in stages else {}
    target = _target(run_dir)
    meta = _predicted_meta(run_dir, predict)
    max_steps = cfg.predict.max_steps or (meta.get("model_config") or {}).get("max_steps")
    out: dict[str, Any] = {
        "protocol": cfg.run.protocol,
        "evaluation_demonstrations_trained": not evaluated_as_is or None,
        "demonstrations_trained_when": ("with pre-training (joint: the target tasks' demonstrations are training "
                                        "data under their own puzzle rows)" if joint and not evaluated_as_is else
                                        "at test time (adapt fine-tunes on the target tasks' demonstrations)"
                                        if not joint else f"by the checkpoint's own run ({cfg.run.checkpoint})"),
        "competition_valid": not joint,
        "target": cfg.data.target,
        "training_sources": _sources(run_dir),  # shares among the training sources (data.train)
        "target_demonstrations": _target_demos(target, trained=joint and not evaluated_as_is),
        "checkpoint": _checkpoint(predict, meta, cfg),
        "augmentations_voted": _augmentations(target, predict, cfg),
        "halting": ({"rule": "every example runs all supervision steps (the reference's evaluation)",
                     "max_steps": max_steps} if cfg.predict.halt == "off"
                    else {"rule": "stop once sigmoid(halting logit) > threshold", "threshold": cfg.predict.threshold,
                          "min_steps": cfg.predict.min_steps,
                          "max_steps": max_steps}),
        "ranking": {"rule": cfg.vote.rule, "attempts": "the top 2 ranked candidates per test input",
                    "ties": "mean halting probability" if cfg.vote.rule in ("votes", "checkpoints") else "votes"},
        "metrics": METRICS,
    }
    return out


def _sources(run_dir: Path) -> list[dict]:
    from arc_pipeline.rundir import RunDir

    path = RunDir(run_dir).tasks_parquet
    if not path.is_file():
        return []
    import polars as pl

    from arc_pipeline.mix import source_shares

    return [{k: r[k] for k in ("source", "tasks", "pairs", "weight", "share")} for r in source_shares(pl.read_parquet(path))]


def _target(run_dir: Path) -> dict | None:
    """The run's target tasks, read once for the block; None before ingest (nothing to count)."""
    from arc_pipeline.rundir import RunDir

    try:
        return RunDir(run_dir).tasks()[1]
    except Exception:  # noqa: BLE001 - before ingest there is nothing to count
        return None


def _predicted_meta(run_dir: Path, predict: dict) -> dict:
    """meta.json of the checkpoint predict used ({} when none is recorded or it is gone)."""
    rel = predict.get("checkpoint_path") or predict.get("checkpoint")
    if not rel:
        return {}
    meta = (Path(rel) if Path(rel).is_absolute() else run_dir / rel) / "meta.json"
    return json.loads(meta.read_text()) if meta.is_file() else {}


def _target_demos(target: dict | None, trained: bool) -> dict:
    """The target tasks' demonstrations: how many, and whether pre-training drew them (joint)."""
    if target is None:
        return {"trained_with_pretraining": trained}
    return {"tasks": len(target), "pairs": sum(len(t.train) for t in target.values()), "trained_with_pretraining": trained}


def _checkpoint(predict: dict, meta: dict, cfg) -> dict:
    """The checkpoint predict used: its step, EMA or live weights, and its held-out evaluation."""
    out: dict[str, Any] = {"path": predict.get("checkpoint_path") or predict.get("checkpoint"),
                           "weights": "+".join(predict.get("passes", [])) or ("ema" if cfg.predict.use_ema else "live")}
    if meta:
        out.update(step=meta.get("step"), held_out=(meta.get("val") or {}).get("exact"),
                   imported=(meta.get("imported") or {}).get("format"))
    return {k: v for k, v in out.items() if v is not None}


def _augmentations(target: dict | None, predict: dict, cfg) -> dict:
    """Augmented copies predicted per test input (on average), of those built."""
    inputs = sum(len(t.test) for t in target.values()) if target else 0
    made, built = predict.get("predictions"), predict.get("of")
    per = lambda n: round(n / inputs, 2) if inputs and n is not None else None  # noqa: E731
    passes = max(1, len(predict.get("passes", [])))
    return {"per_test_input": per(made / passes if made is not None else None), "built_per_test_input": per(built),
            "build.augmentations": cfg.build.augmentations, "run.max_test_augs": cfg.run.max_test_augs or "all"}


def device_type(cfg) -> tuple[str, int]:
    """(the device kind a price is looked up by, how many in all): CPU, or the GPU's model (H100, A100,
    L4, ...); the count is every node's: run.devices per node times run.nnodes."""
    devices = max(1, int(cfg.run.devices) * int(cfg.run.nnodes))
    if str(cfg.train.device).startswith("cpu"):
        return "CPU", 1
    from arc_pipeline.solver.device import device_name

    name = device_name()
    for kind in PRICES:
        if kind.lower() in name.lower():
            return kind, devices
    return name or "CPU", devices if name and name != "CPU" else 1


def cost_block(cfg, run_dir: str | Path, tasks: int, *, price: float | None = None,
               device: tuple[str, int] | None = None) -> dict[str, Any]:
    """Device-seconds per stage (the manifest's seconds x the devices the stage held), and $ per task
    at `price` per device-hour (default run.device_price, else the PRICES assumption)."""
    from arc_pipeline.manifest import Manifest

    kind, count = device or device_type(cfg)
    stages = Manifest(run_dir).stages
    per_stage = {}
    for name in STAGE_ORDER:
        rec = stages.get(name)
        if rec is None or rec.status != "done":
            continue
        # a stage launched under torchrun held every node's devices (its summary counts the processes)
        held = count if int((rec.summary or {}).get("devices", 1)) > 1 else 1
        per_stage[name] = round((rec.seconds + rec.earlier_seconds) * held, 3)
    given = price if price is not None else (cfg.run.device_price or None)
    rate = given if given is not None else PRICES.get(kind)
    # test time: what runs once the target tasks are known (joint: training holds their demonstrations)
    test_stages = ("train", "adapt", "predict", "submit") if cfg.run.protocol == "joint" else ("adapt", "predict", "submit")
    total = sum(per_stage.values())
    test = sum(v for k, v in per_stage.items() if k in test_stages)

    def dollars(seconds: float) -> float | None:
        return round(seconds / 3600 * rate / tasks, 6) if rate is not None and tasks else None

    return {"device": kind, "devices": count, "device_seconds": per_stage, "device_seconds_total": round(total, 3),
            "price_per_device_hour": rate, "price_source": "run.device_price" if given is not None else PRICE_NOTE,
            "tasks": tasks, "usd_per_task": dollars(total), "test_time_stages": list(test_stages),
            "usd_per_task_test_time": dollars(test),
            "note": COST_NOTE}
