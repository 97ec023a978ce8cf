"""The relations between config fields, declared in one list and checked when a config loads (before any stage).

A field's own check (its range, its allowed values) is declared with the field, `option(default, help, check)`
(arc/fields.py); this list holds what no single field can say: each relation returns the problem as one
sentence naming the keys, the values and what is valid, or None. `check` raises the first problem found
(fields first, then relations) as one `ArcError`.
"""

from __future__ import annotations

from typing import Any, Callable

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import problems as field_problems
from arc_pipeline.config.root import SECTIONS

Relation = Callable[[Any], "str | None"]


# Each relation reads fields that passed or failed their own checks (every problem is collected), so it
# stays quiet where a field's own check already speaks (e.g. hidden < 1).


def _heads_divide_hidden(cfg) -> str | None:
    h, n = cfg.model.hidden, cfg.model.heads
    if cfg.model.mixer == "mlp" or h < 1 or n < 1:
        return None
    if h % n:
        return f"model.heads = {n} does not divide model.hidden = {h}; valid: a divisor of {h}"
    if cfg.model.pos_encoding == "rope" and (h // n) % 2:
        return f"model.hidden / model.heads = {h // n} is odd; rotary positions need an even head width (rope)"
    return None


def _grad_calls_within_a_step(cfg) -> str | None:
    m = cfg.model
    total = m.n_recursions * m.calls_per_recursion()
    if m.grad_calls > total:
        return (f"model.grad_calls = {m.grad_calls}; valid: 0 (the last recursion) to {total} "
                "(every call of a supervision step: n_recursions x calls per recursion)")
    return None


def _processes(cfg) -> tuple[int, str]:
    """(processes in all, said in keys): run.devices per node times run.nnodes."""
    d, n = cfg.run.devices, cfg.run.nnodes
    return d * n, (f"run.devices = {d}" if n == 1 else f"run.devices {d} x run.nnodes {n} = {d * n} processes")


def _batch_over_devices(cfg) -> str | None:
    b, (w, said) = cfg.train.global_batch, _processes(cfg)
    if b >= 1 and w > 1 and b % w:
        return f"train.global_batch = {b} is not divisible by {said}; valid: a multiple of {w}"
    return None


def _micro_batch_divides(cfg) -> str | None:
    m, b, (d, said) = cfg.train.micro_batch, cfg.train.global_batch, _processes(cfg)
    if m == "auto" or m <= 0 or b < 1 or d < 1 or b % d:
        return None
    if (b // d) % m:
        return (f"train.micro_batch = {m} does not divide the per-device batch {b // d} (train.global_batch {b} / "
                f"{said}); valid: a divisor of {b // d}")
    return None


def _nodes(cfg) -> str | None:
    r = cfg.run
    if r.nnodes < 1:
        return None
    if r.node_rank >= r.nnodes:
        return f"run.node_rank = {r.node_rank} with run.nnodes = {r.nnodes}; valid: 0 .. {r.nnodes - 1}"
    if r.nnodes > 1 and not r.rdzv_endpoint:
        return (f"run.nnodes = {r.nnodes} needs run.rdzv_endpoint, node 0's HOST:PORT reachable from every node "
                "(--rdzv-endpoint node0.cluster:29500)")
    return None


def _predict_steps(cfg) -> str | None:
    lo, hi = cfg.predict.min_steps, cfg.predict.max_steps
    if hi > 0 and lo > hi:
        return f"predict.min_steps = {lo} > predict.max_steps = {hi}; valid: min_steps <= max_steps (or max_steps = 0)"
    return None


def _canvas_fits(cfg) -> str | None:
    c, s = cfg.build.canvas, cfg.data.max_side
    if s > 0 and c < s:
        return f"build.canvas = {c} is smaller than data.max_side = {s}; valid: a canvas >= {s}"
    return None


def _muon_needs_torch(cfg) -> str | None:
    """train.muon needs torch.optim.Muon (torch 2.9); told at load, not after the build (torch is not imported here)."""
    if cfg.train.muon == "off":
        return None
    import re
    from importlib.metadata import PackageNotFoundError, version

    try:
        have = version("torch")
    except PackageNotFoundError:
        return None
    parts = tuple(int(x) for x in re.findall(r"\d+", have)[:2])
    if parts and parts < (2, 9):
        return (f"train.muon = {cfg.train.muon!r} needs torch.optim.Muon, new in torch 2.9; this is torch {have}: "
                "upgrade torch, or set train.muon = \"off\"")
    return None


RELATIONS: list[Relation] = [_heads_divide_hidden, _grad_calls_within_a_step, _batch_over_devices, _micro_batch_divides,
                             _predict_steps, _canvas_fits, _muon_needs_torch, _nodes]


def problems(cfg) -> list[str]:
    """Every check `cfg` fails, one line each (empty: valid): each field's own, then the relations."""
    out: list[str] = []
    for name in SECTIONS:
        out += field_problems(getattr(cfg, name), name)
    for rel in RELATIONS:
        msg = rel(cfg)
        if msg:
            out.append(msg)
    return out


def check(cfg) -> None:
    """Raise one ArcError for the first problem (with a count of the others)."""
    found = problems(cfg)
    if found:
        more = f" (and {len(found) - 1} more problem(s): {'; '.join(found[1:4])})" if len(found) > 1 else ""
        raise ArcError(f"invalid config: {found[0]}{more}")
