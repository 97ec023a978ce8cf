"""The layouts training sets ship in: RE-ARC pools, JSON Lines both ways, parquet, nested trees."""

import json

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fingerprint import pair_key
from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, as_grid


def _pairs(task_id="007bbfb7", source="arc1/training"):
    t = load(source).tasks[task_id]
    return [*t.train, *t.test]


def _obj(p):
    return {"input": p.input.tolist(), "output": p.output.tolist()}


def _rearc_pool(tmp_path, n=11, stem="007bbfb7"):
    """A RE-ARC task file: a list of examples (here real pairs under transposes and flips)."""
    base = _pairs(stem)
    pool = []
    for i in range(n):
        p = base[i % len(base)]
        f = [lambda g: g, np.fliplr, np.flipud, lambda g: g.T][i // len(base) % 4]
        pool.append({"input": f(p.input).tolist(), "output": f(p.output).tolist()})
    (tmp_path / "tasks").mkdir(exist_ok=True)
    path = tmp_path / "tasks" / f"{stem}.json"
    path.write_text(json.dumps(pool))
    return path, pool


def test_rearc_pool_becomes_tasks_of_k_demonstrations_deterministic_from_the_seed(tmp_path):
    path, pool = _rearc_pool(tmp_path, n=11)
    ts = load(path, demos=3, seed=0)
    assert list(ts.tasks) == ["007bbfb7_0", "007bbfb7_1"]  # 11 // (3 + 1); the remainder is left out
    assert all(len(t.train) == 3 and len(t.test) == 1 and t.has_solutions for t in ts)
    used = [pair_key(p) for t in ts for p in (*t.train, *t.test)]
    pool_keys = [pair_key(Pair(as_grid(e["input"]), as_grid(e["output"]))) for e in pool]
    assert len(used) == len(set(used)) == 8 and set(used) <= set(pool_keys)
    again = load(path, demos=3, seed=0)
    assert [pair_key(p) for t in again for p in (*t.train, *t.test)] == used
    other = load(path, demos=3, seed=1)
    assert [pair_key(p) for t in other for p in (*t.train, *t.test)] != used
    assert len(load(path, demos=1)) == 5


def test_rearc_archive_folder_reads_tasks_not_metadata(tmp_path):
    _rearc_pool(tmp_path, n=8, stem="007bbfb7")
    _rearc_pool(tmp_path, n=8, stem="00d62c1b")
    (tmp_path / "metadata.json").write_text(json.dumps({"007bbfb7": {"mean_runtime": 1.0}}))
    ts = load(tmp_path, demos=3)
    assert sorted(ts.tasks) == ["007bbfb7_0", "007bbfb7_1", "00d62c1b_0", "00d62c1b_1"]


def test_rearc_errors_name_file_task_and_example(tmp_path):
    path, pool = _rearc_pool(tmp_path, n=8)
    pool[5]["output"][0][0] = 11
    path.write_text(json.dumps(pool))
    with pytest.raises(ArcError, match=r"007bbfb7\.json: task 007bbfb7, example 5, field 'output': cell \(row 0, col 0\) is 11"):
        load(path)
    path.write_text(json.dumps(pool[:2]))
    with pytest.raises(ArcError, match="holds 2 example"):
        load(path, demos=3)
    del pool[3]["output"]
    path.write_text(json.dumps(pool))
    with pytest.raises(ArcError, match="example 3: missing key 'output'"):
        load(path)


def test_jsonl_of_tasks_and_of_example_lists(tmp_path):
    ref = list(load("arc1/evaluation"))[:3]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(json.dumps({"id": t.id, **t.to_json()}) for t in ref) + "\n\n")
    ts = load(tasks)
    assert list(ts.tasks) == [t.id for t in ref]
    assert all(pair_key(a) == pair_key(b) for t in ref for a, b in zip(t.test, ts.tasks[t.id].test))
    # BARC / ARC-Heavy: {"examples": [[input, output], ...], ...}, no id; the last example is the test
    barc = tmp_path / "data_100k.jsonl"
    lines = [{"examples": [[p.input.tolist(), p.output.tolist()] for p in (*t.train, *t.test)],
              "source": "def main(): ...", "seeds": ["x"]} for t in ref]
    lines[1] = [_obj(p) for p in (*ref[1].train, *ref[1].test)]  # a bare example list works too
    barc.write_text("\n".join(map(json.dumps, lines)))
    bs = load(barc)
    assert list(bs.tasks) == ["data_100k_1", "data_100k_2", "data_100k_3"]
    for t, b in zip(ref, bs):
        assert len(b.train) == len(t.train) + len(t.test) - 1 and len(b.test) == 1
        assert pair_key(b.test[0]) == pair_key((*t.train, *t.test)[-1])


def test_jsonl_errors_name_the_line_and_duplicate_ids_are_refused(tmp_path):
    ref = list(load("arc1/evaluation"))[:2]
    bad = ref[1].to_json()
    bad["train"][0]["input"] = [[1, 2], [3]]
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "a", **ref[0].to_json()}) + "\n" + json.dumps({"id": "b", **bad}) + "\n{oops\n")
    with pytest.raises(ArcError, match=r"2 invalid task\(s\)") as e:
        load(path)
    assert "t.jsonl line 2: task b, train pair 0, field 'input': ragged grid" in str(e.value)
    assert "t.jsonl line 3: invalid JSON" in str(e.value)
    assert list(load(path, skip_invalid=True).tasks) == ["a"]
    path.write_text(json.dumps({"id": "a", **ref[0].to_json()}) + "\n" + json.dumps({"id": "a", **ref[1].to_json()}))
    with pytest.raises(ArcError, match=r"task id 'a' appears twice: .*t.jsonl line 1 and .*t.jsonl line 2"):
        load(path)


def test_parquet_with_examples_column(tmp_path):
    ref = list(load("arc1/training"))[:4]
    frame = pl.DataFrame({
        "id": [t.id for t in ref],
        "examples": [[[p.input.tolist(), p.output.tolist()] for p in (*t.train, *t.test)] for t in ref],
    })
    frame.write_parquet(tmp_path / "heavy.parquet")
    ts = load(tmp_path / "heavy.parquet")
    assert list(ts.tasks) == [t.id for t in ref]
    assert all(pair_key(ts.tasks[t.id].test[0]) == pair_key(t.test[-1]) for t in ref)


def test_nested_tree_is_searched_recursively_and_ids_must_be_unique(tmp_path):
    ref = list(load("arc1/evaluation"))[:5]
    for i, t in enumerate(ref):
        d = tmp_path / f"Concept{i % 2}" / ("deep" if i == 4 else "")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{t.id}.json").write_text(json.dumps(t.to_json()))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.json").write_text("not json")
    (tmp_path / "LICENSE").write_text("text")
    ts = load(tmp_path)
    assert sorted(ts.tasks) == sorted(t.id for t in ref)
    (tmp_path / "Concept1" / f"{ref[0].id}.json").write_text(json.dumps(ref[0].to_json()))
    with pytest.raises(ArcError, match=rf"task id '{ref[0].id}' appears twice: .*Concept0/{ref[0].id}.json and .*Concept1/{ref[0].id}.json"):
        load(tmp_path)


def test_bench_data_source_is_a_valid_rearc_tree_and_jsonl(tmp_path):
    from arc_pipeline.bench.data import generate

    gen = generate(tmp_path / "r", 1200, "rearc")
    assert gen["examples"] == 1200 and gen["files"] == 400
    ts = load(tmp_path / "r", demos=2)  # 3 examples per pool: one task of 2 demonstrations + 1 test each
    assert len(ts) == 400 and all(len(t.train) == 2 and len(t.test) == 1 for t in ts)
    assert generate(tmp_path / "j", 4000, "jsonl")["examples"] == 3200  # 10 per task: two lines of 4
    ts = load(tmp_path / "j" / "examples.jsonl")
    assert len(ts) == 800 and all(len(t.train) == 3 and len(t.test) == 1 for t in ts)


def test_save_tasks_streams_the_same_bytes_as_one_dump(tmp_path):
    from arc_pipeline.arc.load import save_tasks

    ref = list(load("arc2/evaluation"))[:5]
    save_tasks(ref, tmp_path / "t.json")
    whole = json.dumps({t.id: t.to_json(with_solutions=True) for t in ref}, separators=(",", ":"))
    assert (tmp_path / "t.json").read_text() == whole
