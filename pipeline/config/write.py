"""The resolved config written as TOML (run_dir/config.toml), which `read_config` reads back identical."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from arc_pipeline.config.root import PipelineConfig


def to_toml(cfg: PipelineConfig) -> str:
    """The resolved config as TOML (scalars, lists and one table per section)."""
    lines = ["# the fully resolved configuration of this run (preset + files + --set)"]
    for name, values in cfg.to_dict().items():
        lines.append(f"\n[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def write_config(cfg: PipelineConfig, path: str | Path) -> None:
    from arc_pipeline.arc.io import write_text

    write_text(path, to_toml(cfg))
