"""`arc-pipeline bench report`: report.html's build time and size at ARC scale.

Writes a synthetic run directory (arc_pipeline.report.synthetic: the 400 ARC-AGI-1 evaluation tasks
with `--augs` predictions per test input), then times gather + render in this process.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import click


def measure(augs: int) -> dict:
    from arc_pipeline.report import gather, render
    from arc_pipeline.report.synthetic import synthetic_run

    with tempfile.TemporaryDirectory(prefix="arc-bench-report-") as tmp:
        root = Path(tmp) / "run"
        n = synthetic_run(root, augs)
        t0 = time.perf_counter()
        data = gather(root)
        t1 = time.perf_counter()
        page = render(data)
        t2 = time.perf_counter()
        return {"tasks": len(data.rows), "predictions": n, "augs": augs, "gather_s": round(t1 - t0, 2),
                "render_s": round(t2 - t1, 2), "page_bytes": len(page.encode())}


@click.command("report")
@click.option("--augs", default=1000, show_default=True, help="Predictions per test input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def cmd(augs: int, as_json: bool) -> None:
    """report.html build time and size for 400 tasks x --augs predictions."""
    from arc_pipeline import ui

    out = measure(augs)
    if as_json:
        ui.raw(json.dumps(out))
        return
    ui.table("report.html at ARC scale", ["tasks", "predictions", "gather s", "render s", "page MB"],
             [[out["tasks"], out["predictions"], out["gather_s"], out["render_s"], round(out["page_bytes"] / 1e6, 2)]])
