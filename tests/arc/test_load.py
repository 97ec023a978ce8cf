"""Loading every source layout, the built-ins' sizes, and the save/load round trip."""

import json
import time

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import BUILTINS, builtin_path, list_builtins, load, save_tasks
from arc_pipeline.arc.task import Pair, Task


@pytest.mark.parametrize(
    "name, tasks, outputs",
    [
        ("kaggle2025/evaluation", 120, 172),
        ("arc2/evaluation", 120, 167),
        ("arc2/training", 1000, 1076),
        ("arc1/training", 400, 416),
        ("arc1/evaluation", 400, 419),
        ("conceptarc", 160, 480),
    ],
)
def test_builtin_sizes(name, tasks, outputs):
    ts = load(name)
    assert ts.name == name
    assert len(ts) == tasks
    assert sum(p.output is not None for t in ts for p in t.test) == outputs == ts.n_test
    t = next(iter(ts))
    assert t.train[0].input.dtype == np.uint8 and not t.train[0].input.flags.writeable


def test_conceptarc_ships_with_its_licence_and_the_reference_counts():
    ts = load("conceptarc")
    assert sum(len(t.train) for t in ts) == 427  # the counts the reference's `concept` subset has
    assert "Copy1" in ts.tasks and list(ts.tasks) == sorted(ts.tasks)
    folder = builtin_path("conceptarc")
    assert "MIT License" in (folder / "LICENSE").read_text() and (folder / "SOURCE.md").is_file()


def test_list_builtins_covers_every_name_with_counts():
    infos = {i.name: i for i in list_builtins()}
    assert set(infos) == set(BUILTINS)
    assert (infos["kaggle2025/evaluation"].tasks, infos["kaggle2025/evaluation"].test_outputs) == (120, 172)
    assert (infos["arc1-2019/training"].tasks, infos["arc1-2019/evaluation"].tasks) == (400, 400)


def test_builtin_load_is_fast_and_returns_an_independent_taskset():
    start = time.perf_counter()
    a = load("kaggle2025/training")  # 1000 tasks, parsed and validated (or cached)
    assert time.perf_counter() - start < 3.0
    a.tasks.pop(next(iter(a.tasks)))
    assert len(load("kaggle2025/training")) == 1000


def test_unknown_source_lists_the_builtins():
    with pytest.raises(ArcError, match="arc1/training"):
        load("arc9/training")


def _same(a: Task, b: Task) -> bool:
    def eq(x, y):
        return (x is None and y is None) or (x is not None and y is not None and np.array_equal(x, y))

    pa, pb = (*a.train, *a.test), (*b.train, *b.test)
    return a.id == b.id and len(a.train) == len(b.train) and all(
        eq(p.input, q.input) and eq(p.output, q.output) for p, q in zip(pa, pb, strict=True)
    )


def test_kaggle_challenges_pick_up_sibling_solutions(tmp_path, write_challenges):
    ref = list(load("kaggle2025/evaluation"))[:15]
    ts = load(write_challenges(tmp_path, ref))
    assert list(ts.tasks) == [t.id for t in ref]
    assert all(_same(a, ts.tasks[a.id]) for a in ref)
    assert sum(len(t.test) for t in ts) > 15  # some tasks have several test inputs


def test_kaggle_challenges_without_solutions_have_hidden_outputs(tmp_path, write_challenges):
    ref = list(load("kaggle2025/evaluation"))[:5]
    ts = load(write_challenges(tmp_path, ref, split="test", solutions=False))
    assert len(ts) == 5 and not any(t.has_solutions for t in ts)
    assert all(p.output is None for t in ts for p in t.test)


def test_solutions_file_given_directly_is_refused_with_advice(tmp_path, write_challenges):
    write_challenges(tmp_path, list(load("arc1/training"))[:2])
    with pytest.raises(ArcError, match="pass the matching"):
        load(tmp_path / "arc-agi_evaluation_solutions.json")


def test_directory_of_task_files_and_single_task_file(tmp_path):
    ref = list(load("arc1/evaluation"))[:4]
    for t in ref:
        (tmp_path / f"{t.id}.json").write_text(json.dumps(t.to_json()))
    (tmp_path / "notes.txt").write_text("not a task")
    ts = load(tmp_path)
    assert list(ts.tasks) == sorted(t.id for t in ref)
    assert all(_same(t, ts.tasks[t.id]) for t in ref)
    one = load(tmp_path / f"{ref[0].id}.json")
    assert list(one.tasks) == [ref[0].id] and _same(ref[0], one.tasks[ref[0].id])


def test_directory_holding_kaggle_files_points_to_them(tmp_path, write_challenges):
    write_challenges(tmp_path, list(load("arc1/training"))[:2])
    with pytest.raises(ArcError, match="arc-agi_evaluation_challenges.json"):
        load(tmp_path)


def test_empty_directory_is_an_error_but_an_empty_tasks_file_round_trips(tmp_path):
    with pytest.raises(ArcError, match="no tasks found"):
        load(tmp_path)
    for split in ("training", "evaluation"):  # the ARC-AGI repositories' data/ folder
        (tmp_path / split).mkdir()
        (tmp_path / split / "abc.json").write_text("{}")
    with pytest.raises(ArcError, match="sub-folders evaluation, training hold separate splits"):
        load(tmp_path)
    save_tasks({}, tmp_path / "none.json")  # e.g. ingest after every training task was dropped
    assert len(load(tmp_path / "none.json")) == 0


def test_save_tasks_round_trips_with_inline_outputs_and_hidden_ones(tmp_path):
    ref = list(load("arc2/evaluation"))[:10]
    g = np.array([[1, 2, 3]], dtype=np.uint8)
    hidden = Task("hidden01", (Pair(g, g),), (Pair(g, None), Pair(g.T.copy(), g)))
    path = tmp_path / "out" / "tasks.json"
    save_tasks([*ref, hidden], path)
    assert not [p for p in path.parent.iterdir() if p.name != "tasks.json"]  # no temp file left behind
    back = load(path)
    assert list(back.tasks) == [t.id for t in ref] + ["hidden01"]
    assert all(_same(t, back.tasks[t.id]) for t in [*ref, hidden])
    assert back.tasks["hidden01"].test[0].output is None and back.tasks["hidden01"].test[1].output is not None
    save_tasks(back, tmp_path / "again.json")  # a TaskSet is accepted too
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(path.read_text())


def test_save_tasks_refuses_duplicate_ids(tmp_path):
    t = next(iter(load("arc1/training")))
    with pytest.raises(ValueError, match=t.id):
        save_tasks([t, t], tmp_path / "dup.json")
    assert not (tmp_path / "dup.json").exists()
