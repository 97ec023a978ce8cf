"""The pipeline's stages, in order. Each is a module `pipeline/stages/<name>.py` holding its `run`
and its contract `STAGE` (`pipeline.stages.contract.Stage`); `pipeline.stages.runner` runs them
against the manifest knowing nothing about any one of them. `pipeline.stages.boards` holds the bodies six
of them hand over to on Sudoku and maze runs; it imports the contract, never this package's list."""

from __future__ import annotations

from arc_pipeline.stages.contract import Advance, Context, Stage, StageResult  # noqa: F401 (re-exported)

from arc_pipeline.stages import adapt, build, ingest, predict, report, score, submit, train  # noqa: E402

PIPELINE: tuple[Stage, ...] = tuple(m.STAGE for m in (ingest, build, train, adapt, predict, submit, score, report))
STAGES: tuple[str, ...] = tuple(s.name for s in PIPELINE)
BY_NAME: dict[str, Stage] = {s.name: s for s in PIPELINE}
