"""`arc-pipeline export RUN --format arc-agi-benchmarking|model-card --out DIR` (docs/exporting.md).

arc-agi-benchmarking: the layout ARC Prize's benchmarking tool (arcprize/arc-agi-benchmarking) scores:
one `<task_id>.json` per target task, a list over the task's test inputs of
`{"attempt_1": {"answer": grid, "metadata": {...}, "correct": bool}, "attempt_2": {...}}`, the metadata
holding what its schema requires (model, provider, timestamps, choices, kwargs, usage, cost, task_id,
pair_index, test_id). Every target task is written, answered or not: that tool scores the mean over the
files present, so a missing file would silently leave the denominator. Each attempt's `cost.total_cost`
is the run's test-time $ per task split over the task's attempts (so the tool's sum is our $/task), and
its `kwargs` is the run's protocol block. `tasks/` beside them holds the target tasks with their
solutions (when known) for the tool's `--task_dir`; it reads only `*.json` at the top of the folder.

model-card: a model folder as Hugging Face hosts them: `model.safetensors` (the weights predict used, a
small writer of the documented safetensors layout: no dependency), `checkpoint/` (our step directory,
slim: what predict and adapt read), `config.toml` (the run's resolved config), `puzzle_map.parquet`
(which puzzle row is which task and augmentation) and `README.md`, a model card whose `model-index`
block carries each metric with its dataset and protocol. `bundle` writes the same folder.
"""

from __future__ import annotations

import json
import shutil
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import atomic_path, write_json, write_text

FORMATS = ("arc-agi-benchmarking", "model-card")
# what inference and adaptation read from a step directory (optim.pt and carry_rank*.pt are left out)
SLIM_FILES = ("meta.json", "weights.pt", "ema.pt", "state.pt", "puzzle_map.parquet")
PROVIDER = "arc-pipeline"


@dataclass
class ExportResult:
    out_dir: Path
    files: list[Path]
    notes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def export(run_dir: str | Path, out_dir: str | Path, fmt: str = "arc-agi-benchmarking", *,
           price: float | None = None, model: str | None = None) -> ExportResult:
    """Write the run's results in `fmt` to `out_dir` (created; files there of the same names are replaced).
    `price`: $ per device-hour for the cost (default run.device_price, else the assumed table)."""
    if fmt not in FORMATS:
        raise ArcError(f"export format {fmt!r}: valid formats are {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ArcError(f"{run_dir}: not a run directory (no config.toml); pass the --run-dir of `arc-pipeline run`")
    from arc_pipeline.config import read_config

    cfg = read_config(run_dir / "config.toml")
    if fmt == "arc-agi-benchmarking":
        return export_benchmarking(cfg, run_dir, Path(out_dir), price=price, model=model)
    return export_model_card(cfg, run_dir, Path(out_dir), price=price, model=model)


def blocks(cfg, run_dir: Path, tasks: int, price: float | None = None) -> tuple[dict, dict]:
    """(protocol, cost): from score.json when it has them and the price is the run's, else built now."""
    from arc_pipeline.protocol import cost_block, protocol_block

    score = _score(run_dir)
    protocol = score.get("protocol") or protocol_block(cfg, run_dir)
    cost = score.get("cost") if price is None and score.get("cost") else cost_block(cfg, run_dir, tasks, price=price)
    return protocol, cost


def _score(run_dir: Path) -> dict:
    f = run_dir / "score.json"
    try:
        return json.loads(f.read_text()) if f.is_file() else {}
    except ValueError:
        return {}


def _name(cfg, run_dir: Path, model: str | None) -> str:
    return model or f"arc-pipeline-{run_dir.resolve().name}"


# ---- arc-agi-benchmarking ------------------------------------------------------------------------


def export_benchmarking(cfg, run_dir: Path, out: Path, *, price: float | None = None, model: str | None = None) -> ExportResult:
    from arc_pipeline.manifest import Manifest
    from arc_pipeline.rundir import RunDir

    _, target = RunDir(run_dir).tasks()
    sub_file = run_dir / "submission.json"
    if not sub_file.is_file():
        raise ArcError(f"{sub_file} is missing; run `arc-pipeline run --run-dir {run_dir}` (submit) first")
    submission = json.loads(sub_file.read_text())
    protocol, cost = blocks(cfg, run_dir, len(target), price)
    rec = Manifest(run_dir).get("predict")
    start, end = _iso(rec.start), _iso(rec.end or rec.start)
    per_task = cost.get("usd_per_task_test_time") or 0.0
    name, notes = _name(cfg, run_dir, model), []
    out.mkdir(parents=True, exist_ok=True)
    (out / "tasks").mkdir(exist_ok=True)
    files, missing = [], []
    for task_id, task in sorted(target.items()):
        entries = submission.get(task_id)
        if not isinstance(entries, list) or len(entries) != len(task.test):
            missing.append(task_id)
            entries = [{"attempt_1": p.input.tolist(), "attempt_2": p.input.tolist()} for p in task.test]
        attempts = 2 * len(task.test)
        pairs = []
        for i, (entry, pair) in enumerate(zip(entries, task.test)):
            truth = pair.output.tolist() if pair.output is not None else None
            pairs.append({key: _attempt(entry.get(key, pair.input.tolist()), truth, name, task_id, i, start, end,
                                        per_task / attempts, protocol, run_dir.resolve().name)
                          for key in ("attempt_1", "attempt_2")})
        write_json(out / f"{task_id}.json", pairs, indent=1)
        files.append(out / f"{task_id}.json")
        write_json(out / "tasks" / f"{task_id}.json", task.to_json(), indent=None)
    if missing:
        notes.append(f"{len(missing)} task(s) had no complete submission entry and carry their test inputs as attempts: "
                     f"{', '.join(missing[:5])}")
    write_text(out / "README.md", _benchmarking_readme(name, run_dir, target, protocol, cost))
    return ExportResult(out, files, notes, {"tasks": len(files), "usd_per_task": per_task, "model": name})


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t or 0, tz=timezone.utc).isoformat()


def _attempt(answer, truth, model: str, task_id: str, pair: int, start: str, end: str, usd: float,
             protocol: dict, test_id: str) -> dict:
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
             "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0}}
    meta = {"model": model, "provider": PROVIDER, "start_timestamp": start, "end_timestamp": end, "choices": [],
            "reasoning_summary": None, "kwargs": protocol, "usage": usage,
            "cost": {"prompt_cost": 0.0, "completion_cost": usd, "reasoning_cost": None, "total_cost": usd},
            "task_id": task_id, "pair_index": pair, "test_id": test_id}
    out = {"answer": answer, "metadata": meta}
    if truth is not None:
        out["correct"] = answer == truth
    return out


def _benchmarking_readme(name: str, run_dir: Path, target: dict, protocol: dict, cost: dict) -> str:
    return (f"# {name}: results in the ARC Prize benchmarking layout\n\n"
            f"One `<task_id>.json` per target task ({len(target)} of {protocol.get('target')}), written by "
            f"`arc-pipeline export {run_dir} --format arc-agi-benchmarking`. Every target task is present. `tasks/` holds "
            "the tasks with their solutions (when known). Score with arc-agi-benchmarking's scorer:\n\n"
            "```\npython -m arc_agi_benchmarking.scoring.scoring --task_dir tasks --submission_dir .\n```\n\n"
            "Each attempt's `metadata.kwargs` is the protocol block below; `metadata.cost.total_cost` is the run's "
            "test-time $ per task split over the task's attempts.\n\n"
            f"## Protocol\n\n```json\n{json.dumps(protocol, indent=1)}\n```\n\n## Cost\n\n```json\n{json.dumps(cost, indent=1)}\n```\n")


# ---- model card ------------------------------------------------------------------------------------


def predicted_checkpoint(cfg, run_dir: Path) -> Path:
    """The checkpoint the run predicted with (the predict stage's record), else the one it would use."""
    from arc_pipeline.manifest import Manifest
    from arc_pipeline.solver import ckpt_folder

    rel = Manifest(run_dir).get("predict").summary.get("checkpoint_path")
    if rel:
        path = Path(rel) if Path(rel).is_absolute() else run_dir / rel
        if ckpt_folder.problem(path) is None:
            return path
    from arc_pipeline.rundir import RunDir

    path = RunDir(run_dir).checkpoint(cfg.run)
    if path is None:
        raise ArcError(f"{run_dir}: no checkpoint; train first (`arc-pipeline run --run-dir {run_dir}`)")
    return ckpt_folder.resolve(path)


def export_model_card(cfg, run_dir: Path, out: Path, *, price: float | None = None, model: str | None = None) -> ExportResult:
    from arc_pipeline.rundir import RunDir

    src = predicted_checkpoint(cfg, run_dir)
    _, target = RunDir(run_dir).tasks()
    protocol, cost = blocks(cfg, run_dir, len(target), price)
    name = _name(cfg, run_dir, model)
    files = write_model_folder(src, out, use_ema=cfg.predict.use_ema, config_text=(run_dir / "config.toml").read_text(),
                               card=model_card(name, _score(run_dir), protocol, cost, src))
    return ExportResult(out, files, [], {"checkpoint": str(src), "model": name})


def write_model_folder(checkpoint: str | Path, out: str | Path, *, use_ema: bool = True, config_text: str | None = None,
                       card: str | None = None) -> list[Path]:
    """The model folder: checkpoint/ (our slim step directory), model.safetensors, puzzle_map.parquet,
    config.toml (when given) and README.md (the card; a plain one when not given). `bundle` writes it too."""
    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver import ckpt_folder

    src, out = ckpt_folder.resolve(checkpoint), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    slim_copy(src, out / "checkpoint")
    meta = ckpt_folder.read_meta(src)
    model = ckpt.build_model(src, use_ema=use_ema)
    weights = "ema" if use_ema and (src / "ema.pt").is_file() else "live"
    info = {"format": "arc-pipeline TRM", "step": str(meta.get("step")), "weights": weights,
            "model_config": json.dumps(meta.get("model_config"), sort_keys=True)}
    write_safetensors(out / "model.safetensors", model.state_dict(), info)
    files = [out / "model.safetensors", out / "checkpoint"]
    if (src / "puzzle_map.parquet").is_file():
        shutil.copyfile(src / "puzzle_map.parquet", out / "puzzle_map.parquet")
        files.append(out / "puzzle_map.parquet")
    if config_text is not None:
        write_text(out / "config.toml", config_text)
        files.append(out / "config.toml")
    write_text(out / "README.md", card or model_card(f"arc-pipeline step {meta.get('step')}", {}, {}, {}, src))
    files.append(out / "README.md")
    return files


def slim_copy(src: Path, dest: Path) -> list[str]:
    """Copy what adapt and predict read from step directory `src` into `dest`; the names copied."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copied = []
    for name in SLIM_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
            copied.append(name)
    for need in ("meta.json", "weights.pt"):
        if need not in copied:
            raise ArcError(f"{src}: no {need}; bundle a complete step directory written by `arc-pipeline train`")
    # meta.json lists every file's size and digest (what makes a step intact): only the kept ones now
    meta = json.loads((dest / "meta.json").read_text())
    if "files" in meta:
        meta["files"] = {k: v for k, v in meta["files"].items() if k in copied}
        write_json(dest / "meta.json", meta, indent=1)
    return copied


_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "int64": "I64", "int32": "I32",
           "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def write_safetensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """The safetensors layout (huggingface/safetensors' documented format): an 8-byte little-endian header
    size, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}} padded
    with spaces to a multiple of 8, then the tensors' bytes, row-major little-endian, in header order."""
    import torch

    header: dict[str, Any] = {"__metadata__": dict(metadata or {})} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors code")
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)


def read_safetensors(path: str | Path) -> tuple[dict, dict]:
    """(tensors as numpy arrays, metadata) from a safetensors file: the reader the tests check the writer with."""
    import numpy as np

    codes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
             "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        out[name] = np.frombuffer(raw[base + lo : base + hi], dtype=codes[h["dtype"]]).reshape(h["shape"])
    return out, meta


def model_card(name: str, score: dict, protocol: dict, cost: dict, checkpoint: Path) -> str:
    """README.md with a Hugging Face `model-index` block: each metric with its dataset and protocol."""
    target = protocol.get("target") or "ARC tasks"
    args = {k: protocol.get(k) for k in ("protocol", "evaluation_demonstrations_trained", "competition_valid")}
    ck = protocol.get("checkpoint") or {}
    args.update(checkpoint_step=ck.get("step"), weights=ck.get("weights"), ranking=(protocol.get("ranking") or {}).get("rule"))
    metrics = []
    for key, label in (("macro", "pass@2 per task (macro)"), ("micro", "pass@2 per test output (micro)")):
        if key in score:
            metrics.append((f"pass@2-{'per-task' if key == 'macro' else 'per-output'}", score[key], label))
    for per in ("per_task", "per_output"):
        value = (score.get("pass_at_k") or {}).get(per, {}).get("1")
        if value is not None:
            metrics.append((f"pass@1-{per.replace('_', '-')}", value, f"pass@1 {per.replace('_', ' ')}"))
    lines = ["---", "library_name: arc-pipeline", "tags:", "- arc-agi", "- tiny-recursive-model", "- abstract-reasoning"]
    if metrics:
        lines += ["model-index:", f"- name: {_yaml_str(name)}", "  results:", "  - task:", "      type: abstract-reasoning",
                  "      name: ARC-AGI", "    dataset:", f"      name: {_yaml_str(target)}", "      type: arc-agi",
                  "    metrics:"]
        for mtype, value, label in metrics:
            lines += [f"    - type: {mtype}", f"      value: {float(value):.6g}", f"      name: {_yaml_str(label)}",
                      "      args:"]
            lines += [f"        {k}: {_yaml_str(v)}" for k, v in args.items() if v is not None]
    lines.append("---")
    body = [f"# {name}", "",
            f"A Tiny Recursive Model trained with arc-pipeline. Weights: `model.safetensors` (and `checkpoint/`, "
            f"arc-pipeline's own format: `arc-pipeline run --set run.checkpoint=checkpoint/ ...`); `config.toml` is "
            "the run's resolved config; `puzzle_map.parquet` names each puzzle-embedding row (task, augmentation).", ""]
    if score:
        body += ["## Results", "", "| metric | value |", "|---|---|"]
        body += [f"| {label} | {float(v):.4f} |" for _, v, label in metrics]
        body += [f"| tasks fully solved | {score.get('tasks_solved')}/{score.get('tasks')} |", ""]
    if protocol:
        body += ["## Protocol", "", "```json", json.dumps(protocol, indent=1), "```", ""]
    if cost:
        body += ["## Cost", "", "```json", json.dumps(cost, indent=1), "```", ""]
    body += [f"Source checkpoint: `{checkpoint.name}`.", ""]
    return "\n".join(lines + body)


def _yaml_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML scalar
