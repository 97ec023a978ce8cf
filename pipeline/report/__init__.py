"""report.html and compare.html: every page the pipeline draws about a run, in one package.

- `gather`: what a run's page shows, read from its run directory; `write` gathers, renders, writes.
- `page`: the page's data (`ReportData`, `TaskRow`, `InputView`, `Candidate`) and `render`.
- `charts`: hand-drawn inline SVG line and bar charts.
- `provenance`: the protocol and cost sections (score.json's blocks) and the evaluated checkpoints (curve, table).
- `style`: the CSS and JavaScript the pages share.
- `compare`: runs side by side (`arc-pipeline compare`).
- `board`: the page of a Sudoku or maze run (a board run).
- `synthetic`: an ARC-scale synthetic run directory (`arc-pipeline bench report`).
"""

from arc_pipeline.report.gather import gather, write  # noqa: F401 (re-exported)
from arc_pipeline.report.page import render  # noqa: F401 (re-exported)
