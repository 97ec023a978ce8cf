"""The run's configuration: frozen sections composed into `RunConfig`, loaded from a preset, a TOML
file and `--set section.key=value` overrides (in that order), and written back as TOML.

Each stage's section dataclass belongs to the package that uses it (BuildConfig in augment.build,
ModelConfig/TrainConfig in solver.config, AdaptConfig in solver.adapt, PredictConfig in
solver.infer); only [data] and [run] live here. An unknown section or key is an ArcError that
lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from arc.errors import ArcError


SOURCE_KEYS = ("source", "weight", "limit", "demos")


@dataclass(frozen=True)
class TrainSource:
    """One entry of [data] train: a plain string, or a table {source, weight, limit, demos}."""

    source: str
    weight: float | None = None  # share of training draws relative to the other sources; None = by size
    limit: int = 0  # keep the first N tasks of this source (by id) after filtering; 0 = all
    demos: int = 3  # demonstrations per task cut from a RE-ARC example pool (arc.readers)


def train_source(entry: Any, where: str = "data.train") -> TrainSource:
    """A [data] train entry as a `TrainSource`, or an ArcError naming the entry and the valid keys."""
    if isinstance(entry, str):
        return TrainSource(entry)
    if not isinstance(entry, dict):
        raise ArcError(f"{where}: {entry!r} is neither a source name nor a table; valid: \"arc1/training\" or "
                       "{source = \"...\", weight = 1.0, limit = 0, demos = 3}")
    unknown = sorted(set(entry) - set(SOURCE_KEYS))
    if unknown:
        raise ArcError(f"{where}: unknown key {unknown[0]!r} in {entry!r}; valid keys: {', '.join(SOURCE_KEYS)}")
    src, weight, limit, demos = (entry.get(k) for k in SOURCE_KEYS)
    if not isinstance(src, str) or not src.strip():
        raise ArcError(f"{where}: {entry!r} needs source = a built-in name, directory or file")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                               or not math.isfinite(weight) or weight <= 0):
        raise ArcError(f"{where}: {src}: weight = {weight!r}; valid: a finite number > 0")
    for key, v, lo in (("limit", limit, 0), ("demos", demos, 1)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ArcError(f"{where}: {src}: {key} = {v!r}; valid: an integer >= {lo}")
    return TrainSource(src, None if weight is None else float(weight), limit or 0, 3 if demos is None else demos)


@dataclass(frozen=True)
class DataConfig:
    """[data]: where the tasks come from and which of them a run keeps."""

    # sources whose tasks train the model: names, or tables {source, weight, limit, demos} whose
    # weights give each source's share of training draws (all sources weighted, or none)
    train: tuple[str | dict, ...] = ("arc1/training",)
    target: str = "arc1/evaluation"  # the tasks to answer (solutions inline when known)
    keep_overlap: bool = False  # keep training tasks that contain a target test pair
    # how a target test pair is matched in training tasks: "symmetry" = also under the 8 dihedral
    # transforms and colour permutations fixing 0 (how augmented dumps leak); "symmetry+zero" = 0
    # permuted too; "exact" = content only (as before)
    overlap_check: Literal["exact", "symmetry", "symmetry+zero"] = "symmetry"
    max_side: int = 0  # keep only tasks whose every grid fits max_side x max_side; 0 = all
    limit_train: int = 0  # keep the first N training tasks (by id) after filtering; 0 = all
    limit_target: int = 0  # keep the first N target tasks (by id) after filtering; 0 = all
    # "sudoku" | "maze": train and target are puzzle CSVs (source,question,answer,rating) or
    # `generate sudoku|maze ...` command lines (train takes its train part, target its test part)
    domain: Literal["arc", "sudoku", "maze"] = "arc"
    skip_invalid: bool = False  # drop invalid tasks (each named in a note) instead of failing the run

    def train_sources(self) -> list[TrainSource]:
        """[data] train as `TrainSource`s (plain strings take the defaults)."""
        out = [train_source(e, f"data.train[{i}]") for i, e in enumerate(self.train)]
        weighted = [s.weight is not None for s in out]
        if any(weighted) and not all(weighted):
            bare = next(s.source for s in out if s.weight is None)
            raise ArcError(f"data.train: {bare} has no weight while other sources have one; give every source a "
                           "weight (its share of training draws), or none (shares follow each source's pairs)")
        return out

    def validate(self) -> list[str]:
        try:
            self.train_sources()
        except ArcError as e:
            return [str(e)]
        return []


@dataclass(frozen=True)
class RunSection:
    """[run]: how the run as a whole behaves."""

    protocol: Literal["joint", "pretrain-adapt"] = "joint"
    # a checkpoint to start from (train is skipped when set): pretrain-adapt adapts it to the targets;
    # joint evaluates it as is on the tasks it was trained with, building its own augmentations
    checkpoint: str = ""
    devices: int = 1  # > 1 launches train, adapt and predict under torchrun
    time_budget: str = ""  # wall clock for the whole run, e.g. "12h", "90m", "600s"; "" = none
    reserve: float = 0.15  # fraction of the budget kept for predict/submit after train/adapt
    max_test_augs: int = 0  # predict at most this many augmented copies per test input; 0 = all built
    seed: int = 0
    track: tuple[str, ...] = ()  # experiment trackers fed the training metrics: "tensorboard", "wandb" (extras)

    def validate(self) -> list[str]:
        bad = [t for t in self.track if t not in ("tensorboard", "wandb")]
        return [f"run.track = {list(self.track)}: unknown {', '.join(bad)}; valid: tensorboard, wandb"] if bad else []


# section -> (module, class). Resolved lazily: torch loads only when a run needs it.
SECTIONS: dict[str, tuple[str, str]] = {
    "data": ("pipeline.config", "DataConfig"),
    "run": ("pipeline.config", "RunSection"),
    "build": ("augment.build", "BuildConfig"),
    "model": ("solver.config", "ModelConfig"),
    "train": ("solver.config", "TrainConfig"),
    "adapt": ("solver.adapt", "AdaptConfig"),
    "predict": ("solver.infer", "PredictConfig"),
}


@dataclass(frozen=True)
class Unavailable:
    """Stand-in for a section whose package is not importable (no keys accepted)."""

    reason: str = ""


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    run: RunSection = field(default_factory=RunSection)
    build: Any = None
    model: Any = None
    train: Any = None
    adapt: Any = None
    predict: Any = None

    def section(self, name: str) -> Any:
        return getattr(self, name)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: section_dict(getattr(self, name)) for name in SECTIONS}


def section_class(name: str) -> type:
    module, cls = SECTIONS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        return _unavailable(name, f"{module}.{cls} is not importable ({e})")


def _unavailable(name: str, reason: str) -> type:
    return dataclasses.make_dataclass(
        f"Unavailable_{name}", [("reason", str, field(default=reason))], bases=(Unavailable,), frozen=True
    )


def section_dict(obj: Any) -> dict[str, Any]:
    if obj is None or isinstance(obj, Unavailable):
        return {}
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# ---------------------------------------------------------------- presets and loading


def preset_names() -> list[str]:
    files = resources.files("pipeline").joinpath("presets").iterdir()
    return sorted(p.name[: -len(".toml")] for p in files if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    """The TOML of a shipped preset, by name (a name, never a path: `../x` is refused)."""
    if name not in preset_names():
        raise ArcError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())} "
                       "(a file of your own goes to --config FILE)")
    path = resources.files("pipeline").joinpath("presets", f"{name}.toml")
    if not path.is_file():
        raise ArcError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())}")
    return path.read_text()


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ArcError(f"{origin}: invalid TOML: {e}; fix the file") from None


def load_config(
    preset: str | None = None,
    files: tuple[str | Path, ...] | list[str | Path] = (),
    sets: tuple[str, ...] | list[str] = (),
) -> RunConfig:
    """Defaults, then the preset, then each file, then each `section.key=value`."""
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset:
        layers.append((f"preset {preset!r}", _parse_toml(preset_text(preset), f"preset {preset!r}")))
    for f in files:
        p = Path(f)
        if not p.is_file():
            raise ArcError(f"config file {p} does not exist; pass an existing TOML file to --config")
        layers.append((str(p), _parse_toml(p.read_text(), str(p))))
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    classes = {name: section_class(name) for name in SECTIONS}
    for origin, table in layers:
        for sec, keys in table.items():
            _check_section(sec, origin)
            if not isinstance(keys, dict):
                raise ArcError(f"{origin}: {sec!r} must be a table [{sec}], not a value")
            for key, raw in keys.items():
                values[sec][key] = coerce(classes[sec], sec, key, raw, origin)
            _later_wins(values, sec, set(keys))
    for s in sets:
        sec, key, raw = _split_set(s)
        _check_section(sec, f"--set {s}")
        values[sec][key] = coerce(classes[sec], sec, key, raw, f"--set {s}", from_text=True)
        _later_wins(values, sec, {key})
    sections = {name: _construct(name, lambda: classes[name](**values[name]), values[name]) for name in SECTIONS}
    return validated(_sync(RunConfig(**sections), values))


# (section, key) -> (key, value): a layer that sets the first resets the second unless it sets it too
# (a preset's schedule in epochs yields to a later `--set train.steps=N`)
EXCLUSIVE: dict[tuple[str, str], tuple[str, Any]] = {("train", "steps"): ("epochs", 0.0)}


def _later_wins(values: dict[str, dict[str, Any]], sec: str, keys: set[str]) -> None:
    for key in keys:
        other = EXCLUSIVE.get((sec, key))
        if other is not None and other[0] not in keys:
            values[sec][other[0]] = other[1]


def _construct(name: str, make, given: dict[str, Any] | None = None):
    """A section built from its values; a check in its own __post_init__ becomes a one-line ArcError
    (worded by pipeline.rules, naming key, value and range, when a rule covers the value)."""
    try:
        return make()
    except ArcError:
        raise
    except (TypeError, ValueError) as e:
        from pipeline.rules import field_problems

        found = [m for k, v in (given or {}).items() for m in field_problems(f"{name}.{k}", v)]
        raise ArcError(f"invalid config: {found[0]}" if found else f"invalid config: [{name}] {e}") from None


def validated(cfg: RunConfig) -> RunConfig:
    """`cfg` when every rule in pipeline.rules holds (types were checked on the way in), else one ArcError."""
    from pipeline.rules import check

    check(cfg)
    return cfg


def _sync(cfg: RunConfig, given: dict[str, dict[str, Any]]) -> RunConfig:
    """[run] protocol is the one source of truth; [build] protocol follows it."""
    b = cfg.build
    if b is None or not any(f.name == "protocol" for f in dataclasses.fields(b)) or b.protocol == cfg.run.protocol:
        return cfg
    if "protocol" in given.get("build", {}) and "protocol" in given.get("run", {}):
        raise ArcError(f"[build] protocol = {b.protocol!r} contradicts [run] protocol = {cfg.run.protocol!r}; "
                       "set run.protocol only")
    if "protocol" in given.get("build", {}):  # only [build] said it: take it as the run's
        return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, protocol=b.protocol))
    return dataclasses.replace(cfg, build=dataclasses.replace(b, protocol=cfg.run.protocol))


def override(cfg: RunConfig, sets: list[str] | tuple[str, ...]) -> RunConfig:
    """`cfg` with `section.key=value` overrides applied."""
    out = cfg
    for s in sets:
        sec, key, raw = _split_set(s)
        _check_section(sec, f"--set {s}")
        current = getattr(out, sec)
        value = coerce(type(current), sec, key, raw, f"--set {s}", from_text=True)
        changes = {key: value}
        _later_wins({sec: changes}, sec, {key})
        out = dataclasses.replace(out, **{sec: _construct(sec, lambda: dataclasses.replace(current, **changes), changes)})
        if (sec, key) == ("run", "protocol"):
            out = _sync(out, {})
    return validated(out)


def read_config(path: str | Path) -> RunConfig:
    """A resolved config written by `write_config` (run_dir/config.toml)."""
    return load_config(files=[path])


def _split_set(s: str) -> tuple[str, str, str]:
    m = re.fullmatch(r"\s*([A-Za-z_][\w-]*)\.([A-Za-z_]\w*)\s*=(.*)", s, flags=re.S)
    if not m:
        raise ArcError(f"--set {s!r}: expected section.key=value, e.g. --set train.steps=200")
    return m.group(1), m.group(2), m.group(3).strip()


def _check_section(sec: str, origin: str) -> None:
    if sec not in SECTIONS:
        raise ArcError(f"{origin}: unknown section [{sec}]; valid sections: {', '.join(SECTIONS)}")


# ---------------------------------------------------------------- typed values


def coerce(cls: type, sec: str, key: str, raw: Any, origin: str, *, from_text: bool = False) -> Any:
    """`raw` (a TOML value, or text from --set) as the type of field `sec.key` of `cls`."""
    names = [f.name for f in dataclasses.fields(cls)]
    if issubclass(cls, Unavailable):
        raise ArcError(f"{origin}: section [{sec}] is not available: {cls().reason}")
    if key not in names:
        raise ArcError(f"{origin}: unknown key {key!r} in [{sec}]; valid keys: {', '.join(names)}")
    hint = typing.get_type_hints(cls)[key]
    try:
        return _as_type(hint, _from_text(raw, hint) if from_text else raw)
    except (TypeError, ValueError) as e:
        raise ArcError(f"{origin}: [{sec}] {key} = {raw!r}: {e}") from None


def _from_text(text: str, hint: Any) -> Any:
    """Text from the command line: a TOML value when it parses as one, else a bare string."""
    origin = typing.get_origin(hint)
    if hint is str and not text.startswith(('"', "'")):
        return text  # a path or a name, taken as typed
    if origin in (tuple, list) and not text.lstrip().startswith("["):
        text = "[" + ", ".join(_quote_bare(t.strip()) for t in text.split(",") if t.strip()) + "]"
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _quote_bare(t: str) -> str:
    try:
        tomllib.loads(f"v = {t}")
        return t
    except tomllib.TOMLDecodeError:
        return json.dumps(t)


def _as_type(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or value == "none"):
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _as_type(a, value)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        if value not in args:
            raise ValueError(f"must be one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_as_type(args[0], v) for v in value]
        elif origin is tuple and args:
            if len(value) != len(args):
                raise ValueError(f"expected {len(args)} items, got {len(value)}")
            items = [_as_type(a, v) for a, v in zip(args, value)]
        else:
            items = [_as_type(args[0], v) if args else v for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise TypeError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeError(f"expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)  # e.g. time_budget = 600 means "600" seconds
            raise TypeError(f"expected a string, got {value!r}")
        return value
    return value


# ---------------------------------------------------------------- writing TOML


def to_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML (scalars, lists and one table per section)."""
    lines = ["# the fully resolved configuration of this run (preset + files + --set)"]
    for name, values in cfg.to_dict().items():
        if not values:
            continue
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


def write_config(cfg: RunConfig, path: str | Path) -> None:
    from arc.io import write_text

    write_text(path, to_toml(cfg))


# ---------------------------------------------------------------- helpers


def parse_duration(text: str | float | int) -> float:
    """'12h', '90m', '30s', '1h30m' or a number of seconds -> seconds (0 for '')."""
    if isinstance(text, (int, float)):
        return float(text)
    t = text.strip().lower()
    if not t:
        return 0.0
    try:
        return float(t)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", t)
    if not parts or "".join(a + b for a, b in parts) != t.replace(" ", ""):
        raise ArcError(f"time budget {text!r}: use a number of seconds or e.g. 12h, 90m, 1h30m, 600s")
    return sum(float(a) * {"h": 3600, "m": 60, "s": 1}[u] for a, u in parts)


def default_preset() -> str:
    """`gpu` when a GPU is visible, else `smoke`."""
    from solver.device import gpu_available

    return "gpu" if gpu_available() else "smoke"


def resolve(
    run_dir: str | Path | None,
    *,
    preset: str | None = None,
    files: tuple[str, ...] = (),
    sets: tuple[str, ...] = (),
) -> tuple[RunConfig, Path, str]:
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
