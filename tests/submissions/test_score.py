"""submissions.score: exact match over two attempts, micro and macro by hand, real data."""

import json

import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, Task, as_grid, grid_to_list
from arc_pipeline.submissions.score import score
from arc_pipeline.submissions.validate import validate
from arc_pipeline.submissions.write import build_submission

X = [[0]]
WRONG = [[9, 9]]


def _task(task_id: str, outputs: list) -> Task:
    g = as_grid(X)
    return Task(task_id, (Pair(g, g),), tuple(Pair(g, as_grid(o)) for o in outputs))


# three tasks with 1, 2 and 3 test outputs (all different grids, so a match is never accidental)
OUT = {
    "one": [[[1]]],
    "two": [[[2, 2]], [[3], [3]]],
    "three": [[[4]], [[5, 5, 5]], [[6, 6], [6, 6]]],
}
TASKS = {tid: _task(tid, outs) for tid, outs in OUT.items()}


def _entry(a1, a2):
    return {"attempt_1": a1, "attempt_2": a2}


def test_hand_computed_micro_and_macro():
    sub = {
        "one": [_entry(WRONG, [[1]])],  # right on attempt 2: 1/1
        "two": [_entry([[2, 2]], WRONG), _entry(WRONG, WRONG)],  # 1/2
        "three": [_entry([[4]], [[4]]), _entry(WRONG, [[5, 5, 5]]), _entry([[6, 6]], WRONG)],  # 2/3
    }
    s = score(sub, TASKS)
    assert (s.tasks, s.outputs, s.outputs_correct, s.tasks_solved) == (3, 6, 4, 1)
    assert s.micro == pytest.approx(4 / 6)
    assert s.macro == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert s.to_dict() == {
        "micro": pytest.approx(4 / 6),
        "macro": pytest.approx(13 / 18),
        "tasks_solved": 1,
        "tasks": 3,
        "outputs": 6,
        "outputs_correct": 4,
        "missing_tasks": 0,
    }


def test_missing_task_and_short_list_score_zero_but_count():
    sub = {"two": [_entry([[2, 2]], WRONG)], "three": [_entry([[4]], X)] * 3 + [_entry(WRONG, WRONG)]}
    s = score(sub, TASKS)
    assert (s.outputs, s.outputs_correct, s.tasks_solved, s.missing_tasks) == (6, 2, 0, 1)
    assert s.micro == pytest.approx(2 / 6)
    assert s.macro == pytest.approx((0 + 1 / 2 + 1 / 3) / 3)


def test_extra_tasks_in_submission_are_ignored():
    sub = {"one": [_entry([[1]], X)], "stranger": [_entry([[1]], X)]}
    s = score(sub, {"one": TASKS["one"]})
    assert (s.tasks, s.outputs_correct, s.micro, s.macro) == (1, 1, 1.0, 1.0)


def test_shape_must_match_and_malformed_attempts_never_score():
    t = _task("t", [[[1, 1], [1, 1]]])
    wrong_shape = [[1, 1, 1, 1]]
    for entry in ([_entry(wrong_shape, [[1, 1]])], [{"attempt_1": [[1, 1], [1, 1.0]]}], ["x"], [None], "x"):
        assert score({"t": entry}, [t]).outputs_correct == 0, entry
    # a single attempt key is enough to score (validate flags it, score still reads it)
    assert score({"t": [{"attempt_2": [[1, 1], [1, 1]]}]}, [t]).outputs_correct == 1


def test_empty_submission_scores_zero_and_fails_validation():
    tasks = load("kaggle2025/evaluation")
    s = score({}, tasks)
    assert (s.micro, s.macro, s.tasks_solved, s.outputs_correct, s.missing_tasks) == (0.0, 0.0, 0, 0, 120)
    assert len(validate({}, tasks)) == 120


def test_solutions_as_submission_score_perfect(tmp_path):
    tasks = load("kaggle2025/evaluation")
    candidates = {t.id: [[p.output] for p in t.test] for t in tasks}
    sub, report = build_submission(tasks, candidates)
    assert report.fallbacks == 0 and report.entries == 172
    assert validate(sub, tasks) == []
    s = score(sub, tasks)
    assert (s.micro, s.macro, s.tasks, s.outputs, s.outputs_correct, s.tasks_solved) == (1.0, 1.0, 120, 172, 172, 120)
    # and the hand-written Kaggle shape, through a file
    raw = {t.id: [_entry(grid_to_list(p.output), X) for p in t.test] for t in tasks}
    (tmp_path / "submission.json").write_text(json.dumps(raw))
    assert score(tmp_path / "submission.json", tasks).micro == 1.0


def test_tasks_without_solutions_are_an_error_naming_them():
    hidden = Task("hid", TASKS["one"].train, (Pair(as_grid(X)),))
    with pytest.raises(ArcError, match="1 task\\(s\\) have no known test outputs: hid"):
        score({}, [TASKS["one"], hidden])


def test_bad_submission_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "sub.json"
    bad.write_text("[1, 2")
    with pytest.raises(ArcError, match="sub.json: invalid JSON"):
        score(bad, TASKS)
    bad.write_text("[]")
    with pytest.raises(ArcError, match="not a JSON object"):
        score(bad, TASKS)


def test_per_task_frame():
    sub = {"two": [_entry([[2, 2]], WRONG), _entry(WRONG, [[3], [3]])], "three": [_entry([[4]], X)]}
    frame = score(sub, TASKS).per_task_frame()
    assert frame.columns == ["task_id", "outputs", "correct", "fraction", "solved"]
    assert frame.rows() == [
        ("one", 1, 0, 0.0, False),
        ("two", 2, 2, 1.0, True),
        ("three", 3, 1, pytest.approx(1 / 3), False),
    ]
    assert frame.schema["solved"] == pl.Boolean


def test_empty_task_set_is_refused():
    # issue 11: a score over zero tasks (e.g. an empty challenges file) said 0.0 and exited 0
    with pytest.raises(ArcError, match="no tasks to score"):
        score({}, {})
