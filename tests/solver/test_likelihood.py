"""The likelihood rule: candidate tokens under each view, their log-probabilities from the final
step's tables (against a naive twin and against the build's own label encoding), recorded during
prediction, and the scores the rule ranks by."""

import numpy as np
import polars as pl
import pytest
import torch

from arc_pipeline.arc.synth import SynthConfig, synth_suite
from arc_pipeline.augment.build import BuildConfig, build
from arc_pipeline.augment.dataset import open_split
from arc_pipeline.augment.encode import PAD, encode
from arc_pipeline.augment.kernels import pack
from arc_pipeline.augment.records import Aug
from arc_pipeline.augment.transform import apply
from arc_pipeline.solver.infer import PredictConfig, aug_rows, pack as pack_raw, run_steps, unpack
from arc_pipeline.solver.likelihood import (
    candidate_scores,
    candidate_table,
    log_stablemax_table,
    logprobs,
    own_logprobs,
    with_view_logprobs,
)
from arc_pipeline.solver.losses import log_stablemax

def naive_logprob(grid, record, table, canvas):
    t = encode(apply(grid, Aug.from_row(record)), canvas)
    return sum(float(table[p, t[p]]) for p in range(len(t)) if t[p] != PAD)


def random_record(rng):
    colors = np.arange(10, dtype=np.uint8)
    colors[1:] = rng.permutation(np.arange(1, 10, dtype=np.uint8))
    return np.concatenate([[rng.integers(0, 8)], colors]).astype(np.uint8)


def test_logprobs_match_a_naive_twin_over_every_dihedral():
    rng = np.random.default_rng(0)
    canvas, vocab = 5, 12
    grids = [rng.integers(0, 10, (int(rng.integers(1, 5)), int(rng.integers(1, 5)))).astype(np.uint8) for _ in range(6)]
    records = np.stack([random_record(rng) for _ in range(8)])
    records[:, 0] = np.arange(8)  # every dihedral once
    tables = torch.log_softmax(torch.randn(8, canvas * canvas, vocab), -1).half().numpy()
    which, views = np.repeat(np.arange(6), 8), np.tile(np.arange(8), 6)
    got = logprobs(pack(grids), which, views, records, tables, canvas)
    want = [naive_logprob(grids[w], records[v], tables[v], canvas) for w, v in zip(which, views)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    own = own_logprobs([grids[0], None], records[:2], tables[:2], canvas)
    assert own[0] == pytest.approx(want[0]) and np.isnan(own[1])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    target = synth_suite(7, SynthConfig(n_tasks=3, min_side=2, max_side=3))
    out = tmp_path_factory.mktemp("lik") / "dataset"
    build({}, target, BuildConfig(augmentations=4, canvas=4, val_fraction=0.0, translate=False), out)
    return target, open_split(out, "test")


def test_candidate_tokens_under_a_view_are_the_builds_label_encoding(built):
    """t_v(c) is how the build encodes that view's test label: scoring the right answer under a
    view reads exactly the positions the training loss reads."""
    target, test = built
    ex = test.examples
    labels = test.batch(np.arange(len(test)), 0).labels
    records = aug_rows(ex)
    for i, (tid, k) in enumerate(ex.select("task_id", "test_index").iter_rows()):
        solution = target[tid].test[k].output
        assert np.array_equal(encode(apply(solution, Aug.from_row(records[i])), test.canvas), labels[i])


class TinyTRM(torch.nn.Module):
    """Logits from a fixed random projection of the inputs plus the step count, so every step and
    every example differ; halting never fires."""

    def __init__(self, seq_len, vocab=12, max_steps=3):
        super().__init__()
        from types import SimpleNamespace

        self.cfg = SimpleNamespace(max_steps=max_steps)
        self.w = torch.nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0)))

    def embed(self, inputs, puzzle_ids):
        return torch.nn.functional.one_hot(inputs, 12).float() + puzzle_ids.float()[:, None, None] * 0.01

    def initial_state(self, batch, device):
        return torch.zeros(batch, 1, 1), torch.zeros(batch, 1, 1)

    def step(self, x, y, z):
        y = y + 1
        return y, z, x @ self.w * y, torch.full((len(x),), -5.0)


def test_prediction_records_final_tables_and_own_logprob(built, cpu_runtime):
    from arc_pipeline.solver.raw import raw_frame

    _, test = built
    model = TinyTRM(test.seq_len)
    raw = run_steps(model, test, np.arange(len(test)), cpu_runtime, PredictConfig(batch_size=5), record=True)
    b = test.batch(np.arange(len(test)), 0)
    x = model.embed(torch.from_numpy(b.inputs.astype(np.int64)), torch.from_numpy(b.puzzle_ids.astype(np.int64)))
    want = log_stablemax(x @ model.w * 3).detach().numpy()  # the final (third) step's tables
    assert raw.final_logp.dtype == np.float16
    np.testing.assert_allclose(raw.final_logp.astype(np.float32), want, rtol=2e-3, atol=2e-3)
    frame = raw_frame(raw, test, 0.5, 1)
    records = aug_rows(test.examples)
    assert frame["grid_last"].null_count() < frame.height  # some views decode to a grid
    for i, (g, r, c) in enumerate(frame.select("grid_last", "rows_last", "cols_last").iter_rows()):
        got = frame["logprob"][i]
        if g is None:
            assert got is None
            continue
        grid = np.frombuffer(g, np.uint8).reshape(r, c)
        assert got == pytest.approx(naive_logprob(grid, records[i], raw.final_logp[i], test.canvas), rel=1e-5)
    back = unpack(pack_raw(raw, len(test) + 2), raw)
    assert np.array_equal(back.final_logp, raw.final_logp)


def two_view_raw():
    """One test input's two candidates (A and its transpose B) and two views (identity, dihedral 4)."""
    a = np.array([[2, 3], [4, 5]], np.uint8)
    ident = Aug.identity().to_row()
    other = ident.copy()
    other[0] = 4
    return a, a.T.copy(), np.stack([ident, other])


def test_view_logprobs_and_scores_follow_the_definition():
    a, b, records = two_view_raw()
    canvas, vocab = 3, 12
    tables = torch.log_softmax(torch.randn(3, canvas * canvas, vocab), -1).half().numpy()
    recs = np.concatenate([records, records[:1]])
    raw = pl.DataFrame({
        "task_id": ["t", "t", "t"], "test_index": pl.Series([0, 0, 0], dtype=pl.Int32),
        "grid_last": [a.tobytes(), b.tobytes(), None], "rows_last": pl.Series([2, 2, 0], dtype=pl.UInt8),
        "cols_last": pl.Series([2, 2, 0], dtype=pl.UInt8),
        "dihedral": pl.Series(recs[:, 0], dtype=pl.UInt8), "colors": pl.Series(recs[:, 1:].tolist(), dtype=pl.List(pl.UInt8)),
        "primary": [True, True, False],
    })
    cands = candidate_table(raw)
    assert cands["cand"].to_list() == [0, 1] and cands.height == 2  # the null grid is no candidate
    order = [np.frombuffer(g, np.uint8).reshape(r, c) for g, r, c in cands.select("grid", "rows", "cols").iter_rows()]
    scored = with_view_logprobs(raw, tables, canvas)
    for v in range(3):  # every row is a view, the one with no valid grid too
        want = [naive_logprob(g, recs[v], tables[v], canvas) for g in order]
        np.testing.assert_allclose(scored["view_logprob"][v].to_list(), want, rtol=1e-5)
    s = candidate_scores(scored, scored["primary"]).sort("grid")
    lp = np.array(scored["view_logprob"].to_list())
    want = {g.tobytes(): lp[:2, k].mean() for k, g in enumerate(order)}  # the third view is not voted
    assert {g: pytest.approx(v, rel=1e-6) for g, v in want.items()} == dict(zip(s["grid"], s["score"]))
    everyone = candidate_scores(scored)
    assert dict(zip(everyone["grid"], everyone["score"]))[order[0].tobytes()] == pytest.approx(lp[:, 0].mean(), rel=1e-6)
    with pytest.raises(ValueError, match="view_logprob"):
        candidate_scores(raw)


def test_log_stablemax_table_is_float16_on_cpu():
    logits = torch.randn(2, 4, 12)
    t = log_stablemax_table(logits)
    assert t.dtype == np.float16 and t.shape == (2, 4, 12)
    np.testing.assert_allclose(np.exp(t.astype(np.float64)).sum(-1), 1.0, rtol=1e-2)
