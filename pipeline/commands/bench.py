"""`arc-pipeline bench ...`: each benchmark is its own module under pipeline/bench/."""

import click

from arc_pipeline.cli import LazyGroup

BENCHES = {
    "augment": ("arc_pipeline.bench.augment", "cmd", "numba vs numpy, the 1000-augmentation build, loader throughput."),
    "train": ("arc_pipeline.bench.train", "cmd", "Training examples/s at the paper's ARC config and a tiny one."),
    "memory": ("arc_pipeline.bench.memory", "cmd", "Per-example training memory (saved tensors, CPU) and the memory model at data scale."),
    "table": ("arc_pipeline.bench.table", "cmd", "Training step with the puzzle table on the device vs off it (>= 2M rows); checkpoint cost."),
    "gpu": ("arc_pipeline.bench.gpu", "cmd", "GPU figures in ~8 min: ARC train ex/s + fraction of bf16 peak, memory, predictions/s, a short run."),
    "learn": ("arc_pipeline.bench.learn", "cmd", "TRM vs no-recursion baseline on generated 6x6 Sudoku."),
    "infer": ("arc_pipeline.bench.infer", "cmd", "Predictions/s with halting on and off; voting time."),
    "raw": ("arc_pipeline.bench.raw", "cmd", "Disk and memory cost of predictions_raw.parquet at ARC scale."),
    "suite": ("arc_pipeline.bench.suite", "cmd", "The whole chain on a generated suite of simple ARC tasks."),
    "report": ("arc_pipeline.bench.report", "cmd", "report.html build time and size at ARC scale (400 tasks x 1000 predictions)."),
    "data": ("arc_pipeline.bench.data", "cmd", "A generated source (NVARC layout with --tasks) through ingest and build: seconds, peak RSS, disk."),
}


@click.group("bench", cls=LazyGroup, registry=BENCHES)
def bench() -> None:
    """Benchmarks: commands that print figures (add --json for one JSON object)."""
