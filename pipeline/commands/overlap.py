"""`arc-pipeline overlap A B`: tasks of B identical to, or leaked from, tasks of A."""

from __future__ import annotations

import json

import click

from pipeline import ui


@click.command("overlap")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (identical, leaked, ...).")
def overlap(a: str, b: str, as_json: bool) -> None:
    """Compare by content (ids and pair order ignored): which tasks of B are in A, or have their test answers in A."""
    from arc.load import load
    from arc.overlap import overlap as compute

    ta, tb = load(a), load(b)
    o = compute(ta, tb)
    if as_json:
        obj = {"a": a, "b": b, "a_tasks": len(ta), "b_tasks": len(tb), **o.to_dict()}
        ui.console.print(json.dumps(obj), markup=False, highlight=False, soft_wrap=True)
        return
    rows = [
        [bid, "identical" if bid in o.identical_to else "leaked",
         ", ".join(o.identical_to.get(bid) or o.leaked_from.get(bid, []))]
        for bid in dict.fromkeys([*o.identical, *o.leaked])
    ]
    if rows:
        ui.table(f"tasks of {b} found in {a}", [f"{b} id", "kind", f"{a} id(s)"], rows)
    ui.console.print(
        f"{b} ({len(tb)} tasks) vs {a} ({len(ta)} tasks): {len(o.identical)} identical, "
        f"{len(o.leaked)} with test pairs inside {a}",
        soft_wrap=True,
    )
