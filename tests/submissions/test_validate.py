"""submissions.validate: every problem Kaggle would reject is listed, naming task and entry."""

import json

import numpy as np
import pytest

from arc_pipeline.arc.task import Pair, Task, TaskSet, as_grid
from arc_pipeline.submissions.validate import grid_problem, validate


def _task(task_id: str, n_test: int) -> Task:
    g = as_grid([[1, 2], [3, 4]])
    return Task(task_id, (Pair(g, g),), tuple(Pair(g, g) for _ in range(n_test)))


TASKS = {"aaaa0001": _task("aaaa0001", 1), "bbbb0002": _task("bbbb0002", 2)}
GOOD = {"attempt_1": [[1]], "attempt_2": [[2, 3]]}


def _ok() -> dict:
    return {"aaaa0001": [dict(GOOD)], "bbbb0002": [dict(GOOD), dict(GOOD)]}


def test_valid_submission_has_no_problems():
    assert validate(_ok(), TASKS) == []
    assert validate(_ok(), TaskSet("t", TASKS)) == []
    assert validate(_ok(), list(TASKS.values())) == []


def test_empty_object_lists_every_missing_task():
    problems = validate({}, TASKS)
    assert len(problems) == 2
    assert "task aaaa0001: missing" in problems[0]
    assert "task bbbb0002: missing" in problems[1]


@pytest.mark.parametrize("value", [[], 3, None, [{"attempt_1": [[1]]}]])
def test_not_an_object(value):
    problems = validate(value, TASKS)
    assert len(problems) == 1 and "not a JSON object" in problems[0]


def test_extra_task():
    sub = _ok() | {"cccc0003": [dict(GOOD)]}
    assert validate(sub, TASKS) == ["task cccc0003: not in the challenges (remove it)"]


def test_entries_not_a_list():
    sub = _ok() | {"bbbb0002": {"attempt_1": [[1]]}}
    (p,) = validate(sub, TASKS)
    assert p.startswith("task bbbb0002:") and "not a list" in p


@pytest.mark.parametrize("n", [0, 1, 3])
def test_wrong_number_of_entries(n):
    sub = _ok() | {"bbbb0002": [dict(GOOD)] * n}
    (p,) = validate(sub, TASKS)
    assert p.startswith("task bbbb0002:") and f"{n} entries" in p and "2 test inputs" in p


def test_entry_not_a_dict():
    sub = _ok() | {"bbbb0002": [dict(GOOD), [[1]]]}
    (p,) = validate(sub, TASKS)
    assert p.startswith("task bbbb0002 test 1:") and "not an object" in p


def test_missing_attempt_keys_each_listed():
    sub = _ok() | {"bbbb0002": [{"attempt_2": [[1]]}, {}]}
    problems = validate(sub, TASKS)
    assert problems == [
        "task bbbb0002 test 0: missing attempt_1 (both attempts are required, repeat a guess if need be)",
        "task bbbb0002 test 1: missing attempt_1 (both attempts are required, repeat a guess if need be)",
        "task bbbb0002 test 1: missing attempt_2 (both attempts are required, repeat a guess if need be)",
    ]


BAD_GRIDS = {
    "not a list": ("x", "not a list of rows"),
    "no rows": ([], "0 rows"),
    "31 rows": ([[0]] * 31, "31 rows"),
    "empty row": ([[]], "0 cells"),
    "31 columns": ([[0] * 31], "31 cells"),
    "ragged": ([[1, 2], [3]], "row 1 has 1 cells but row 0 has 2"),
    "row not a list": ([[1], 2], "row 1 is int"),
    "colour 10": ([[1, 10]], "cell (0, 1) is 10"),
    "negative": ([[-1]], "cell (0, 0) is -1"),
    "bool": ([[True]], "cell (0, 0) is True (bool)"),
    "float": ([[1.0]], "cell (0, 0) is 1.0 (float)"),
    "string": ([["1"]], "cell (0, 0) is '1' (str)"),
}


@pytest.mark.parametrize("name", BAD_GRIDS)
def test_invalid_grid_names_task_entry_attempt_and_cause(name):
    grid, cause = BAD_GRIDS[name]
    sub = _ok()
    sub["bbbb0002"][1] = {"attempt_1": [[1]], "attempt_2": grid}
    (p,) = validate(sub, TASKS)
    assert p.startswith("task bbbb0002 test 1: attempt_2 is not a valid ARC grid")
    assert cause in p


def test_grid_limits_accepted():
    assert grid_problem([[9] * 30] * 30) is None
    assert grid_problem([[0]]) is None
    assert grid_problem([[np.int64(3)]]) is None


def test_every_problem_listed_at_once():
    sub = {"bbbb0002": [{"attempt_1": [[1]]}], "zzzz": []}
    problems = validate(sub, TASKS)
    assert len(problems) == 4  # missing task, short list, missing attempt_2, extra task
    assert any(p.startswith("task aaaa0001: missing") for p in problems)
    assert any("1 entries" in p for p in problems)
    assert any("missing attempt_2" in p for p in problems)
    assert any(p.startswith("task zzzz:") for p in problems)


def test_path_input(tmp_path):
    good = tmp_path / "submission.json"
    good.write_text(json.dumps(_ok()))
    assert validate(good, TASKS) == []
    assert validate(tmp_path, TASKS) == []  # a run directory holding submission.json
    assert validate(str(good), TASKS) == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"aaaa0001": [')
    (p,) = validate(bad, TASKS)
    assert str(bad) in p and "invalid JSON" in p and "line 1" in p
    (p,) = validate(tmp_path / "nope.json", TASKS)
    assert "nope.json" in p and "no such file" in p
