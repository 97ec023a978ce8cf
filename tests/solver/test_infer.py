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
    # one row = its fields' own bytes: index int64, tokens uint8, halting probability float32, steps int16
    assert blocks[0].dtype == np.uint8 and blocks[0].shape == (8, 8 + src.seq_len + 4 + 2)
    back = unpack(np.concatenate(blocks), whole)
    assert back.index.tolist() == list(range(23))
    assert np.array_equal(back.tokens, whole.tokens) and np.array_equal(back.steps, whole.steps)
    assert np.array_equal(back.halt_prob, whole.halt_prob) and back.halt_prob.dtype == np.float32  # exact


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


def test_rows_come_back_in_the_chunks_order_whatever_order_ranks_or_retries_left(cpu_runtime, fake_trm, halting_source):
    from arc_pipeline.solver.infer import in_order

    src, _ = halting_source(n=9)
    idx = np.array([7, 2, 5, 0, 8])
    raw = run_steps(fake_trm(), src, np.array([0, 2, 5, 7, 8]), cpu_runtime, PredictConfig(batch_size=2, halt="on"))
    back = in_order(raw, idx)
    assert back.index.tolist() == idx.tolist() and np.array_equal(back.tokens[0], raw.tokens[3])
    assert in_order(raw, np.array([7, 3, 0])).index.tolist() == [7, 0]  # 3 has no row (a failed task): skipped


def test_out_of_memory_halves_the_batch_before_going_task_by_task(cpu_runtime, fake_trm, halting_source):
    """A batch of more than 2 runs out of memory: the chunk runs again at 4, then 2, and every task is
    predicted (no fallback); an error that is not memory goes task by task at once."""
    from arc_pipeline.solver.infer import isolated

    src, _ = halting_source(n=12)
    src.examples = pl.DataFrame({"task_id": [f"t{i // 3}" for i in range(12)]})
    sizes, notes, failed = [], [], {}

    def run(i, batch_size):
        sizes.append(batch_size)
        if batch_size > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return run_steps(fake_trm(), src, i, cpu_runtime, PredictConfig(batch_size=batch_size, halt="on"))

    raw = isolated(run, src, np.arange(12), failed, notes.append, batch_size=8)
    assert sizes == [8, 4, 2] and failed == {} and raw.index.tolist() == list(range(12))
    assert [n.split(";")[0] for n in notes] == ["predict: out of memory at batch 8", "predict: out of memory at batch 4"]

    def broken(i, batch_size):
        sizes.append(batch_size)
        if "t1" in set(src.examples["task_id"].to_numpy()[i]):
            raise ValueError("a shape the model rejects")
        return run_steps(fake_trm(), src, i, cpu_runtime, PredictConfig(batch_size=batch_size, halt="on"))

    sizes.clear()
    raw = isolated(broken, src, np.arange(12), failed, notes.append, batch_size=8)
    assert sizes == [8, 8, 8, 8, 8] and list(failed) == ["t1"] and 3 not in raw.index.tolist()
