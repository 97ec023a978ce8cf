"""arc-pipeline: the ARC-AGI pipeline around Tiny Recursive Models, as a package.

    import arc_pipeline
    result = arc_pipeline.run("smoke", "runs/smoke")   # every stage, as `arc-pipeline run` runs them
    arc_pipeline.train(run_dir="runs/smoke")           # one stage (ingest, build, train, adapt, predict, submit, score)
    arc_pipeline.api.report(run_dir="runs/smoke")      # `report` is also this package's report module's name

The functions are `arc_pipeline.api`'s (budget, lock and tracking exactly as the CLI's); importing
this package loads no torch (they load when called).
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module holding it; resolved on first use so `import arc_pipeline` stays light
_LAZY = {
    **{name: "arc_pipeline.api" for name in ("run", "run_stage", "resolve_config", "RunResult", "ingest", "build",
                                             "train", "adapt", "predict", "submit", "score")},
    "load_config": "arc_pipeline.config",
    "PipelineConfig": "arc_pipeline.config",
    "ArcError": "arc_pipeline.arc.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "api":
        return importlib.import_module("arc_pipeline.api")
    raise AttributeError(f"module 'arc_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"api"})
