"""What a valid configuration is, declared in one table, checked when a config loads (before any stage).

Three kinds of rule, each a line to add:
- `RANGES["section.key"] = Range(...)`: the values a number may take (bounds, open or closed, and
  special values such as 0 = "off" or -1 = "default").
- `RELATIONS`: checks across fields (heads divide hidden, micro-batch divides the batch, ...); each
  returns the problem as a sentence, or None.
- A section dataclass may define `validate(self) -> list[str]`; its sentences are reported too.
Every float must be finite unless its Range says `finite=False`. A problem is one line naming the
key, the value and what is valid; the first problem found is raised as an `ArcError`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config.root import SECTIONS
from arc_pipeline.config.values import parse_duration


@dataclass(frozen=True)
class Range:
    """Closed bounds [lo, hi] unless lo_open/hi_open; `also` lists extra allowed values."""

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

    def describe(self) -> str:
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        text = f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}{')' if self.hi_open or self.hi is None else ']'}"
        return text + "".join(f" or {a!r}" for a in self.also)


def at_least(lo: float, **kw) -> Range:
    return Range(lo=lo, **kw)


def positive(**kw) -> Range:
    return Range(lo=0, lo_open=True, **kw)


FRACTION = Range(0.0, 1.0)
COUNT = at_least(1)  # a size or count that must be there
OPTIONAL = at_least(0)  # 0 = off / all / none

RANGES: dict[str, Range] = {
    "data.max_side": Range(0, 30),
    "data.limit_train": OPTIONAL,
    "data.limit_target": OPTIONAL,
    "run.devices": COUNT,
    "run.reserve": Range(0.0, 1.0, hi_open=True),
    "run.max_test_augs": OPTIONAL,
    "run.seed": OPTIONAL,
    "build.augmentations": COUNT,
    "build.seed": OPTIONAL,
    "build.canvas": Range(1, 255),
    "build.val_fraction": Range(0.0, 1.0, hi_open=True),
    "build.val_augs": COUNT,
    "model.vocab_size": COUNT,
    "model.seq_len": COUNT,
    "model.num_puzzles": COUNT,
    "model.hidden": COUNT,
    "model.heads": COUNT,
    "model.expansion": positive(),
    "model.layers": COUNT,
    "model.n_latent": COUNT,
    "model.n_recursions": COUNT,
    "model.max_steps": COUNT,
    "model.puzzle_emb_len": OPTIONAL,
    "model.rope_theta": positive(),
    "model.rms_eps": positive(),
    "model.halt_exploration": FRACTION,
    "train.global_batch": COUNT,
    "train.steps": COUNT,
    "train.epochs": OPTIONAL,
    "train.lr": positive(),
    "train.lr_warmup": OPTIONAL,
    "train.lr_min_ratio": FRACTION,
    "train.weight_decay": OPTIONAL,
    "train.puzzle_lr": OPTIONAL,
    "train.puzzle_weight_decay": OPTIONAL,
    "train.ema": Range(0.0, 1.0, hi_open=True),
    "train.halt_loss_weight": OPTIONAL,
    "train.seed": OPTIONAL,
    "train.eval_every": OPTIONAL,
    "train.eval_examples": OPTIONAL,
    "train.checkpoint_every": OPTIONAL,
    "train.keep_checkpoints": COUNT,
    "train.log_every": COUNT,
    "train.time_budget_s": OPTIONAL,
    "adapt.steps": COUNT,
    "adapt.time_budget_s": OPTIONAL,
    "adapt.embeddings_only_fraction": FRACTION,
    "adapt.lr": OPTIONAL,
    "adapt.puzzle_lr": OPTIONAL,
    "adapt.lr_warmup": at_least(-1),
    "predict.batch_size": COUNT,
    "predict.min_steps": COUNT,
    "predict.max_steps": OPTIONAL,
    "predict.seed": OPTIONAL,
    "predict.threshold": Range(0.0, 1.0, lo_open=True, hi_open=True),
    "vote.top_k": at_least(2),  # two attempts per test input
}
# each item of a tuple field (e.g. Adam's betas)
ITEM_RANGES: dict[str, Range] = {"train.betas": Range(0.0, 1.0, hi_open=True)}

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

Relation = Callable[[Any], "str | None"]


def _get(cfg, dotted: str, default: Any = None) -> Any:
    sec, _, key = dotted.partition(".")
    return getattr(getattr(cfg, sec), key, default)


def _heads_divide_hidden(cfg) -> str | None:
    h, n = _get(cfg, "model.hidden"), _get(cfg, "model.heads")
    if h is None or n is None or _get(cfg, "model.mixer") == "mlp" or not (h >= 1 and n >= 1):
        return None
    if h % n:
        return f"model.heads = {n} does not divide model.hidden = {h}; valid: a divisor of {h}"
    if _get(cfg, "model.pos_encoding") == "rope" and (h // n) % 2:
        return f"model.hidden / model.heads = {h // n} is odd; rotary positions need an even head width (rope)"
    return None


def _device(cfg) -> str | None:
    d = _get(cfg, "train.device")
    if d is None or DEVICE.fullmatch(str(d)):
        return None
    return f"train.device = {d!r}: unknown device; valid: auto, cpu, cuda, cuda:N, mps"


def _time_budget(cfg) -> str | None:
    t = _get(cfg, "run.time_budget")
    if t is None:
        return None
    try:
        s = parse_duration(t)
    except ArcError:
        return f"run.time_budget = {t!r}: not a duration; valid: seconds or e.g. 12h, 90m, 1h30m, 600s, '' for none"
    if not math.isfinite(s) or s < 0:
        return f"run.time_budget = {t!r}: must be a finite duration >= 0 ('' for none)"
    return None


def _batch_over_devices(cfg) -> str | None:
    b, d = _get(cfg, "train.global_batch"), _get(cfg, "run.devices")
    if isinstance(b, int) and isinstance(d, int) and b >= 1 and d > 1 and b % d:
        return f"train.global_batch = {b} is not divisible by run.devices = {d}; valid: a multiple of {d}"
    return None


def _micro_batch(cfg) -> str | None:
    """train.micro_batch (when the field exists): an int that divides the per-device batch, or auto/0."""
    m = _get(cfg, "train.micro_batch")
    if m is None or m in ("auto", 0, "0", ""):
        return None
    b, d = _get(cfg, "train.global_batch"), _get(cfg, "run.devices") or 1
    if isinstance(m, str):
        if not m.isdigit():
            return f"train.micro_batch = {m!r}: valid: a positive integer or 'auto'"
        m = int(m)
    if not isinstance(m, int) or isinstance(m, bool) or m < 0:
        return f"train.micro_batch = {m!r}: valid: a positive integer or 'auto'"
    per = b // d if isinstance(b, int) and b >= 1 and d >= 1 and b % d == 0 else None
    if per is not None and per % m:
        return (f"train.micro_batch = {m} does not divide the per-device batch {per} (train.global_batch {b} / "
                f"run.devices {d}); valid: a divisor of {per}")
    return None


def _predict_steps(cfg) -> str | None:
    lo, hi = _get(cfg, "predict.min_steps"), _get(cfg, "predict.max_steps")
    if isinstance(lo, int) and isinstance(hi, int) and hi > 0 and lo > hi:
        return f"predict.min_steps = {lo} > predict.max_steps = {hi}; valid: min_steps <= max_steps (or max_steps = 0)"
    return None


def _canvas_fits(cfg) -> str | None:
    c, s = _get(cfg, "build.canvas"), _get(cfg, "data.max_side")
    if isinstance(c, int) and isinstance(s, int) and s > 0 and c < s:
        return f"build.canvas = {c} is smaller than data.max_side = {s}; valid: a canvas >= {s}"
    return None


def _sources(cfg) -> str | None:
    train, target = _get(cfg, "data.train"), _get(cfg, "data.target")
    if isinstance(target, str) and not target.strip():
        return "data.target = '': valid: a source (built-in name, directory or challenges file)"
    for s in train or ():
        if isinstance(s, str) and not s.strip():
            return f"data.train = {list(train)!r} holds an empty source; valid: built-in names, directories or files"
    return None


RELATIONS: list[Relation] = [_heads_divide_hidden, _device, _time_budget, _batch_over_devices, _micro_batch,
                             _predict_steps, _canvas_fits, _sources]


def problems(cfg) -> list[str]:
    """Every rule `cfg` breaks, one line each (empty: valid)."""
    out: list[str] = []
    for name in SECTIONS:
        section = getattr(cfg, name)
        for f in dataclasses.fields(section):
            out += field_problems(f"{name}.{f.name}", getattr(section, f.name))
        extra = getattr(section, "validate", None)
        if callable(extra):
            out += list(extra() or [])
    for rel in RELATIONS:
        msg = rel(cfg)
        if msg:
            out.append(msg)
    return out


def field_problems(key: str, value: Any) -> list[str]:
    """What is wrong with one field's value by its range (empty: fine)."""
    if isinstance(value, (tuple, list)):
        rng = ITEM_RANGES.get(key)
        out = []
        for i, v in enumerate(value):
            out += _number_problems(f"{key}[{i}]", v, rng, shown=f"{key} = {list(value)!r}")
        return out
    return _number_problems(key, value, RANGES.get(key))


def _number_problems(key: str, value: Any, rng: Range | None, shown: str | None = None) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    shown = shown or f"{key} = {value!r}"
    finite = rng.finite if rng is not None else True
    if isinstance(value, float) and finite and not math.isfinite(value):
        valid = rng.describe() if rng is not None else "a finite number"
        return [f"{shown}: not a finite number; valid: {valid}"]
    if rng is not None and not rng.ok(value):
        return [f"{shown}: out of range; valid: {rng.describe()}"]
    return []


def check(cfg) -> None:
    """Raise one ArcError for the first problem (with a count of the others)."""
    found = problems(cfg)
    if found:
        more = f" (and {len(found) - 1} more problem(s): {'; '.join(found[1:4])})" if len(found) > 1 else ""
        raise ArcError(f"invalid config: {found[0]}{more}")
