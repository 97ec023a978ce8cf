"""ingest over the new layouts: leaks up to symmetry dropped by default, sources mixed by weight."""

import json

import numpy as np
import pytest
import polars as pl

from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, Task
from arc_pipeline.augment.records import Aug
from arc_pipeline.augment.transform import apply
from arc_pipeline.config import load_config
from arc_pipeline.stages import Context, ingest


def _disguise(t: Task, aug: Aug, tid: str) -> Task:
    def f(p):
        return Pair(apply(p.input, aug), apply(p.output, aug))

    return Task(tid, tuple(f(p) for p in t.train), tuple(f(p) for p in t.test))


def _write_dir(path, tasks):
    path.mkdir(parents=True, exist_ok=True)
    for t in tasks:
        (path / f"{t.id}.json").write_text(json.dumps(t.to_json()))
    return path


def test_ingest_drops_a_rotated_recoloured_copy_of_a_target_task(tmp_path):
    target = sorted(load("arc1/evaluation").tasks.items())[:3]
    victim = target[1][1]
    copy = _disguise(victim, Aug(3, (0, 2, 1, 4, 3, 6, 5, 8, 7, 9)), "gen_victim")
    others = list(load("arc1/training"))[:4]
    src = _write_dir(tmp_path / "gen" / "nested", [copy, *others])
    sets = [f"data.train={tmp_path / 'gen'}", "data.target=arc1/evaluation", "data.limit_target=3", "data.max_side=0"]
    ctx = Context()
    res = ingest.run(load_config("smoke", sets=sets), tmp_path / "a", ctx)
    assert res.summary["train_dropped"] == 1 and res.summary["train_overlapping_symmetric"] == 1
    assert res.summary["train_tasks"] == 4
    assert any("only up to symmetry" in n and "gen_victim" in n and "rotate 270" in n for n in ctx.notes)
    rows = pl.read_parquet(tmp_path / "a" / "tasks" / "tasks.parquet").filter(pl.col("dropped"))
    assert rows["id"].to_list() == ["gen_victim"] and rows["overlap_symmetric"][0].startswith(f"{victim.id} test 0")
    exact = ingest.run(load_config("smoke", sets=sets + ["data.overlap_check=exact"]), tmp_path / "b")
    assert exact.summary["train_dropped"] == 0 and exact.summary["train_tasks"] == 5
    kept = ingest.run(load_config("smoke", sets=sets + ["data.keep_overlap=true"]), tmp_path / "c")
    assert kept.summary["train_tasks"] == 5 and kept.summary["train_overlapping"] == 1
    assert src.is_dir()


def test_hidden_target_inputs_are_matched_up_to_symmetry_too(tmp_path, write_challenges):
    ref = sorted(load("arc1/evaluation").tasks.values(), key=lambda t: t.id)[:2]
    challenges = write_challenges(tmp_path, ref, solutions=False)  # test outputs hidden
    flipped = _disguise(ref[0], Aug(7, tuple(range(10))), "flip")
    src = _write_dir(tmp_path / "train", [flipped])
    sets = [f"data.train={src}", f"data.target={challenges}", "data.max_side=0"]
    res = ingest.run(load_config("smoke", sets=sets), tmp_path / "r")
    assert res.summary["train_dropped"] == 1 and res.summary["train_overlapping_symmetric"] == 1
    assert np.array_equal(flipped.test[0].input, np.fliplr(ref[0].test[0].input))


# ---------------------------------------------------------------- mixing by weight


def test_train_entries_as_tables_parse_check_and_round_trip(tmp_path):
    import pytest

    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline.config import TrainSource, read_config, write_config

    cfg = load_config("smoke", sets=['data.train=[{source = "gen", weight = 0.25, limit = 10, demos = 2}, '
                                     '{source = "arc1/training", weight = 0.75}]'])
    assert cfg.data.train_sources() == [TrainSource("gen", 0.25, 10, 2), TrainSource("arc1/training", 0.75)]
    write_config(cfg, tmp_path / "c.toml")
    assert read_config(tmp_path / "c.toml").data.train_sources() == cfg.data.train_sources()
    assert load_config("smoke", sets=["data.train=a,b"]).data.train_sources() == [TrainSource("a"), TrainSource("b")]
    with pytest.raises(ArcError, match="unknown key 'wieght'.*valid keys: source, weight, limit, demos"):
        load_config("smoke", sets=['data.train=[{source = "a", wieght = 1}]'])
    with pytest.raises(ArcError, match="weight = -1; valid: a finite number > 0"):
        load_config("smoke", sets=['data.train=[{source = "a", weight = -1}]'])
    with pytest.raises(ArcError, match="b has no weight while other sources have one"):
        load_config("smoke", sets=['data.train=[{source = "a", weight = 1}, "b"]'])


def _pool_dir(path, n_tasks=3, n_examples=9):
    """A RE-ARC-like folder: tasks/<id>.json pools of real pairs (flipped copies)."""
    (path / "tasks").mkdir(parents=True)
    (path / "metadata.json").write_text("{}")
    for t in list(load("arc1/training"))[:n_tasks]:
        base = [*t.train, *t.test]
        pool = [{"input": np.flipud(p.input).tolist(), "output": np.flipud(p.output).tolist()} if k // len(base) % 2
                else {"input": p.input.tolist(), "output": p.output.tolist()}
                for k, p in ((k, base[k % len(base)]) for k in range(n_examples))]
        (path / "tasks" / f"{t.id}.json").write_text(json.dumps(pool))
    return path


def test_ingest_records_sources_and_weights_and_the_shares_follow_them(tmp_path):
    from arc_pipeline.mix import source_shares

    gen = _pool_dir(tmp_path / "re_arc")
    real = _write_dir(tmp_path / "real", list(load("arc1/evaluation"))[:2])
    sets = [f'data.train=[{{source = "{gen}", weight = 1, demos = 2, limit = 7}}, {{source = "{real}", weight = 3}}]',
            "data.target=arc1/evaluation", "data.limit_target=1", "data.max_side=0", "data.overlap_check=exact",
            "data.keep_overlap=true"]
    ctx = Context()
    ingest.run(load_config("smoke", sets=sets), tmp_path / "r", ctx)
    frame = pl.read_parquet(tmp_path / "r" / "tasks" / "tasks.parquet")
    train = frame.filter(pl.col("split") == "train")
    assert train.filter(pl.col("source") == str(gen)).height == 7  # 3 pools x (9 // 3) tasks, limited to 7
    assert set(train["weight"].to_list()) == {1.0, 3.0}
    shares = {r["source"]: r for r in source_shares(frame)}
    assert shares[str(gen)]["tasks"] == 7 and shares[str(real)]["tasks"] == 2
    assert shares[str(gen)]["share"] == 0.25 and shares[str(real)]["share"] == 0.75
    assert any(f"source {gen}: 7 task(s)" in n and "share 25.0% (weight 1)" in n for n in ctx.notes)
    plain = ingest.run(load_config("smoke", sets=[f"data.train={gen},{real}"] + sets[1:]), tmp_path / "p")
    rows = source_shares(pl.read_parquet(tmp_path / "p" / "tasks" / "tasks.parquet"))
    assert all(r["weight"] is None for r in rows) and abs(sum(r["share"] for r in rows) - 1) < 1e-9
    assert plain.summary["train_tasks"] == 6 + 2  # default 3 demos: 3 pools x (9 // 4) tasks, plus 2 real


def test_sampler_draws_each_source_at_its_share():
    from arc_pipeline.augment.source import Groups
    from arc_pipeline.mix import group_weights
    from arc_pipeline.solver.sampler import make_sampler

    # 300 generated tasks of 4 pairs, 4 real tasks of 5 pairs, 2 variants each; real gets 60% by weight
    names = tuple([f"g{i}" for i in range(300)] + [f"r{i}" for i in range(4)])
    counts = np.repeat([4] * 300 + [5] * 4, 2)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    groups = Groups(names, np.arange(0, 2 * len(names) + 1, 2), starts, counts)
    frame = pl.DataFrame({"id": list(names), "split": "train", "dropped": False,
                          "source": ["gen"] * 300 + ["real"] * 4, "pairs": [3] * 300 + [4] * 4,
                          "test_inputs": 1, "weight": [2.0] * 300 + [3.0] * 4})
    w = group_weights(names, groups.mean_pairs(), frame)
    assert w["r0"] == pytest.approx(0.6 * 1220 / 20) and w["g0"] == pytest.approx(0.4 * 1220 / 1200)
    s = make_sampler(_Src(groups), "reference", seed=0, weights=w)
    idx = s.indices_at(0, 50 * 1220)
    real = (idx >= int(starts[600])).mean()
    assert abs(real - 0.6) < 0.02
    unweighted = make_sampler(_Src(groups), "reference", seed=0).indices_at(0, 10 * 1220)
    assert abs((unweighted >= int(starts[600])).mean() - 20 / 1220) < 0.005  # by pairs: the real tasks drown


class _Src:
    def __init__(self, groups):
        self._g = groups

    def __len__(self):
        return int(self._g.counts.sum())

    def groups(self):
        return self._g
