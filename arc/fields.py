"""Config fields that explain and check themselves: each field of a config section is declared once,
with its type (the annotation), default, help and check, in the dataclass that owns it:

    steps: int = option(1000, "optimizer steps (one supervision step for every slot each)", COUNT)

The config loader types a value by the annotation and checks it with `problems` (every field's
check); the TOML writer and `arc-pipeline config` print the help and what is valid. Every numeric
field carries a check (tests/pipeline/test_config_fields.py enforces it). A check across fields
(heads divide hidden, micro-batch divides the batch, ...) is a relation: pipeline/config/rules.py.
It lives in `arc/`, the lowest package, because sections are owned by `augment/`, `solver/`, `pipeline/`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

HELP, CHECK, ADDED_LATER = "help", "check", "added_later"


def option(default: Any, help: str, check: Check | None = None, *, added_later: bool = False) -> Any:
    """A section field: its default, one line of help, and the check its value must pass.

    `added_later`: the key came after run directories existed, so a stage's fingerprint hashes it
    only when it differs from its default (an old run still resumes; one that sets it reruns).
    """
    return dataclasses.field(default=default, metadata={HELP: help, CHECK: check, ADDED_LATER: added_later})


class Check:
    """What values a field may take: `problem(key, value)` is one sentence, or None when fine."""

    valid: str  # what is valid, in words (the `config` printout shows it)

    def problem(self, key: str, value: Any) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Range(Check):
    """Numbers in [lo, hi] (open ends with lo_open/hi_open), plus the values in `also` (such as
    0 = "off" or "auto"); a float must be finite unless `finite=False`. Non-numbers pass (typed already)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[Any, ...] = ()
    finite: bool = True

    def ok(self, v: float) -> bool:
        if v in self.also:
            return True
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    @property
    def valid(self) -> str:
        lo = "-inf" if self.lo is None else _num(self.lo)
        hi = "inf" if self.hi is None else _num(self.hi)
        text = f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}{')' if self.hi_open or self.hi is None else ']'}"
        return text + "".join(f" or {a!r}" for a in self.also)

    def reason(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and self.finite and not math.isfinite(value):
            return f"not a finite number; valid: {self.valid}"
        if not self.ok(value):
            return f"out of range; valid: {self.valid}"
        return None

    def problem(self, key: str, value: Any) -> str | None:
        why = self.reason(value)
        return f"{key} = {shown(value)}: {why}" if why else None


@dataclass(frozen=True)
class Each(Check):
    """Every item of a tuple in `item` (e.g. Adam's betas)."""

    item: Range

    @property
    def valid(self) -> str:
        return f"each item in {self.item.valid}"

    def problem(self, key: str, value: Any) -> str | None:
        for v in value if isinstance(value, (tuple, list)) else ():
            why = self.item.reason(v)
            if why:
                return f"{key} = {shown(value)}: {why}"
        return None


@dataclass(frozen=True)
class Rule(Check):
    """A check written as a function: `test(value)` is what is wrong (naming what is valid), or None."""

    valid: str
    test: Callable[[Any], str | None]

    def problem(self, key: str, value: Any) -> str | None:
        why = self.test(value)
        return f"{key} = {shown(value)}: {why}" if why else None


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) and abs(v) >= 1e6 else f"{v:g}"  # a seed bound shown exactly


def shown(value: Any) -> str:
    """A value as a problem sentence shows it (a tuple as the list a TOML file writes)."""
    return repr(list(value) if isinstance(value, tuple) else value)


def at_least(lo: float, **kw: Any) -> Range:
    return Range(lo=lo, **kw)


def positive(**kw: Any) -> Range:
    return Range(lo=0, lo_open=True, **kw)


FRACTION = Range(0.0, 1.0)  # a share, both ends included
UNIT = Range(0.0, 1.0, hi_open=True)  # [0, 1): a rate that must stay below 1 (EMA, betas, reserve)
COUNT = at_least(1)  # a size or count that must be there
OPTIONAL = at_least(0)  # 0 = off / all / none
SEED = Range(0, 2**63 - 1)  # what numpy, torch and a parquet int64 column all take


def help_of(f: dataclasses.Field) -> str:
    return f.metadata.get(HELP, "")


def check_of(f: dataclasses.Field) -> Check | None:
    return f.metadata.get(CHECK)


def added_later(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get(ADDED_LATER))


def problems(section: Any, name: str) -> list[str]:
    """Every field of `section` (a config dataclass read as [name]) that fails its check, one sentence each."""
    out = []
    for f in dataclasses.fields(section):
        check = check_of(f)
        msg = check.problem(f"{name}.{f.name}", getattr(section, f.name)) if check else None
        if msg:
            out.append(msg)
    return out
