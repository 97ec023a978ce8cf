"""`arc-pipeline bench raw`: what predictions_raw.parquet costs on disk and in memory at ARC scale.

Builds the ARC-AGI-1 evaluation test split (30x30 canvas, `--augs` augmentations per task), takes
every example's true answer tokens (its augmented test output) as the model's prediction at each of
16 steps with some cells wrong, and writes the rows through the predictor's own `solver.raw.raw_frame`
(zstd), so the figure covers the real schema and decoding. Two trajectory models bracket it:
`settle` (K ~ U{0..8} wrong cells, one fewer each step: every step converges to the answer) and
`distinct` (K ~ U{1..40} wrong cells re-drawn every step: every step a different grid). Bytes per
row are then multiplied to `--scale-augs` (default 1000) augmentations.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click


def measure(augs: int, scale_augs: int, seed: int = 0) -> dict:
    import numpy as np

    from arc_pipeline.arc.load import load
    from arc_pipeline.augment.build import BuildConfig, build
    from arc_pipeline.augment.dataset import open_split
    from arc_pipeline.augment.encode import COLOR0
    from arc_pipeline.solver.infer import Raw
    from arc_pipeline.solver.raw import raw_frame

    steps = 16
    target = load("arc1/evaluation").tasks
    out: dict = {"augs": augs, "steps": steps}
    with tempfile.TemporaryDirectory(prefix="arc-bench-raw-") as tmp:
        build({}, target, BuildConfig(augmentations=augs, canvas=30), Path(tmp) / "ds")
        src = open_split(Path(tmp) / "ds", "test")
        n = len(src)
        truth = np.asarray(src.batch(np.arange(n), 0).labels, dtype=np.uint8)
        colour = truth >= COLOR0
        rng = np.random.default_rng(seed)
        for name, (k_lo, k_hi, settles) in {"settle": (0, 8, True), "distinct": (1, 40, False)}.items():
            tokens = np.repeat(truth[:, None, :], steps, axis=1)
            k0 = rng.integers(k_lo, k_hi + 1, n)
            for i in range(n):
                cells = np.flatnonzero(colour[i])
                for s in range(steps):
                    k = max(0, k0[i] - s) if settles else k0[i]
                    if k and len(cells):
                        tokens[i, s, rng.choice(cells, min(k, len(cells)))] = rng.integers(COLOR0, COLOR0 + 10, min(k, len(cells)))
            probs = 1 / (1 + np.exp(-(np.arange(steps)[None, :] - 8 + rng.normal(size=(n, steps)))))
            raw = Raw(np.arange(n), tokens[:, -1], probs[:, -1].astype(np.float32), np.full(n, steps, np.int16),
                      tokens, probs.astype(np.float32))
            t0 = time.perf_counter()
            frame = raw_frame(raw, src, 0.5, 1)
            f = Path(tmp) / f"{name}.parquet"
            frame.write_parquet(f, compression="zstd")
            per_row = f.stat().st_size / n
            out[name] = {"rows": n, "bytes": f.stat().st_size, "bytes_per_row": round(per_row, 1),
                         "memory_bytes_per_row": round(frame.estimated_size() / n, 1),
                         "scaled_gb": round(per_row * n / augs * scale_augs / 1e9, 3),
                         "scaled_memory_gb": round(frame.estimated_size() / augs * scale_augs / 1e9, 2),
                         "seconds": round(time.perf_counter() - t0, 1)}
        out["test_inputs"] = int(src.examples.select("task_id", "test_index").unique().height)
        out["scale_augs"] = scale_augs
    return out


@click.command("raw")
@click.option("--augs", default=100, show_default=True, help="Augmentations per task to build and write.")
@click.option("--scale-augs", default=1000, show_default=True, help="Augmentations to extrapolate the size to.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(augs: int, scale_augs: int, as_json: bool) -> None:
    """Disk and memory cost of predictions_raw.parquet at ARC scale."""
    from arc_pipeline import ui

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    out = measure(augs, scale_augs)
    if as_json:
        ui.verbatim(json.dumps(out))
        return
    ui.table(f"predictions_raw.parquet, ARC-AGI-1 evaluation ({out['test_inputs']} test inputs), {out['steps']} steps",
             ["trajectories", "rows written", "B/row", f"GB at {scale_augs} augs", "memory B/row", f"memory GB at {scale_augs}"],
             [[k, out[k]["rows"], out[k]["bytes_per_row"], out[k]["scaled_gb"], out[k]["memory_bytes_per_row"],
               out[k]["scaled_memory_gb"]] for k in ("settle", "distinct")])
