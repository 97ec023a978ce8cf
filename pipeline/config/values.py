"""Typed values: a TOML value, or text from `--set`, as the type of the field it sets."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import types
import typing
from typing import Any, Literal

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config.names import reference_hint


def coerce(cls: type, sec: str, key: str, given: Any, origin: str, *, from_text: bool = False) -> Any:
    """`given` (a TOML value, or text from --set) as the type of field `sec.key` of `cls`."""
    names = [f.name for f in dataclasses.fields(cls)]
    if key not in names:
        raise ArcError(f"{origin}: unknown key {key!r} in [{sec}]; valid keys: {', '.join(names)}{reference_hint(key)}")
    hint = typing.get_type_hints(cls)[key]
    try:
        return _as_type(hint, _from_text(given, hint) if from_text else given)
    except (TypeError, ValueError) as e:
        raise ArcError(f"{origin}: [{sec}] {key} = {given!r}: {e}") from None


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
