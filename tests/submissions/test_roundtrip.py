"""Property tests: writer -> validator -> scorer on random small tasks and candidates."""

import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arc_pipeline.arc.task import Pair, Task, as_grid, grid_to_list
from arc_pipeline.submissions.score import score
from arc_pipeline.submissions.validate import validate
from arc_pipeline.submissions.write import build_submission, write_submission

# colours 0..2 on at most 2x2 grids: collisions (candidate == solution == input) happen often
grids = st.integers(1, 2).flatmap(
    lambda h: st.integers(1, 2).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 2), min_size=w, max_size=w), min_size=h, max_size=h)
    )
)
ids = st.lists(st.text("0123456789abcdef", min_size=8, max_size=8), min_size=1, max_size=4, unique=True)


@st.composite
def problems(draw):
    """Random tasks with solutions, and ranked candidates drawn from noise, solutions and inputs."""
    tasks, candidates = {}, {}
    for task_id in draw(ids):
        tests = [Pair(as_grid(draw(grids)), as_grid(draw(grids))) for _ in range(draw(st.integers(1, 3)))]
        tasks[task_id] = Task(task_id, (Pair(as_grid([[0]]), as_grid([[1]])),), tuple(tests))
        if draw(st.booleans()):
            continue  # no predictions at all for this task
        per_test = []
        for p in tests:
            pool = st.one_of(grids, st.just(grid_to_list(p.output)), st.just(grid_to_list(p.input)))
            ranked = draw(st.lists(pool, max_size=4))
            as_numpy = draw(st.booleans())
            per_test.append([np.array(g, dtype=np.uint8) for g in ranked] if as_numpy else ranked)
        candidates[task_id] = per_test
    return tasks, candidates


def _ranked(candidates, task_id, i):
    per_task = candidates.get(task_id) or []
    return [grid_to_list(np.asarray(g)) for g in (per_task[i] if i < len(per_task) else [])]


def _first_two_distinct(ranked):
    out = []
    for g in ranked:
        if g not in out:
            out.append(g)
    return out[:2]


@settings(max_examples=100, deadline=None)
@given(problems())
def test_written_submission_always_validates_and_scores_what_it_holds(problem):
    tasks, candidates = problem
    sub, report = build_submission(tasks, candidates)
    assert validate(sub, tasks) == []
    assert list(sub) == list(tasks)
    assert report.entries == sum(len(t.test) for t in tasks.values())
    no_candidate = [(tid, i) for tid, t in tasks.items() for i in range(len(t.test)) if not _ranked(candidates, tid, i)]
    assert list(report.fallback_entries) == no_candidate and report.fallbacks == len(no_candidate)

    # the score equals the fraction computed straight from the attempts written
    hits = {
        tid: [
            grid_to_list(p.output) in (e["attempt_1"], e["attempt_2"]) for p, e in zip(t.test, sub[tid], strict=True)
        ]
        for tid, t in tasks.items()
    }
    s = score(sub, tasks)
    flat = [h for row in hits.values() for h in row]
    assert s.outputs_correct == sum(flat) and s.outputs == len(flat)
    assert s.micro == sum(flat) / len(flat)
    assert np.isclose(s.macro, np.mean([sum(r) / len(r) for r in hits.values()]))
    assert s.tasks_solved == sum(all(r) for r in hits.values())


@settings(max_examples=100, deadline=None)
@given(problems())
def test_ranking_rules(problem):
    tasks, candidates = problem
    sub, _ = build_submission(tasks, candidates)
    for tid, t in tasks.items():
        for i, p in enumerate(t.test):
            entry, answer = sub[tid][i], grid_to_list(p.output)
            got = {json.dumps(entry["attempt_1"]), json.dumps(entry["attempt_2"])}
            top = _first_two_distinct(_ranked(candidates, tid, i))
            # the top two distinct candidates are always submitted, in rank order
            assert [entry["attempt_1"], entry["attempt_2"]][: len(top)] == top
            # nothing is ever submitted that is neither a candidate nor the test input
            allowed = {json.dumps(g) for g in top} | {json.dumps(grid_to_list(p.input))}
            assert got <= allowed
            if answer in top:
                assert answer in (entry["attempt_1"], entry["attempt_2"])


@settings(max_examples=40, deadline=None)
@given(problems())
def test_file_round_trip(problem):
    tasks, candidates = problem
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "submission.json"
        report = write_submission(path, tasks, candidates)
        built, same = build_submission(tasks, candidates)
        assert json.loads(path.read_text()) == built and report == same
        assert validate(path, tasks) == []
        assert score(path, tasks) == score(built, tasks)


CORRUPTIONS = ["drop task", "drop entry", "drop attempt", "bad colour", "ragged", "extra task", "not a list"]


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from(CORRUPTIONS), st.data())
def test_any_corruption_is_caught_and_names_the_task(problem, kind, data):
    tasks, candidates = problem
    sub, _ = build_submission(tasks, candidates)
    tid = data.draw(st.sampled_from(list(tasks)))
    entry = sub[tid][-1]
    key = data.draw(st.sampled_from(["attempt_1", "attempt_2"]))
    if kind == "drop task":
        del sub[tid]
    elif kind == "drop entry":
        sub[tid].pop()
    elif kind == "drop attempt":
        del entry[key]
    elif kind == "bad colour":
        entry[key] = [row[:] for row in entry[key]]
        entry[key][0][0] = 10
    elif kind == "ragged":
        entry[key] = entry[key] + [entry[key][0] + [0]]
    elif kind == "extra task":
        tid = "zz" + tid
        sub[tid] = sub[tid[2:]]
    else:
        sub[tid] = entry
    problems_found = validate(sub, tasks)
    assert len(problems_found) == 1
    assert problems_found[0].startswith(f"task {tid}")
