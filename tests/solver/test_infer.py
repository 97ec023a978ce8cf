"""Halting and continuous batching against a fake model whose halting step is known per example."""

import numpy as np
import pytest

from arc_pipeline.augment.source import ArraySource
from arc_pipeline.solver.infer import PredictConfig, pack, run_steps, shard, unpack
from tests.solver.conftest import V


@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_each_example_stops_at_its_own_halting_step(batch_size, cpu_runtime, fake_trm, halting_source):
    src, halt_at = halting_source()
    model = fake_trm(max_steps=6)
    raw = run_steps(model, src, np.arange(len(src)), cpu_runtime, PredictConfig(batch_size=batch_size, halt="on", min_steps=2))
    expected = np.clip(halt_at, 2, 6)
    assert raw.steps.tolist() == expected.tolist()
    assert np.array_equal(raw.tokens, (src.inputs.astype(int) + expected[:, None]) % V)
    np.testing.assert_allclose(raw.halt_prob, 1 / (1 + np.exp(-(expected - halt_at + 0.5))), rtol=1e-6)
    # no wasted work: one example-step per step an example used
    assert sum(model.widths) == int(expected.sum())
    assert model.training  # mode restored


def test_freed_slots_are_refilled_while_examples_remain(cpu_runtime, fake_trm, halting_source):
    src, _ = halting_source(n=40)
    model = fake_trm(max_steps=6)
    raw = run_steps(model, src, np.arange(40), cpu_runtime, PredictConfig(batch_size=8, halt="on"))
    widths = np.array(model.widths)
    assert widths.max() == 8
    # the batch shrinks only once the queue is empty, and then never grows again
    first_short = int(np.argmax(widths < 8))
    assert (np.diff(widths[first_short:]) <= 0).all()
    assert len(widths) - first_short < 6  # the draining tail is shorter than max_steps calls
    assert sum(model.widths) == int(raw.steps.sum())


def test_halt_off_runs_every_step(cpu_runtime, fake_trm, halting_source):
    src, _ = halting_source()
    model = fake_trm(max_steps=5)
    raw = run_steps(model, src, np.arange(len(src)), cpu_runtime, PredictConfig(batch_size=7, halt="off"))
    assert set(raw.steps.tolist()) == {5}
    assert np.array_equal(raw.tokens, (src.inputs.astype(int) + 5) % V)
    assert sum(model.widths) == 5 * len(src)


def test_halting_is_off_by_default_and_its_threshold_is_a_probability(cpu_runtime, fake_trm, halting_source):
    assert PredictConfig().halt == "off"  # all N_sup steps, as the reference evaluates
    src, halt_at = halting_source()
    raw = run_steps(fake_trm(max_steps=16), src, np.arange(len(src)), cpu_runtime, PredictConfig(batch_size=5))
    assert set(raw.steps.tolist()) == {16}
    # logit at step s is s - halt_at + 0.5: sigmoid > 0.9 (logit > 2.197) first at s = halt_at + 2
    strict = PredictConfig(batch_size=5, halt="on", threshold=0.9)
    raw = run_steps(fake_trm(max_steps=16), src, np.arange(len(src)), cpu_runtime, strict)
    assert raw.steps.tolist() == np.clip(halt_at + 2, 1, 16).tolist()


def test_max_steps_override_and_subset_of_indices(cpu_runtime, fake_trm, halting_source):
    src, halt_at = halting_source()
    idx = np.array([5, 2, 17])
    raw = run_steps(fake_trm(max_steps=16), src, idx, cpu_runtime, PredictConfig(max_steps=3, batch_size=2, halt="on"))
    assert raw.index.tolist() == [5, 2, 17]
    assert raw.steps.tolist() == np.clip(halt_at[idx], 1, 3).tolist()


def test_shards_cover_every_example_once_and_gather_restores_order(cpu_runtime, fake_trm, halting_source):
    src, _ = halting_source(n=23)
    whole = run_steps(fake_trm(), src, np.arange(23), cpu_runtime, PredictConfig(batch_size=5, halt="on"))
    world = 3
    shards = [shard(23, r, world) for r in range(world)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(23))
    blocks = [pack(run_steps(fake_trm(), src, s, cpu_runtime, PredictConfig(batch_size=4, halt="on")), 8) for s in shards]
    back = unpack(np.concatenate(blocks))
    assert back.index.tolist() == list(range(23))
    assert np.array_equal(back.tokens, whole.tokens) and np.array_equal(back.steps, whole.steps)
    np.testing.assert_allclose(back.halt_prob, whole.halt_prob)


def test_config_fields_declare_their_checks():
    from arc_pipeline.arc.fields import problems

    assert problems(PredictConfig(), "predict") == []
    assert problems(PredictConfig(min_steps=0, threshold=1.0), "predict") == [
        "predict.threshold = 1.0: out of range; valid: (0, 1)", "predict.min_steps = 0: out of range; valid: [1, inf)"]


# --- decoding and inverse mapping of predictions ---------------------------------------------

import polars as pl  # noqa: E402

from arc_pipeline.augment.encode import encode  # noqa: E402
from arc_pipeline.augment.records import Aug  # noqa: E402
from arc_pipeline.augment.transform import apply  # noqa: E402
from arc_pipeline.solver.infer import Raw, to_frame  # noqa: E402
from arc_pipeline.solver.vote import grid_from_bytes, vote  # noqa: E402

CANVAS = 6
GRID = np.array([[1, 2, 0], [3, 0, 4], [5, 6, 7], [0, 8, 9]], dtype=np.uint8)  # no symmetry, all colours


def augmented_source(grid, augs):
    """A test split holding `grid` under every record, as the build would encode it."""
    inputs = np.stack([encode(apply(grid, a), CANVAS) for a in augs])
    src = ArraySource(inputs, inputs.copy(), np.arange(1, len(augs) + 1, dtype=np.int32), vocab_size=12, num_puzzles=len(augs) + 1)
    src.examples = pl.DataFrame(
        {
            "puzzle_id": np.arange(1, len(augs) + 1),
            "task_id": ["t"] * len(augs),
            "test_index": [0] * len(augs),
            "dihedral": [a.dihedral for a in augs],
            "colors": [list(a.colors) for a in augs],
        }
    )
    return src


def all_augs(seed=0, n_maps=3):
    rng = np.random.default_rng(seed)
    maps = [tuple(range(10))] + [(0, *(int(c) for c in rng.permutation(np.arange(1, 10)))) for _ in range(n_maps - 1)]
    return [Aug(d, m) for d in range(8) for m in maps]


def test_predictions_map_back_through_all_dihedral_transforms_and_colour_maps():
    augs = all_augs()
    src = augmented_source(GRID, augs)
    # a perfect model in the augmented frame predicts the augmented answer: here, the input itself
    raw = Raw(np.arange(len(src)), src.inputs, np.full(len(src), 0.9, np.float32), np.full(len(src), 2, np.int16))
    frame = to_frame(raw, src)
    assert frame.height == len(augs) and frame["puzzle_id"].to_list() == list(range(1, len(augs) + 1))
    for g, r, c in frame.select("grid", "rows", "cols").iter_rows():
        assert np.array_equal(grid_from_bytes(g, r, c), GRID)
    v = vote(frame)
    assert v.height == 1 and v["votes"].item() == len(augs)


def test_a_broken_inverse_scatters_the_votes():
    augs = all_augs()
    src = augmented_source(GRID, augs)
    raw = Raw(np.arange(len(src)), src.inputs, np.zeros(len(src), np.float32), np.ones(len(src), np.int16))
    frame = to_frame(raw, src, invert_fn=lambda g, a: g)  # forgets to undo the augmentation
    v = vote(frame)
    assert v.height == len(augs)  # every copy now a different grid
    right = sum(np.array_equal(grid_from_bytes(g, r, c), GRID) for g, r, c in v.select("grid", "rows", "cols").iter_rows())
    assert right == 1  # only the identity copy survives


def test_undecodable_prediction_is_a_null_grid():
    augs = [Aug.identity()]
    src = augmented_source(GRID, augs)
    garbage = np.zeros_like(src.inputs)  # all PAD: no grid at the top-left
    frame = to_frame(Raw(np.arange(1), garbage, np.zeros(1, np.float32), np.ones(1, np.int16)), src)
    assert frame["grid"].to_list() == [None]
    assert vote(frame).height == 0


def test_every_preset_scores_with_all_steps():
    from arc_pipeline.config import load_config, preset_names

    for name in preset_names():
        p = load_config(name).predict
        assert p.halt == "off", f"preset {name} halts at inference by default"
        assert 0 < p.threshold < 1 and p.min_steps >= 1  # halting stays an option with its settings
