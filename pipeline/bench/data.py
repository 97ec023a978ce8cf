"""`arc-pipeline bench data`: a generated source of a million examples through ingest and build.

The source is RE-ARC-shaped (`tasks/<id>.json` pools plus `metadata.json`), or JSON Lines of
BARC-style example lists (`--format jsonl`, 4 examples a line): every example is a real pair of
an ARC-AGI-1 training task under a random dihedral transform and colour permutation. Ingest
(loading, validation, the exact and symmetry overlap checks against the target, tasks/*.json)
and build then run in a fresh interpreter, so the peak RSS reported is theirs alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click


def generate(out: Path, examples: int, fmt: str, seed: int = 0, source: str = "arc1/training") -> dict:
    """Write the source; returns its file count and size."""
    import numpy as np

    from arc_pipeline.arc.load import load
    from arc_pipeline.augment.records import Aug
    from arc_pipeline.augment.transform import apply_batch

    tasks = list(load(source))
    per = -(-examples // len(tasks))
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    written, files = 0, 0
    lines = open(out / "examples.jsonl", "w") if fmt == "jsonl" else None
    if fmt == "rearc":
        (out / "tasks").mkdir(exist_ok=True)
        (out / "metadata.json").write_text("{}")
    for t in tasks:
        n = min(per, examples - written)
        if n <= 0:
            break
        pairs = [*t.train, *t.test]
        pick = rng.integers(0, len(pairs), n)
        augs = [Aug(int(d), (0, *map(int, 1 + rng.permutation(9)))) for d in rng.integers(0, 8, n)]
        ins = apply_batch([pairs[i].input for i in pick], augs)
        outs = apply_batch([pairs[i].output for i in pick], augs)
        if lines is None:
            pool = [{"input": a.tolist(), "output": b.tolist()} for a, b in zip(ins, outs)]
            (out / "tasks" / f"{t.id}.json").write_text(json.dumps(pool, separators=(",", ":")))
            files += 1
        else:
            n -= n % 4  # whole lines of 4 examples
            for k in range(0, n, 4):
                lines.write(json.dumps({"examples": [[ins[j].tolist(), outs[j].tolist()] for j in range(k, k + 4)],
                                        "source": t.id}, separators=(",", ":")) + "\n")
        written += n
    if lines is not None:
        lines.close()
        files = 1
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"examples": written, "files": files, "source_mb": round(size / 1024**2, 1)}


def _child(source: str, run_dir: str, augmentations: int, target: str) -> None:
    # A fresh interpreter: ru_maxrss is ingest's and build's own (read after each, it only grows).
    import resource

    from arc_pipeline.config import load_config
    from arc_pipeline.stages import Context, build, ingest

    sets = [f'data.train=["{source}"]', f'data.target="{target}"', f"build.augmentations={augmentations}",
            "data.max_side=0"]
    cfg = load_config(sets=sets)  # defaults: the paper's 30x30 canvas, every grid kept
    out = {}
    for name, stage in (("ingest", ingest), ("build", build)):
        t0 = time.perf_counter()
        res = stage.run(cfg, run_dir, Context())
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
        out[f"{name}_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
        out[f"{name}_summary"] = res.summary
    print(json.dumps(out))


def measure(examples: int, fmt: str, augmentations: int, target: str, workdir: Path) -> dict:
    t0 = time.perf_counter()
    gen = generate(workdir / "source", examples, fmt)
    gen_s = time.perf_counter() - t0
    src = workdir / "source" / ("examples.jsonl" if fmt == "jsonl" else "")
    code = (f"from arc_pipeline.bench.data import _child; _child({str(src)!r}, {str(workdir / 'run')!r}, "
            f"{augmentations}, {target!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise click.ClickException(f"ingest/build subprocess failed:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    ing, bld = got.pop("ingest_summary"), got.pop("build_summary")
    return {"format": fmt, **gen, "generate_seconds": round(gen_s, 1), "augmentations": augmentations,
            "target": target, "train_tasks": ing.get("train_tasks"), "train_dropped": ing.get("train_dropped"),
            "puzzles": bld.get("puzzles"), "train_examples": bld.get("train_examples"), **got}


@click.command("data")
@click.option("--examples", default=1_000_000, show_default=True, help="Examples in the generated source.")
@click.option("--format", "fmt", type=click.Choice(["rearc", "jsonl"]), default="rearc", show_default=True)
@click.option("--augmentations", default=1, show_default=True, help="build.augmentations for the build.")
@click.option("--target", default="arc1/evaluation", show_default=True)
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default=None,
              help="Work folder (default: a temporary one, removed after).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(examples: int, fmt: str, augmentations: int, target: str, workdir: str | None, as_json: bool) -> None:
    """A generated million-example source through ingest and build: seconds and peak RSS of each."""
    from arc_pipeline import ui

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
            res = measure(examples, fmt, augmentations, target, Path(tmp))
    else:
        res = measure(examples, fmt, augmentations, target, Path(workdir))
    if as_json:
        ui.console.print(json.dumps(res), markup=False, highlight=False, soft_wrap=True)
        return
    ui.table("bench data", ["figure", "value"], [[k, str(v)] for k, v in res.items()])
