"""Property tests: valid grids parse back exactly, tasks round-trip through save/load, fingerprints
ignore pair order, and any out-of-range cell is rejected."""

import json
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arc_pipeline.arc.fingerprint import task_fingerprint
from arc_pipeline.arc.load import load, save_tasks
from arc_pipeline.arc.task import Pair, Task
from arc_pipeline.arc.validate import TaskProblem, parse_grid

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def grids(draw, max_side=30):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    cells = draw(st.lists(st.integers(0, 9), min_size=h * w, max_size=h * w))
    return np.array(cells, dtype=np.uint8).reshape(h, w)


@st.composite
def tasks(draw, tid="t"):
    small = grids(max_side=6)
    train = draw(st.lists(st.builds(Pair, small, small), min_size=1, max_size=4))
    test = draw(st.lists(st.builds(Pair, small, st.one_of(st.none(), small)), min_size=1, max_size=3))
    return Task(tid, tuple(train), tuple(test))


@SETTINGS
@given(grids())
def test_valid_grids_parse_back_exactly(g):
    back = parse_grid(json.loads(json.dumps(g.tolist())), "here")
    assert back.dtype == np.uint8 and np.array_equal(back, g)


@SETTINGS
@given(grids(max_side=5), st.data())
def test_any_bad_cell_is_rejected_with_its_position(g, data):
    rows = g.tolist()
    r = data.draw(st.integers(0, len(rows) - 1))
    c = data.draw(st.integers(0, len(rows[0]) - 1))
    rows[r][c] = data.draw(st.one_of(st.integers(10, 300), st.integers(-300, -1), st.booleans(), st.floats(0, 9)))
    try:
        parse_grid(rows, "here")
    except TaskProblem as e:
        assert f"cell (row {r}, col {c})" in str(e)
    else:
        raise AssertionError("accepted a bad cell")


@SETTINGS
@given(st.lists(tasks(), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_save_load_round_trip_and_order_free_fingerprint(tmp_path_factory, ts, rnd: random.Random):
    ts = [Task(f"task{i:03d}", t.train, t.test) for i, t in enumerate(ts)]
    path = tmp_path_factory.mktemp("rt") / "tasks.json"
    save_tasks(ts, path)
    back = load(path)
    assert list(back.tasks) == [t.id for t in ts]
    for t in ts:
        b = back.tasks[t.id]
        for p, q in zip((*t.train, *t.test), (*b.train, *b.test), strict=True):
            assert np.array_equal(p.input, q.input)
            assert (p.output is None) == (q.output is None)
            assert p.output is None or np.array_equal(p.output, q.output)
        assert len(b.train) == len(t.train) and task_fingerprint(b) == task_fingerprint(t)
        shuffled = Task("other", tuple(rnd.sample(t.train, len(t.train))), tuple(rnd.sample(t.test, len(t.test))))
        assert task_fingerprint(shuffled) == task_fingerprint(t)
