import numpy as np
import pytest

from arc_pipeline.arc.synth import GEOMETRIC, RULES, SynthConfig, rule_of, synth_suite, synth_task


def same(a, b):
    return a.shape == b.shape and np.array_equal(a, b)


def test_deterministic_from_seed_and_different_across_seeds():
    a, b, c = synth_suite(3), synth_suite(3), synth_suite(4)
    assert list(a) == list(b)
    for tid in a:
        for p, q in zip(a[tid].train + a[tid].test, b[tid].train + b[tid].test):
            assert same(p.input, q.input) and same(p.output, q.output)
    assert set(a).isdisjoint(c)
    first_a, first_c = next(iter(a.values())), next(iter(c.values()))
    assert not same(first_a.train[0].input, first_c.train[0].input)


@pytest.mark.parametrize("index", range(len(RULES)))
def test_every_pair_follows_its_rule_and_shows_it(index):
    cfg = SynthConfig(n_tasks=len(RULES))
    task = synth_task(7, index, cfg)
    rule = rule_of(task.id)
    assert rule == RULES[index]
    assert len(task.train) == 3 and 1 <= len(task.test) <= 2 and task.has_solutions
    pairs = task.train + task.test
    for p in pairs:
        assert p.input.dtype == np.uint8 and 3 <= min(p.input.shape) and max(p.input.shape) <= 5
        assert not same(p.input, p.output)  # the rule visibly acts on every pair
        if rule in GEOMETRIC:
            assert same(GEOMETRIC[rule](p.input), p.output)
    if rule in ("color_swap", "recolor"):
        # one colour table explains every pair: a fixed mapping, consistent across pairs
        table = {}
        for p in pairs:
            assert p.input.shape == p.output.shape
            for a, b in zip(p.input.ravel().tolist(), p.output.ravel().tolist()):
                assert table.setdefault(a, b) == b
        assert table.get(0, 0) == 0
        moved = {a for a, b in table.items() if a != b}
        assert len(moved) == (2 if rule == "color_swap" else 1)


def test_config_rejects_unknown_rules():
    with pytest.raises(ValueError, match="valid rules"):
        SynthConfig(rules=("flip_lr", "gravity"))
