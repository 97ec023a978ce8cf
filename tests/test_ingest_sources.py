"""ingest over the new layouts: leaks up to symmetry dropped by default, sources mixed by weight."""

import json

import numpy as np
import polars as pl

from arc.load import load
from arc.task import Pair, Task
from augment.records import Aug
from augment.transform import apply
from pipeline.config import load_config
from pipeline.stages import Context, ingest


def _disguise(t: Task, aug: Aug, tid: str) -> Task:
    def f(p):
        return Pair(apply(p.input, aug), apply(p.output, aug))

    return Task(tid, tuple(f(p) for p in t.train), tuple(f(p) for p in t.test))


def _write_dir(path, tasks):
    path.mkdir(parents=True, exist_ok=True)
    for t in tasks:
        (path / f"{t.id}.json").write_text(json.dumps(t.to_json()))
    return path


def test_ingest_drops_a_rotated_recoloured_copy_of_a_target_task(tmp_path):
    target = sorted(load("arc1/evaluation").tasks.items())[:3]
    victim = target[1][1]
    copy = _disguise(victim, Aug(3, (0, 2, 1, 4, 3, 6, 5, 8, 7, 9)), "gen_victim")
    others = list(load("arc1/training"))[:4]
    src = _write_dir(tmp_path / "gen" / "nested", [copy, *others])
    sets = [f"data.train={tmp_path / 'gen'}", "data.target=arc1/evaluation", "data.limit_target=3", "data.max_side=0"]
    ctx = Context()
    res = ingest.run(load_config("smoke", sets=sets), tmp_path / "a", ctx)
    assert res.summary["train_dropped"] == 1 and res.summary["train_overlapping_symmetric"] == 1
    assert res.summary["train_tasks"] == 4
    assert any("only up to symmetry" in n and "gen_victim" in n and "rotate 270" in n for n in ctx.notes)
    rows = pl.read_parquet(tmp_path / "a" / "tasks" / "tasks.parquet").filter(pl.col("dropped"))
    assert rows["id"].to_list() == ["gen_victim"] and rows["overlap_symmetric"][0].startswith(f"{victim.id} test 0")
    exact = ingest.run(load_config("smoke", sets=sets + ["data.overlap_check=exact"]), tmp_path / "b")
    assert exact.summary["train_dropped"] == 0 and exact.summary["train_tasks"] == 5
    kept = ingest.run(load_config("smoke", sets=sets + ["data.keep_overlap=true"]), tmp_path / "c")
    assert kept.summary["train_tasks"] == 5 and kept.summary["train_overlapping"] == 1
    assert src.is_dir()


def test_hidden_target_inputs_are_matched_up_to_symmetry_too(tmp_path):
    ref = sorted(load("arc1/evaluation").tasks.values(), key=lambda t: t.id)[:2]
    challenges = tmp_path / "x_challenges.json"  # no solutions file: test outputs hidden
    challenges.write_text(json.dumps({t.id: t.to_json(with_solutions=False) for t in ref}))
    flipped = _disguise(ref[0], Aug(7, tuple(range(10))), "flip")
    src = _write_dir(tmp_path / "train", [flipped])
    sets = [f"data.train={src}", f"data.target={challenges}", "data.max_side=0"]
    res = ingest.run(load_config("smoke", sets=sets), tmp_path / "r")
    assert res.summary["train_dropped"] == 1 and res.summary["train_overlapping_symmetric"] == 1
    assert np.array_equal(flipped.test[0].input, np.fliplr(ref[0].test[0].input))
