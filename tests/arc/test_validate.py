"""Every validation error kind: the message names the file, the task, the pair and the field."""

import json

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load

GOOD = {"train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}], "test": [{"input": [[0]], "output": [[9]]}]}


def _task(**changes):
    t = json.loads(json.dumps(GOOD))
    for part, value in changes.items():
        t[part] = value
    return t


def _load_one(tmp_path, task, tid="abc12345"):
    """Load a challenges file holding one good task and the given bad one; return the error text."""
    path = tmp_path / "x_challenges.json"
    path.write_text(json.dumps({"good0001": GOOD, tid: task}))
    with pytest.raises(ArcError) as e:
        load(path)
    msg = str(e.value)
    assert str(path) in msg and tid in msg and "good0001" not in msg.split("\n", 1)[1]
    return msg


@pytest.mark.parametrize(
    "task, where, what",
    [
        (_task(train=[{"input": [[1, 2], [3]], "output": [[1]]}]), "train pair 0, field 'input'", "ragged grid: row 1 has 1 cells, row 0 has 2"),
        (_task(test=[{"input": [[1]], "output": [[1, 1], [1]]}]), "test pair 0, field 'output'", "ragged"),
        (_task(train=[GOOD["train"][0], {"input": [], "output": [[1]]}]), "train pair 1, field 'input'", "0 rows"),
        (_task(train=[{"input": [[1]] * 31, "output": [[1]]}]), "train pair 0, field 'input'", "31 rows"),
        (_task(train=[{"input": [[1] * 31], "output": [[1]]}]), "train pair 0, field 'input'", "31 columns"),
        (_task(train=[{"input": [[]], "output": [[1]]}]), "train pair 0, field 'input'", "0 columns"),
        (_task(train=[{"input": [[1, True]], "output": [[1]]}]), "train pair 0, field 'input'", "cell (row 0, col 1) is True (bool)"),
        (_task(train=[{"input": [[1], [2.0]], "output": [[1]]}]), "train pair 0, field 'input'", "cell (row 1, col 0) is 2.0 (float)"),
        (_task(train=[{"input": [[1]], "output": [[10]]}]), "train pair 0, field 'output'", "cell (row 0, col 0) is 10"),
        (_task(test=[{"input": [[0, -1]]}]), "test pair 0, field 'input'", "cell (row 0, col 1) is -1"),
        (_task(test=[{"input": [["3"]]}]), "test pair 0, field 'input'", "'3' (str)"),
        (_task(test=[{"input": [[None]]}]), "test pair 0, field 'input'", "None (NoneType)"),
        (_task(train=[{"input": "[[1]]", "output": [[1]]}]), "train pair 0, field 'input'", "expected a list of rows, got str"),
        (_task(train=[{"input": [1, 2], "output": [[1]]}]), "train pair 0, field 'input'", "row 0 is a int"),
        (_task(train=[{"output": [[1]]}]), "train pair 0", "missing key 'input'"),
        (_task(train=[{"input": [[1]]}]), "train pair 0", "missing key 'output'"),
        (_task(train=[[[1]], [[2]]]), "train pair 0", "expected an object"),
    ],
)
def test_bad_grid_or_pair_names_task_pair_and_field(tmp_path, task, where, what):
    msg = _load_one(tmp_path, task)
    assert f"task abc12345, {where}" in msg
    assert what in msg


@pytest.mark.parametrize(
    "task, what",
    [
        ({"test": GOOD["test"]}, "missing key 'train'"),
        ({"train": GOOD["train"]}, "missing key 'test'"),
        (_task(train=[]), "'train' is empty"),
        (_task(test=[]), "'test' is empty"),
        (_task(train={"input": [[1]]}), "'train' is a dict, expected a list"),
        ([GOOD], "expected an object with 'train' and 'test', got list"),
    ],
)
def test_bad_task_structure_names_task_and_key(tmp_path, task, what):
    msg = _load_one(tmp_path, task)
    assert "task abc12345: " in msg and what in msg


def test_invalid_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "y_challenges.json"
    path.write_text('{"abc": {"train": [\n  {"input": [[1,]]}]}}')
    with pytest.raises(ArcError, match=r"y_challenges.json: invalid JSON at line 2, column \d+"):
        load(path)


def test_invalid_json_in_a_task_directory_names_that_task_and_keeps_the_others(tmp_path):
    (tmp_path / "good0001.json").write_text(json.dumps(GOOD))
    (tmp_path / "bad00001.json").write_text('{"train": [}')
    with pytest.raises(ArcError, match=r"bad00001.json: invalid JSON at line 1, column 12"):
        load(tmp_path)
    ts = load(tmp_path, skip_invalid=True)
    assert list(ts.tasks) == ["good0001"] and "invalid JSON" in ts.skipped["bad00001"]


def test_every_bad_task_is_reported_at_once_or_skipped(tmp_path):
    path = tmp_path / "z_challenges.json"
    bad_a = _task(train=[{"input": [[11]], "output": [[1]]}])
    bad_b = _task(test=[])
    path.write_text(json.dumps({"bad0000a": bad_a, "good0001": GOOD, "bad0000b": bad_b}))
    with pytest.raises(ArcError) as e:
        load(path)
    msg = str(e.value)
    assert "2 invalid task(s)" in msg and "task bad0000a, train pair 0" in msg and "task bad0000b: 'test' is empty" in msg
    ts = load(path, skip_invalid=True)
    assert list(ts.tasks) == ["good0001"]
    assert set(ts.skipped) == {"bad0000a", "bad0000b"} and "is 11" in ts.skipped["bad0000a"]


def _kaggle(tmp_path, challenges, solutions):
    c = tmp_path / "arc-agi_test_challenges.json"
    c.write_text(json.dumps(challenges))
    (tmp_path / "arc-agi_test_solutions.json").write_text(json.dumps(solutions))
    return c


def _hidden(task):
    return {"train": task["train"], "test": [{"input": p["input"]} for p in task["test"]]}


def test_solutions_with_wrong_output_count_name_the_task(tmp_path):
    c = _kaggle(tmp_path, {"t1": _hidden(GOOD), "t2": _hidden(GOOD)}, {"t1": [[[9]]], "t2": [[[9]], [[8]]]})
    with pytest.raises(ArcError, match=r"arc-agi_test_solutions.json: task t2: 2 solution output\(s\) but the challenge has 1 test input"):
        load(c)
    ts = load(c, skip_invalid=True)
    assert list(ts.tasks) == ["t1"] and ts.tasks["t1"].test[0].output.tolist() == [[9]]


def test_solutions_with_missing_or_extra_ids_name_them(tmp_path):
    c = _kaggle(tmp_path, {"t1": _hidden(GOOD), "t2": _hidden(GOOD)}, {"t1": [[[9]]], "t3": [[[9]]]})
    with pytest.raises(ArcError) as e:
        load(c)
    msg = str(e.value)
    assert "task t2: no solutions entry" in msg
    assert "task t3: has solutions but is not in the challenges file" in msg


def test_bad_solution_grid_names_task_and_test_pair(tmp_path):
    c = _kaggle(tmp_path, {"t1": _hidden(GOOD)}, {"t1": [[[1, 2], [3]]]})
    with pytest.raises(ArcError, match=r"task t1, test pair 0, solution output: ragged"):
        load(c)


def test_single_task_file_error_names_the_file_and_id(tmp_path):
    path = tmp_path / "feedbeef.json"
    path.write_text(json.dumps(_task(test=[{"input": [[0, 1.5]]}])))
    with pytest.raises(ArcError, match=r"feedbeef.json: task feedbeef, test pair 0, field 'input': cell \(row 0, col 1\) is 1.5"):
        load(path)
