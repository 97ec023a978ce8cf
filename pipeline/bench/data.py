"""`arc-pipeline bench data`: a generated source through ingest and build, in a fresh process.

`--tasks N` (NVARC's scale): N tasks in the layout of NVARC's synthetic puzzles
(`nvarc_training/<anchor>/<anchor>_<n>.json`, each a list of pairs, one task per file), sizes drawn
like ARC's: each task is a random ARC-AGI-1 training task, all its pairs, under a random dihedral
transform and colour permutation. Without it (`--examples`), the older source: RE-ARC-shaped pools
(`tasks/<id>.json` plus `metadata.json`) or JSON Lines of BARC-style example lists (`--format jsonl`).

Ingest (reading on every core, validation, the exact and symmetry overlap checks against the
target, tasks/) and build (dataset/) then run through the real stages in a fresh interpreter;
the peak RSS reported is the sum over that process and its workers, sampled every 0.2 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
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
    return {"examples": written, "files": files, "source_mb": round(folder_bytes(out) / 1024**2, 1)}


def generate_nvarc(out: Path, tasks: int, seed: int = 0, source: str = "arc1/training") -> dict:
    """N tasks in the layout of NVARC's synthetic puzzles under `out/nvarc_training/`; returns counts."""
    import numpy as np

    from arc_pipeline.arc.load import load
    from arc_pipeline.augment.records import Aug
    from arc_pipeline.augment.transform import apply_batch

    base = list(load(source))
    rng = np.random.default_rng(seed)
    root = out / "nvarc_training"
    pairs = 0
    for n, k in enumerate(rng.integers(0, len(base), tasks).tolist()):
        t = base[k]
        aug = Aug(int(rng.integers(0, 8)), (0, *map(int, 1 + rng.permutation(9))))
        ps = [*t.train, *t.test]
        ins = apply_batch([p.input for p in ps], [aug] * len(ps))
        outs = apply_batch([p.output for p in ps], [aug] * len(ps))
        folder = root / t.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{t.id}_{n}.json").write_text(json.dumps(
            [{"input": a.tolist(), "output": b.tolist()} for a, b in zip(ins, outs)], separators=(",", ":")))
        pairs += len(ps)
    return {"tasks": tasks, "pairs": pairs, "source_gb": round(folder_bytes(out) / 1e9, 3)}


def folder_bytes(path: Path) -> int:
    """Bytes of every file under `path` (bench table's checkpoints too)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _child(source: str, run_dir: str, augmentations: int, target: str) -> None:
    # A fresh interpreter, so the memory measured is ingest's and build's alone.
    import resource

    from arc_pipeline.config import load_config
    from arc_pipeline.stages import Context, build, ingest

    sets = [f'data.train=["{source}"]', f'data.target="{target}"', f"build.augmentations={augmentations}",
            "data.max_side=0"]
    cfg = load_config(sets=sets)  # defaults: the paper's 30x30 canvas, every grid kept
    def cpu() -> float:  # this process and its finished workers: work done, whatever the machine's load
        return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))

    out = {}
    for name, stage in (("ingest", ingest), ("build", build)):
        t0, c0 = time.perf_counter(), cpu()
        res = stage.run(cfg, run_dir, Context())
        out[f"{name}_seconds"] = round(time.perf_counter() - t0, 1)
        out[f"{name}_cpu_seconds"] = round(cpu() - c0, 1)
        out[f"{name}_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
        out[f"{name}_summary"] = res.summary
    print(json.dumps(out))


def _tree_rss(pid: int) -> int:
    """Resident bytes of process `pid` and every process below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def run_child(code: str) -> tuple[dict, int]:
    """Run `python -c code`, sampling its process tree's RSS; (its last stdout line as JSON, peak bytes)."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    stdout, stderr = proc.communicate()
    t.join()
    if proc.returncode != 0:
        raise click.ClickException(f"ingest/build subprocess failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), peak[0]


def measure(examples: int, fmt: str, augmentations: int, target: str, workdir: Path) -> dict:
    t0 = time.perf_counter()
    gen = generate(workdir / "source", examples, fmt)
    gen_s = time.perf_counter() - t0
    src = workdir / "source" / ("examples.jsonl" if fmt == "jsonl" else "")
    got, peak = run_child(f"from arc_pipeline.bench.data import _child; _child({str(src)!r}, {str(workdir / 'run')!r}, "
                          f"{augmentations}, {target!r})")
    ing, bld = got.pop("ingest_summary"), got.pop("build_summary")
    return {"format": fmt, **gen, "generate_seconds": round(gen_s, 1), "augmentations": augmentations,
            "target": target, "train_tasks": ing.get("train_tasks"), "train_dropped": ing.get("train_dropped"),
            "puzzles": bld.get("puzzles"), "train_examples": bld.get("train_examples"), **got,
            "peak_rss_tree_gb": round(peak / 1e9, 2)}


def measure_nvarc(tasks: int, augmentations: int, target: str, workdir: Path) -> dict:
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    gen = generate_nvarc(workdir / "source", tasks)
    gen_s = time.perf_counter() - t0
    src, run = workdir / "source" / "nvarc_training", workdir / "run"
    got, peak = run_child(f"from arc_pipeline.bench.data import _child; _child({str(src)!r}, {str(run)!r}, "
                          f"{augmentations}, {target!r})")
    ing, bld = got["ingest_summary"], got["build_summary"]
    from arc_pipeline.arc.pool import cores

    return {"tasks": tasks, "augmentations": augmentations, "target": target, "pairs": gen["pairs"],
            "train_tasks": ing.get("train_tasks"), "train_dropped": ing.get("train_dropped"),
            "puzzle_rows": bld.get("puzzles"), "train_examples": bld.get("train_examples"),
            "generate_s": round(gen_s, 1), "ingest_s": got["ingest_seconds"], "build_s": got["build_seconds"],
            "ingest_cpu_s": got["ingest_cpu_seconds"], "build_cpu_s": got["build_cpu_seconds"],
            "peak_rss_gb": round(peak / 1e9, 2), "peak_rss_main_gb": max(got["ingest_peak_rss_gb"], got["build_peak_rss_gb"]),
            "disk_gb": round((folder_bytes(run / "tasks") + folder_bytes(run / "dataset")) / 1e9, 3), "source_gb": gen["source_gb"],
            "cores": cores(), "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}


@click.command("data")
@click.option("--tasks", type=int, default=None,
              help="Generate this many tasks in NVARC's synthetic layout (instead of --examples).")
@click.option("--examples", default=1_000_000, show_default=True, help="Examples in the generated RE-ARC/JSONL source.")
@click.option("--format", "fmt", type=click.Choice(["rearc", "jsonl"]), default="rearc", show_default=True)
@click.option("--augmentations", default=1, show_default=True, help="build.augmentations for the build.")
@click.option("--target", default=None, help="Target source (default: arc2/evaluation with --tasks, else arc1/evaluation).")
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default=None,
              help="Work folder (default: a temporary one, removed after).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(tasks: int | None, examples: int, fmt: str, augmentations: int, target: str | None, workdir: str | None,
        as_json: bool) -> None:
    """A generated source through ingest and build: seconds, peak RSS and disk of each."""
    from arc_pipeline import ui

    def go(folder: Path) -> dict:
        if tasks is not None:
            return measure_nvarc(tasks, augmentations, target or "arc2/evaluation", folder)
        return measure(examples, fmt, augmentations, target or "arc1/evaluation", folder)

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
            res = go(Path(tmp))
    else:
        res = go(Path(workdir))
    if as_json:
        ui.console.print(json.dumps(res), markup=False, highlight=False, soft_wrap=True)
        return
    ui.table("bench data", ["figure", "value"], [[k, str(v)] for k, v in res.items()])
