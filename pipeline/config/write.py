"""The resolved config written as TOML (run_dir/config.toml), which `read_config` reads back identical."""

from __future__ import annotations

import dataclasses
import json
import math
import textwrap
import typing
from pathlib import Path
from typing import Any, Literal

from arc_pipeline.arc.fields import check_of, help_of
from arc_pipeline.config.root import SECTIONS, PipelineConfig


def to_toml(cfg: PipelineConfig, *, explain: bool = False) -> str:
    """The resolved config as TOML (scalars, lists and one table per section); `explain` puts each
    field's help and what is valid (its `option` declaration) above it as comments."""
    lines = ["# the fully resolved configuration of this run (preset + files + --set)"]
    for name in SECTIONS:
        section = getattr(cfg, name)
        lines.append(f"\n[{name}]")
        hints = typing.get_type_hints(type(section))
        for f in dataclasses.fields(section):
            if explain:
                lines += _comment(f, hints[f.name])
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
    return "\n".join(lines) + "\n"


def _comment(f: dataclasses.Field, hint: Any) -> list[str]:
    check = check_of(f)
    choices = typing.get_args(hint) if typing.get_origin(hint) is Literal else ()
    valid = check.valid if check is not None else " | ".join(map(str, choices))
    text = help_of(f) + (f" (valid: {valid})" if valid else "")
    return textwrap.wrap(text, width=110, initial_indent="# ", subsequent_indent="# ")


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
