"""Fingerprints up to symmetry: numpy twins of the kernels, invariance, and leaks they reveal."""

import hashlib
import itertools

import numpy as np
import pytest

from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, Task, TaskSet
from arc_pipeline.augment.records import Aug, dihedral_numpy
from arc_pipeline.augment.symmetry import HEADER, canon_pairs, describe, overlap, pair_key, task_key, task_keys, transform_between
from arc_pipeline.augment.transform import apply

# ---------------------------------------------------------------- numpy twins (the definitions)


def relabel_twin(cells, permute_zero, cmap=None):
    cmap = {} if cmap is None else dict(cmap)
    if not permute_zero:
        cmap[0] = 0
    out = []
    for v in cells.tolist():
        if v not in cmap:
            cmap[v] = len(cmap) if permute_zero or 0 in cmap else len(cmap) + 1
        out.append(cmap[v])
    return np.array(out, dtype=np.int64), cmap


def form_twin(p, d):
    gi = dihedral_numpy(p.input, d)
    go = dihedral_numpy(p.output, d) if p.output is not None else np.zeros((0, 0), np.uint8)
    return np.array([*gi.shape, *go.shape], dtype=np.int64), np.concatenate([gi.ravel(), go.ravel()]).astype(np.int64)


def pair_key_twin(p, permute_zero=False):
    forms = []
    for d in range(8):
        head, cells = form_twin(p, d)
        forms.append(np.concatenate([head, relabel_twin(cells, permute_zero)[0]]).astype(np.uint8).tobytes())
    return hashlib.blake2b(min(forms), digest_size=16).hexdigest()


def task_key_twin(task, permute_zero=False):
    best = None
    for d in range(8):
        orders = []
        for pairs in (task.train, task.test):
            forms = [form_twin(p, d) for p in pairs]
            free = [np.concatenate([h, relabel_twin(c, permute_zero)[0]]).astype(np.uint8).tobytes() for h, c in forms]
            ranked = sorted(range(len(pairs)), key=lambda i: free[i])
            groups = [list(g) for _, g in itertools.groupby(ranked, key=lambda i: free[i])]
            orders.append((forms, [sum(map(list, c), []) for c in itertools.product(*(itertools.permutations(g) for g in groups))]))
        for a in orders[0][1]:
            for b in orders[1][1]:
                out, cmap = [], None
                for (forms, _), order in ((orders[0], a), (orders[1], b)):
                    for i in order:
                        rel, cmap = relabel_twin(forms[i][1], permute_zero, cmap)
                        out += [forms[i][0], rel]
                form = np.concatenate(out).astype(np.uint8).tobytes()
                best = form if best is None or form < best else best
    head = f"{len(task.train)}:{len(task.test)}".encode() + b"\x00"
    return hashlib.blake2b(head + best, digest_size=16).hexdigest()


def _random_aug(rng, permute_zero=False):
    colors = rng.permutation(10) if permute_zero else np.concatenate([[0], 1 + rng.permutation(9)])
    return Aug(int(rng.integers(8)), tuple(int(c) for c in colors))


def _aug_task(t, aug, rng, tid="copy"):
    def f(p):
        return Pair(apply(p.input, aug), None if p.output is None else apply(p.output, aug))

    train = [f(p) for p in t.train]
    return Task(tid, tuple(train[i] for i in rng.permutation(len(train))), tuple(f(p) for p in t.test))


@pytest.fixture(scope="module")
def eval_pairs():
    return [p for t in load("arc1/evaluation") for p in (*t.train, *t.test)]


# ---------------------------------------------------------------- pairs


@pytest.mark.parametrize("permute_zero", [False, True])
def test_pair_kernel_matches_its_numpy_twin(eval_pairs, permute_zero):
    pairs = eval_pairs[::7] + [Pair(eval_pairs[0].input, None), Pair(np.zeros((1, 1), np.uint8), None)]
    keys = canon_pairs(pairs, permute_zero=permute_zero).keys
    assert keys == [pair_key_twin(p, permute_zero) for p in pairs]


def test_pair_key_is_invariant_and_the_transform_found_maps_one_onto_the_other(eval_pairs):
    rng = np.random.default_rng(0)
    for _ in range(100):
        p = eval_pairs[rng.integers(len(eval_pairs))]
        aug = _random_aug(rng)
        q = Pair(apply(p.input, aug), apply(p.output, aug))
        ca, cb = canon_pairs([p]), canon_pairs([q])
        assert ca.keys == cb.keys
        t = transform_between(ca, 0, cb, 0)
        assert np.array_equal(apply(p.input, t), q.input) and np.array_equal(apply(p.output, t), q.output)
        assert t.colors[0] == 0
    keys = canon_pairs(eval_pairs).keys
    assert len(set(keys)) > 0.99 * len(keys)  # distinct pairs stay distinct


def test_background_permutation_needs_permute_zero(eval_pairs):
    p = next(p for p in eval_pairs if 0 in p.input and p.input.size > 20)
    swap = Aug(0, (5, 1, 2, 3, 4, 0, 6, 7, 8, 9))
    q = Pair(apply(p.input, swap), apply(p.output, swap))
    assert pair_key(p) != pair_key(q)
    assert pair_key(p, permute_zero=True) == pair_key(q, permute_zero=True)
    t = transform_between(canon_pairs([p], permute_zero=True), 0, canon_pairs([q], permute_zero=True), 0)
    assert np.array_equal(apply(p.input, t), q.input) and np.array_equal(apply(p.output, t), q.output)


def test_hidden_output_differs_from_any_output():
    g = np.array([[1, 2], [3, 4]], np.uint8)
    assert pair_key(Pair(g, None)) != pair_key(Pair(g, g))
    assert canon_pairs([Pair(g, g)], with_output=False).keys == [pair_key(Pair(g, None))]
    assert HEADER == 4


# ---------------------------------------------------------------- tasks


def test_task_keys_match_the_numpy_twin_and_tell_tasks_apart():
    ts = list(load("arc1/evaluation"))
    assert task_keys(ts[:40]) == [task_key_twin(t) for t in ts[:40]]
    assert len(set(task_keys(ts))) == len(ts)


def test_task_key_ignores_transform_colours_and_pair_order_but_not_content():
    rng = np.random.default_rng(1)
    for t in list(load("arc2/evaluation"))[:20]:
        copy = _aug_task(t, _random_aug(rng), rng)
        assert task_key(copy) == task_key(t)
    t = load("arc1/training").tasks["007bbfb7"]
    moved = Task(t.id, t.train[1:], (t.train[0],))  # the same pairs, another split
    assert task_key(moved) != task_key(t)
    # two pairs equal up to colour are tied; every order is tried, so the key stays order-free
    g = np.array([[1, 2], [0, 1]], np.uint8)
    a, b = Pair(g, g.T.copy()), Pair(g + 2 * (g > 0), (g + 2 * (g > 0)).T.copy())
    c = Pair(np.array([[3, 1]], np.uint8), np.array([[1, 3]], np.uint8))
    assert task_key(Task("x", (a, b, c), (c,))) == task_key(Task("y", (b, c, a), (c,))) == task_key_twin(Task("x", (a, b, c), (c,)))


# ---------------------------------------------------------------- overlap


def test_a_rotated_recoloured_copy_of_an_evaluation_task_hidden_in_training_is_found_with_its_transform():
    target = load("arc2/evaluation")
    victim = target.tasks["0934a4d8"] if "0934a4d8" in target.tasks else next(iter(target))
    aug = Aug(1, (0, 3, 1, 2, 5, 4, 7, 6, 9, 8))  # rotate 90 and recolour
    rng = np.random.default_rng(2)
    copy = _aug_task(victim, aug, rng, tid="gen_0042")
    train = TaskSet("mixed", {**{t.id: t for t in list(load("arc1/training"))[:30]}, "gen_0042": copy})
    o = overlap(target, train)  # which training tasks hold an evaluation pair
    assert "gen_0042" in o.symmetric and "gen_0042" not in o.leaked
    m = o.symmetric_from["gen_0042"][0]
    assert m["a_task"] == victim.id and m["whole_task"]
    found = Aug(m["dihedral"], tuple(m["colors"]))
    src = victim.test[0] if m["a_pair"] == "test 0" else victim.train[int(m["a_pair"].split()[1])]
    dst = copy.test[m["test_index"]]
    assert np.array_equal(apply(src.input, found), dst.input) and np.array_equal(apply(src.output, found), dst.output)
    assert describe(found).startswith("rotate 90")
    back = overlap(train, target)  # and the other way round: the evaluation task leaked from training
    assert victim.id in back.symmetric and back.symmetric_from[victim.id][0]["a_task"] == "gen_0042"


def test_exact_facts_stay_and_one_arc1_evaluation_answer_is_a_recoloured_training_pair():
    o = overlap(load("arc2/training"), load("arc1/evaluation"))
    assert (len(o.leaked), len(o.identical), o.symmetric) == (376, 375, [])
    o = overlap(load("arc1/training"), load("arc1/evaluation"))
    assert o.identical == o.leaked == ["070dd51e"] and o.identical_to == {"070dd51e": ["40853293"]}
    assert o.symmetric == ["50a16a69"]
    m = o.symmetric_from["50a16a69"][0]
    assert (m["a_task"], m["a_pair"], m["dihedral"], m["whole_task"]) == ("caa06a1f", "train 2", 0, False)
    six = overlap(load("arc1/evaluation"), load("arc2/evaluation"))
    assert len(six.identical) == 6 and six.symmetric == []
