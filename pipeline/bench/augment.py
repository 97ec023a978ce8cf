"""`arc-pipeline bench augment`: numba vs numpy, the 1000-augmentation build, loader throughput.

Figures: `numba_vs_numpy` (time of a plain-numpy per-example loop over the time of the numba kernel,
same batches, outputs checked equal), `build_seconds` / `build_peak_rss_gb` (the build of
ARC-AGI-1 training + evaluation in a fresh subprocess, its own peak RSS), `loader_examples_per_s`
(`ArcSource.batch` at batch 768 on one core, translation included).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

BATCH = 768


def numpy_encode(grids, grid_in, grid_out, rows, offsets, canvas):
    """The plain-numpy path of the loader's kernel: one example at a time with numpy ops."""
    import numpy as np

    from arc_pipeline.augment.records import dihedral_numpy

    n = len(grid_in)
    inputs = np.zeros((n, canvas, canvas), dtype=np.uint8)
    labels = np.zeros((n, canvas, canvas), dtype=np.uint8)
    for b in range(n):
        colors = rows[b, 1:].astype(np.uint8) + 2
        r, c = offsets[b]
        for g, out in ((grid_in[b], inputs[b]), (grid_out[b], labels[b])):
            if g < 0:
                continue
            t = colors[dihedral_numpy(grids.grid(g), int(rows[b, 0]))]
            h, w = t.shape
            out[r : r + h, c : c + w] = t
            out[r + h : r + h + 1, c : c + w] = 1
            out[r : r + h, c + w : c + w + 1] = 1
    return inputs.reshape(n, -1), labels.reshape(n, -1)


def _child(train: str, target: str, augmentations: int, out_dir: str) -> None:
    # Runs in a fresh interpreter so its peak RSS is the build's own.
    import resource

    from arc_pipeline.arc.load import load
    from arc_pipeline.augment.build import BuildConfig, build

    t0 = time.perf_counter()
    tr, tg = load(train).tasks, load(target).tasks
    t1 = time.perf_counter()
    res = build(tr, tg, BuildConfig(augmentations=augmentations), out_dir)
    t2 = time.perf_counter()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"load_seconds": t1 - t0, "build_seconds": t2 - t1, "peak_rss_kb": rss_kb,
                      "num_puzzles": res.num_puzzles, "counts": res.counts}))


def _run_build(train: str, target: str, augmentations: int, out_dir: Path) -> dict:
    code = f"from arc_pipeline.bench.augment import _child; _child({train!r}, {target!r}, {augmentations}, {str(out_dir)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise click.ClickException(f"build subprocess failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _time(fn, seconds: float) -> tuple[float, int]:
    """(seconds per call, calls) of fn over about `seconds` of wall time (at least one call)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn(calls)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls, calls


def measure(train: str, target: str, augmentations: int, seconds: float, workdir: Path) -> dict:
    import numba
    import numpy as np

    from arc_pipeline.augment.dataset import open_split
    from arc_pipeline.augment.kernels import _encode_examples

    numba.set_num_threads(1)
    out_dir = workdir / "dataset"
    built = _run_build(train, target, augmentations, out_dir)
    src = open_split(out_dir, "train")
    size = sum(p.stat().st_size for p in out_dir.iterdir())

    rng = np.random.default_rng(0)
    batches = [np.sort(rng.integers(0, len(src), BATCH)) for _ in range(16)]
    src.batch(batches[0], 0)  # compile / load the cached kernels outside the timing
    loader_s, _ = _time(lambda i: src.batch(batches[i % 16], seed=i), seconds)

    # numba vs numpy on identical inputs (records and offsets taken from the loader's own batches)
    work = []
    for i, idx in enumerate(batches[:4]):
        rows = np.asarray(src.rows[idx], dtype=np.int64)
        recs = src.augs[rows[:, 0]]
        work.append((np.ascontiguousarray(rows[:, 1]), np.ascontiguousarray(rows[:, 2]), recs,
                     src._offsets(idx, rows, recs, i)))
    c = src.canvas

    def with_numba(i):
        gi, go, recs, off = work[i % 4]
        inputs = np.zeros((len(gi), c * c), np.uint8)
        labels = np.zeros((len(gi), c * c), np.uint8)
        _encode_examples(src.grids.data, src.grids.starts, src.grids.shapes, gi, go, recs, off, c, inputs, labels)
        return inputs, labels

    for i in range(4):
        fast, slow = with_numba(i), numpy_encode(src.grids, *work[i], c)
        if not (np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])):
            raise click.ClickException("numba and numpy paths disagree: a kernel bug")
    numba_s, _ = _time(with_numba, seconds / 2)
    numpy_s, _ = _time(lambda i: numpy_encode(src.grids, *work[i % 4], c), seconds / 2)
    materialised = 2 * (built["counts"]["train"] + built["counts"]["test"]) * src.seq_len
    return {
        "train": train,
        "target": target,
        "augmentations": augmentations,
        "num_puzzles": built["num_puzzles"],
        "examples": built["counts"],
        "build_seconds": round(built["build_seconds"], 3),
        "load_seconds": round(built["load_seconds"], 3),
        "build_peak_rss_gb": round(built["peak_rss_kb"] / 1024**2, 3),
        "dataset_mb": round(size / 1024**2, 1),
        "materialised_tokens_gb": round(materialised / 1024**3, 2),
        "numba_examples_per_s": round(BATCH / numba_s),
        "numpy_examples_per_s": round(BATCH / numpy_s),
        "numba_vs_numpy": round(numpy_s / numba_s, 1),
        "loader_examples_per_s": round(BATCH / loader_s),
        "loader_batch": BATCH,
    }


@click.command("augment")
@click.option("--train", default="arc1/training", show_default=True, help="Training tasks of the build.")
@click.option("--target", default="arc1/evaluation", show_default=True, help="Target tasks of the build.")
@click.option("--augmentations", default=1000, show_default=True, help="Augmentations per task.")
@click.option("--seconds", default=3.0, show_default=True, help="Wall time per throughput measurement.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(train: str, target: str, augmentations: int, seconds: float, as_json: bool) -> None:
    """numba vs numpy, the full augmented build (time, peak memory), loader examples/s on one core."""
    from arc_pipeline import ui

    with tempfile.TemporaryDirectory(prefix="arc-bench-augment-") as tmp:
        r = measure(train, target, augmentations, seconds, Path(tmp))
    if as_json:
        ui.verbatim(json.dumps(r))
        return
    ui.table(
        f"augment: {train} + {target}, {augmentations} augmentations",
        ["figure", "value", "target"],
        [
            ["build (s)", f"{r['build_seconds']:.1f}", "<= 60"],
            ["build peak RSS (GB)", f"{r['build_peak_rss_gb']:.2f}", "<= 2"],
            ["puzzle ids", f"{r['num_puzzles']:,}", ""],
            ["train / test examples", f"{r['examples']['train']:,} / {r['examples']['test']:,}", ""],
            ["dataset on disk (MB)", f"{r['dataset_mb']:.0f}", f"(materialised tokens: {r['materialised_tokens_gb']} GB)"],
            ["numba vs numpy", f"{r['numba_vs_numpy']:.1f}x", ">= 20x"],
            ["  numba / numpy (ex/s)", f"{r['numba_examples_per_s']:,} / {r['numpy_examples_per_s']:,}", ""],
            ["loader, one core (ex/s)", f"{r['loader_examples_per_s']:,}", ">= 50,000"],
        ],
    )
