"""submissions.write: every task, every test input, both attempts; fallbacks counted; atomic."""

import json

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.task import Pair, Task, as_grid
from arc_pipeline.submissions.validate import validate
from arc_pipeline.submissions.write import build_submission, write_submission

IN0 = [[1, 1], [1, 1]]
IN1 = [[2]]
A = [[3, 4]]
B = [[5], [6]]
C = [[7]]


def _tasks() -> dict[str, Task]:
    t1 = Task("t1", (Pair(as_grid(IN0), as_grid(IN0)),), (Pair(as_grid(IN0)), Pair(as_grid(IN1))))
    t2 = Task("t2", (Pair(as_grid(IN1), as_grid(IN1)),), (Pair(as_grid(IN1)),))
    return {"t1": t1, "t2": t2}


def test_top_two_candidates_in_test_order():
    sub, report = build_submission(_tasks(), {"t1": [[A, B, C], [B, A]], "t2": [[C, A]]})
    assert sub == {
        "t1": [{"attempt_1": A, "attempt_2": B}, {"attempt_1": B, "attempt_2": A}],
        "t2": [{"attempt_1": C, "attempt_2": A}],
    }
    assert (report.tasks, report.entries, report.fallbacks, report.single) == (2, 3, 0, 0)


def test_numpy_candidates_and_duplicates_collapse():
    a = np.array(A, dtype=np.uint8)
    sub, report = build_submission(_tasks(), {"t2": [[a, a.copy(), np.array(B, dtype=np.int64)]]})
    assert sub["t2"] == [{"attempt_1": A, "attempt_2": B}]
    assert isinstance(sub["t2"][0]["attempt_1"][0][0], int)
    assert report.single == 0


def test_single_candidate_second_attempt_is_test_input_or_repeat():
    sub, report = build_submission(_tasks(), {"t1": [[A], [IN1]], "t2": [[A, A]]})
    assert sub["t1"][0] == {"attempt_1": A, "attempt_2": IN0}  # input differs: a free guess
    assert sub["t1"][1] == {"attempt_1": IN1, "attempt_2": IN1}  # candidate is the input: repeat it
    assert sub["t2"][0] == {"attempt_1": A, "attempt_2": IN1}
    assert report.single == 3 and report.single_entries == (("t1", 0), ("t1", 1), ("t2", 0))
    assert report.fallbacks == 0


@pytest.mark.parametrize(
    "candidates",
    [{}, {"t1": None}, {"t1": []}, {"t1": [[], None]}, {"t1": {}}, {"t1": {0: [], 1: None}}],
)
def test_missing_candidates_fall_back_to_test_input(candidates):
    sub, report = build_submission(_tasks(), candidates)
    assert sub["t1"] == [{"attempt_1": IN0, "attempt_2": IN0}, {"attempt_1": IN1, "attempt_2": IN1}]
    assert sub["t2"] == [{"attempt_1": IN1, "attempt_2": IN1}]
    assert report.fallbacks == 3
    assert report.fallback_entries == (("t1", 0), ("t1", 1), ("t2", 0))


def test_short_list_and_dict_by_index():
    sub, report = build_submission(_tasks(), {"t1": {1: [A, B]}, "t2": []})
    assert sub["t1"] == [{"attempt_1": IN0, "attempt_2": IN0}, {"attempt_1": A, "attempt_2": B}]
    assert report.fallback_entries == (("t1", 0), ("t2", 0))
    sub, report = build_submission(_tasks(), {"t1": [[A, B]]})  # shorter than the test list
    assert len(sub["t1"]) == 2 and report.fallback_entries == (("t1", 1), ("t2", 0))


def test_invalid_candidates_are_dropped_and_reported():
    bad = [[np.zeros((2, 2, 2), np.uint8), np.array([[0.5]]), [[10]], [[1, 2], [3]], None, A, B]]
    sub, report = build_submission(_tasks(), {"t2": bad})
    assert sub["t2"] == [{"attempt_1": A, "attempt_2": B}]
    assert [(t, i, r) for t, i, r, _ in report.invalid] == [("t2", 0, k) for k in range(5)]
    assert "3-D" in report.invalid[0][3] and "dtype float64" in report.invalid[1][3]
    assert validate(sub, _tasks()) == []


def test_a_bare_grid_instead_of_a_list_is_an_error():
    with pytest.raises(ArcError, match="task t2 test 0: candidates are one array"):
        build_submission(_tasks(), {"t2": [np.array(A)]})


def test_unknown_task_is_an_error_naming_it():
    with pytest.raises(ArcError, match="not in the target tasks: zz1, zz2"):
        build_submission(_tasks(), {"zz2": [[A]], "t1": [[A]], "zz1": []})


def test_too_many_test_indices_is_an_error():
    with pytest.raises(ArcError, match="task t2: candidates for test index 1 but"):
        build_submission(_tasks(), {"t2": [[A], [B]]})
    with pytest.raises(ArcError, match="task t2: candidates for test index 5 but"):
        build_submission(_tasks(), {"t2": {5: [A]}})


def test_write_is_valid_json_and_atomic(tmp_path):
    path = tmp_path / "out" / "submission.json"
    report = write_submission(path, _tasks(), {"t1": [[A, B]]})
    assert json.loads(path.read_text()) == build_submission(_tasks(), {"t1": [[A, B]]})[0]
    assert validate(path, _tasks()) == []
    assert report.fallbacks == 2
    assert [p.name for p in path.parent.iterdir()] == ["submission.json"]  # no temp file left behind


def test_failed_write_leaves_previous_file(tmp_path):
    path = tmp_path / "submission.json"
    path.write_text("previous")
    with pytest.raises(ArcError):
        write_submission(path, _tasks(), {"nope": []})
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["submission.json"]


def test_report_to_dict_is_json():
    _, report = build_submission(_tasks(), {"t1": [[A]]})
    d = json.loads(json.dumps(report.to_dict()))
    assert d["fallbacks"] == 2 and d["fallback_entries"] == [["t1", 1], ["t2", 0]] and d["single"] == 1
