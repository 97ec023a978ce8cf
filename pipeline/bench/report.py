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


def measure(augs: int, out: Path | None = None) -> dict:
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
        if out is not None:
            from arc_pipeline.arc.io import write_text

            write_text(out, page)
        return {"tasks": len(data.rows), "predictions": n, "augs": augs, "gather_s": round(t1 - t0, 2),
                "render_s": round(t2 - t1, 2), "page_bytes": len(page.encode())}


@click.command("report")
@click.option("--augs", default=1000, show_default=True, help="Predictions per test input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also keep the page here (to look at a 400-task report).")
def cmd(augs: int, as_json: bool, out: Path | None) -> None:
    """report.html build time and size for 400 tasks x --augs predictions."""
    from arc_pipeline import ui

    result = measure(augs, out)
    if as_json:
        ui.verbatim(json.dumps(result))
        return
    ui.table("report.html at ARC scale", ["tasks", "predictions", "gather s", "render s", "page MB"],
             [[result["tasks"], result["predictions"], result["gather_s"], result["render_s"],
               round(result["page_bytes"] / 1e6, 2)]])
    if out is not None:
        ui.info(f"wrote {out}", markup=False)
