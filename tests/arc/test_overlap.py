"""Fingerprints ignore ids and pair order; overlap reproduces the known facts on the bundled data."""

import numpy as np

from arc_pipeline.arc.fingerprint import grid_key, pair_key, task_fingerprint, tasks_fingerprint
from arc_pipeline.arc.load import load
from arc_pipeline.arc.overlap import overlap
from arc_pipeline.arc.task import Pair, Task, TaskSet


def g(rows):
    return np.array(rows, dtype=np.uint8)


A, B, C = g([[1, 2], [3, 4]]), g([[5]]), g([[0, 0, 7]])


def test_grid_key_depends_on_shape_and_cells():
    assert grid_key(g([[1, 2, 3, 4]])) != grid_key(g([[1, 2], [3, 4]]))  # same bytes, other shape
    assert grid_key(A) == grid_key(A.copy()) == grid_key(A.astype(np.int64))
    assert grid_key(A) != grid_key(g([[1, 2], [3, 5]]))
    assert grid_key(np.asfortranarray(A)) == grid_key(A)


def test_pair_key_tells_hidden_output_from_known_and_input_from_output():
    assert pair_key(Pair(A, B)) != pair_key(Pair(A, None))
    assert pair_key(Pair(A, B)) != pair_key(Pair(B, A))


def test_task_fingerprint_ignores_id_and_pair_order_but_not_the_split():
    t = Task("x", (Pair(A, B), Pair(B, C)), (Pair(C, A),))
    same = Task("y", (Pair(B, C), Pair(A, B)), (Pair(C, A),))
    moved = Task("x", (Pair(A, B), Pair(C, A)), (Pair(B, C),))
    other = Task("x", (Pair(A, B), Pair(B, C)), (Pair(C, B),))
    assert task_fingerprint(t) == task_fingerprint(same)
    assert task_fingerprint(t) != task_fingerprint(moved)
    assert task_fingerprint(t) != task_fingerprint(other)
    assert tasks_fingerprint([t, other]) == tasks_fingerprint([other, t]) != tasks_fingerprint([same, other])


def test_overlap_on_hand_built_sets():
    a = TaskSet("a", {"a1": Task("a1", (Pair(A, B),), (Pair(B, C),)), "a2": Task("a2", (Pair(C, A),), (Pair(A, None),))})
    b = TaskSet(
        "b",
        {
            "copy": Task("copy", (Pair(A, B),), (Pair(B, C),)),  # identical to a1
            "leak": Task("leak", (Pair(B, B),), (Pair(C, A),)),  # its test pair is a2's train pair
            "hid": Task("hid", (Pair(B, B),), (Pair(A, None),)),  # hidden outputs never leak
            "new": Task("new", (Pair(B, B),), (Pair(A, A),)),
        },
    )
    o = overlap(a, b)
    assert o.identical == ["copy"] and o.identical_to == {"copy": ["a1"]}
    assert o.leaked == ["copy", "leak"] and o.leaked_from == {"copy": ["a1"], "leak": ["a2"]}


def test_arc1_evaluation_inside_arc2_training():
    o = overlap(load("arc2/training"), load("arc1/evaluation"))
    assert len(o.leaked) == 376
    # One of them (ac0c5833) had a demonstration changed in ARC-AGI-2, so 375 are identical.
    assert len(o.identical) == 375
    assert set(o.leaked) - set(o.identical) == {"ac0c5833"}


def test_six_arc2_evaluation_tasks_are_arc1_evaluation_tasks():
    six = ["0934a4d8", "136b0064", "16b78196", "981571dc", "aa4ec2a5", "da515329"]
    o = overlap(load("arc1/evaluation"), load("arc2/evaluation"))
    assert sorted(o.identical) == six and sorted(o.leaked) == six  # identical and leaked alike
    assert all(o.identical_to[t] == [t] for t in six)  # same ids in both releases


def test_arc1_training_task_identical_to_an_evaluation_task():
    o = overlap(load("arc1/training"), load("arc1/evaluation"))
    assert o.identical == o.leaked == ["070dd51e"] and o.identical_to == {"070dd51e": ["40853293"]}
    assert overlap(load("arc1/evaluation"), load("arc1/training")).identical == ["40853293"]


def test_arc2_training_and_evaluation_are_disjoint():
    o = overlap(load("arc2/training"), load("arc2/evaluation"))
    assert o.identical == [] and o.leaked == []
