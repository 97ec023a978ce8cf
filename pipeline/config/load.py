"""Loading: defaults, then the preset, then each file, then each `section.key=value` (later wins),
typed on the way in and checked as a whole (each field by its own check, then pipeline.config.rules' relations)
before any stage sees it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config.presets import Layer, default_preset, file_layers, preset_layers
from arc_pipeline.config.names import reference_hint
from arc_pipeline.config.root import SECTIONS, PipelineConfig
from arc_pipeline.config.values import coerce

# A layer that sets the key on the left also sets the keys on the right, unless it sets them itself:
# a schedule in steps replaces a preset's schedule in epochs (`--set train.steps=N` yields steps),
# and the run's seed reseeds every stage that draws random numbers.
FOLLOWS: dict[tuple[str, str], tuple[tuple[str, str, Callable[[Any], Any]], ...]] = {
    ("train", "steps"): (("train", "epochs", lambda _: 0.0),),
    ("run", "seed"): tuple((sec, "seed", lambda seed: seed) for sec in ("build", "train", "predict")),
}

Values = dict[str, dict[str, Any]]


def load_config(
    preset: str | None = None,
    files: tuple[str | Path, ...] | list[str | Path] = (),
    sets: tuple[str, ...] | list[str] = (),
) -> PipelineConfig:
    """Defaults, then the preset (after the presets it extends), then each file, then each `section.key=value`."""
    layers: list[Layer] = preset_layers(preset) if preset is not None else []  # '' is an unknown name, not "none"
    for f in files:
        layers += file_layers(f)
    values: Values = {name: {} for name in SECTIONS}
    for origin, table in layers:
        layer = {}
        for sec, keys in table.items():
            _check_section(sec, origin, *(f"{sec}.{k}" for k in (keys if isinstance(keys, dict) else ())))
            if not isinstance(keys, dict):
                raise ArcError(f"{origin}: {sec!r} must be a table [{sec}], not a value")
            layer.update({(sec, key): coerce(SECTIONS[sec], sec, key, given, origin) for key, given in keys.items()})
        _apply(values, layer)
    for s in sets:
        sec, key, given = _split_set(s)
        _check_section(sec, f"--set {s}", f"{sec}.{key}")
        _apply(values, {(sec, key): coerce(SECTIONS[sec], sec, key, given, f"--set {s}", from_text=True)})
    sections = {name: SECTIONS[name](**values[name]) for name in SECTIONS}
    return validated(_sync(PipelineConfig(**sections), values))


def _apply(values: Values, layer: dict[tuple[str, str], Any]) -> None:
    """One layer's values over the ones before it, with the keys that FOLLOW them."""
    for (sec, key), value in layer.items():
        values[sec][key] = value
        for fsec, fkey, derive in FOLLOWS.get((sec, key), ()):
            if (fsec, fkey) not in layer:
                values[fsec][fkey] = derive(value)


def validated(cfg: PipelineConfig) -> PipelineConfig:
    """`cfg` when every field passes its check and every relation holds (pipeline.config.rules; types were
    checked on the way in), else one ArcError."""
    from arc_pipeline.config.rules import check

    check(cfg)
    return cfg


def _sync(cfg: PipelineConfig, given: Values) -> PipelineConfig:
    """[run] protocol is the one source of truth; [build] protocol follows it."""
    b = cfg.build
    if b.protocol == cfg.run.protocol:
        return cfg
    if "protocol" in given.get("build", {}) and "protocol" in given.get("run", {}):
        raise ArcError(f"[build] protocol = {b.protocol!r} contradicts [run] protocol = {cfg.run.protocol!r}; "
                       "set run.protocol only")
    if "protocol" in given.get("build", {}):  # only [build] said it: take it as the run's
        return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, protocol=b.protocol))
    return dataclasses.replace(cfg, build=dataclasses.replace(b, protocol=cfg.run.protocol))


def override(cfg: PipelineConfig, sets: list[str] | tuple[str, ...]) -> PipelineConfig:
    """`cfg` with `section.key=value` overrides applied, each one a layer of its own."""
    out = cfg
    for s in sets:
        sec, key, given = _split_set(s)
        _check_section(sec, f"--set {s}", f"{sec}.{key}")
        value = coerce(SECTIONS[sec], sec, key, given, f"--set {s}", from_text=True)
        changes: Values = {name: {} for name in SECTIONS}
        _apply(changes, {(sec, key): value})
        out = dataclasses.replace(out, **{name: dataclasses.replace(getattr(out, name), **keys)
                                          for name, keys in changes.items() if keys})
        if (sec, key) == ("run", "protocol"):
            out = _sync(out, {})
    return validated(out)


def read_config(path: str | Path) -> PipelineConfig:
    """A resolved config written by `write_config` (run_dir/config.toml)."""
    return load_config(files=[path])


def _split_set(s: str) -> tuple[str, str, str]:
    m = re.fullmatch(r"\s*([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\s*=(.*)", s, flags=re.S)
    if not m:
        raise ArcError(f"--set {s!r}: expected section.key=value, e.g. --set train.steps=200"
                       f"{reference_hint(s.partition('=')[0].strip())}")
    return m.group(1), m.group(2), m.group(3).strip()


def _check_section(sec: str, origin: str, *keys: str) -> None:
    """An unknown section is an ArcError listing the valid ones (and, for a reference TRM name such as
    `arch.H_cycles` or a top-level `lr`, the key it is here)."""
    if sec not in SECTIONS:
        raise ArcError(f"{origin}: unknown section [{sec}]; valid sections: {', '.join(SECTIONS)}"
                       f"{reference_hint(*keys, sec)}")


def resolve(
    run_dir: str | Path | None,
    *,
    preset: str | None = None,
    files: tuple[str, ...] = (),
    sets: tuple[str, ...] = (),
) -> tuple[PipelineConfig, Path, str]:
    """(config, run directory, where the config came from) for a command.

    With neither a preset nor a file, an existing run_dir/config.toml is reused (so a plain rerun
    resumes the same run); otherwise the default preset applies. Default run dir: runs/<preset>.
    """
    existing = Path(run_dir) / "config.toml" if run_dir is not None else None
    if preset is None and not files and existing is not None and existing.is_file():
        return load_config(files=[existing], sets=sets), Path(run_dir), str(existing)
    if preset is None and not files:
        preset = default_preset()
    cfg = load_config(preset, files, sets)
    origin = " + ".join(([f"preset {preset}"] if preset else []) + [str(f) for f in files])
    name = preset or Path(files[-1]).stem
    return cfg, Path(run_dir) if run_dir is not None else Path("runs") / name, origin
