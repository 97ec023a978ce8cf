"""`arc-pipeline overlap A B`: tasks of B identical to, leaked from, or leaked up to symmetry from tasks of A."""

from __future__ import annotations

import json

import click

from arc_pipeline import ui


@click.command("overlap")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (identical, leaked, symmetric, ...).")
@click.option("--exact", is_flag=True, help="Exact content only: skip the search up to rotations, flips and recolouring.")
@click.option("--permute-zero", is_flag=True, help="Up to symmetry, let the background colour 0 be permuted too.")
def overlap(a: str, b: str, as_json: bool, exact: bool, permute_zero: bool) -> None:
    """Compare by content (ids and pair order ignored): which tasks of B are in A, have their test
    answers in A, or have them in A up to a dihedral transform and a colour permutation."""
    from arc_pipeline.arc.load import load

    ta, tb = load(a), load(b)
    if exact:
        from arc_pipeline.arc.overlap import overlap as compute

        o = compute(ta, tb)
    else:
        from arc_pipeline.augment.symmetry import overlap as compute_sym

        o = compute_sym(ta, tb, permute_zero=permute_zero)
    if as_json:
        obj = {"a": a, "b": b, "a_tasks": len(ta), "b_tasks": len(tb), **o.to_dict()}
        ui.verbatim(json.dumps(obj))
        return
    rows = [
        [bid, "identical" if bid in o.identical_to else "leaked",
         ", ".join(o.identical_to.get(bid) or o.leaked_from.get(bid, []))]
        for bid in dict.fromkeys([*o.identical, *o.leaked])
    ]
    rows += [
        [bid, "leaked up to symmetry" + (" (whole task)" if m.get("whole_task") else ""),
         f"{m['a_task']} {m['a_pair']} -> test {m['test_index']}: {m['transform']}"]
        for bid in o.symmetric for m in o.symmetric_from[bid]
    ]
    if rows:
        ui.table(ui.plain(f"tasks of {b} found in {a}"), [f"{b} id", "kind", f"{a} id(s)"], rows)
    ui.info(
        f"{b} ({len(tb)} tasks) vs {a} ({len(ta)} tasks): {len(o.identical)} identical, "
        f"{len(o.leaked)} with test pairs inside {a}"
        + ("" if exact else f", {len(o.symmetric)} more with test pairs inside {a} up to symmetry"))
