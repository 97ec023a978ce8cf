"""Shipped presets (pipeline/presets/<name>.toml), shipped variant overlays (pipeline/presets/variants/
<name>.toml) and config files as layers, `extends` resolved.

A variant is a partial config (the keys one model or training change sets) layered over any base
with `--config variants/NAME` (the shipped file, unless a file of that path exists): `bench learn`,
`bench suite` and `run` read the same files, so a variant means one thing everywhere.

A preset or a --config file may begin with `extends = "NAME"` (a shipped preset's name, never a
path): the base's layers come first, then the file's own keys over them, so a preset holds only
what differs from its base. A chain that returns to a file it left, or an unknown name, is an ArcError.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from arc_pipeline.arc.errors import ArcError

EXTENDS = "extends"
Layer = tuple[str, dict[str, Any]]  # (where it came from, its tables)


def preset_names() -> list[str]:
    files = resources.files("arc_pipeline").joinpath("presets").iterdir()
    return sorted(p.name[: -len(".toml")] for p in files if p.name.endswith(".toml"))


VARIANTS = "variants"


def variant_names() -> list[str]:
    files = resources.files("arc_pipeline").joinpath("presets", VARIANTS).iterdir()
    return sorted(p.name[: -len(".toml")] for p in files if p.name.endswith(".toml"))


def variant_text(name: str) -> str:
    """The TOML of a shipped variant overlay, by name."""
    if name not in variant_names():
        raise ArcError(f"unknown variant {name!r}; valid variants: {', '.join(variant_names())}")
    return resources.files("arc_pipeline").joinpath("presets", VARIANTS, f"{name}.toml").read_text(encoding="utf-8")


def _shipped_variant(path: str | Path) -> str | None:
    """NAME when `path` is written `variants/NAME` or `variants/NAME.toml` and names a shipped variant."""
    parts = Path(path).parts
    if len(parts) == 2 and parts[0] == VARIANTS:
        name = parts[1].removesuffix(".toml")
        return name if name in variant_names() else None
    return None


def preset_text(name: str) -> str:
    """The TOML of a shipped preset, by name (a name, never a path: `../x` is refused)."""
    if name not in preset_names():
        raise ArcError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())} "
                       "(a file of your own goes to --config FILE)")
    return resources.files("arc_pipeline").joinpath("presets", f"{name}.toml").read_text()


def preset_header(name: str) -> list[str]:
    """The comment lines a preset begins with, without their "# ": the command that runs it, a one-line
    summary (what `arc-pipeline presets` lists), then the details."""
    return _header(preset_text(name))


def _header(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        out.append(line[1:].strip())
    return out


def preset_summary(name: str) -> str:
    header = preset_header(name)
    return header[1] if len(header) > 1 else ""


def variant_summary(name: str) -> str:
    """Line 2 of a variant's header (line 1 is a command that uses it)."""
    header = _header(variant_text(name))
    return header[1] if len(header) > 1 else ""


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ArcError(f"{origin}: invalid TOML: {e}; fix the file") from None


def preset_layers(name: str) -> list[Layer]:
    """A preset's layers, its bases' first."""
    return _layers(f"preset {name!r}", parse_toml(preset_text(name), f"preset {name!r}"), (name,))


def file_layers(path: str | Path) -> list[Layer]:
    """A config file's layers, the bases it extends first."""
    p = Path(path)
    if not p.is_file():
        variant = _shipped_variant(p)
        if variant is not None:
            origin = f"variant {variant!r}"
            return _layers(origin, parse_toml(variant_text(variant), origin), ())
        raise ArcError(f"config file {p} does not exist; pass an existing TOML file to --config, or a shipped "
                       f"variant: {', '.join(f'{VARIANTS}/{n}' for n in variant_names())}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:  # TOML is UTF-8 by definition
        raise ArcError(f"config file {p} cannot be read as UTF-8 TOML ({e}); save it as UTF-8") from None
    return _layers(str(p), parse_toml(text, str(p)), ())


def _layers(origin: str, table: dict[str, Any], chain: tuple[str, ...]) -> list[Layer]:
    table = dict(table)
    base = table.pop(EXTENDS, None)
    if base is None:
        return [(origin, table)]
    if not isinstance(base, str) or not base:
        raise ArcError(f"{origin}: {EXTENDS} = {base!r}: valid: the name of a shipped preset, one of "
                       f"{', '.join(preset_names())}")
    if base not in preset_names():
        raise ArcError(f"{origin}: {EXTENDS} = {base!r}: unknown preset; valid presets: {', '.join(preset_names())}")
    if base in chain:
        raise ArcError(f"{origin}: {EXTENDS} = {base!r} makes a cycle ({' -> '.join((*chain, base))}); "
                       "a preset may not extend itself through its bases")
    inner = _layers(f"preset {base!r}", parse_toml(preset_text(base), f"preset {base!r}"), (*chain, base))
    return [*inner, (origin, table)]


def default_preset() -> str:
    """`gpu` when a GPU is visible, else `smoke`."""
    from arc_pipeline.solver.device import gpu_available

    return "gpu" if gpu_available() else "smoke"
