"""The puzzle table off the device (train.puzzle_table = "host"): the same updates as the device
table bit for bit (one process and two gloo ranks sharing one copy), checkpoints as a base plus
deltas of changed rows that resume exactly, and inference that reads only the rows it needs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder, table_store
from arc_pipeline.solver.train import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _configs(toy_configs, **kw):
    # max_steps 2: slots halt and refill along the way; a high puzzle_lr makes every row move
    mcfg, tcfg = toy_configs(**{"global_batch": 8, "puzzle_lr": 0.05, "halt_exploration": 0.5, "lr": 1e-3, **kw})
    return replace(mcfg, max_steps=2), tcfg


def _run(trainer: Trainer, steps: int) -> list[float]:
    return [trainer.step()["loss"].tolist() for _ in range(steps)]


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in trainer.model.state_dict().items() if k != ckpt.TABLE_KEY}
    state["table"] = trainer.model.puzzle_emb.table.clone()
    return state


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("micro_batch", [0, 2])
def test_host_table_trains_exactly_like_the_device_table(cpu_runtime, toy_configs, grouped_toy_source, micro_batch):
    mcfg, tcfg = _configs(toy_configs, micro_batch=micro_batch)
    device = Trainer(mcfg, tcfg, grouped_toy_source(), cpu_runtime)
    host = Trainer(mcfg, replace(tcfg, puzzle_table="host"), grouped_toy_source(), cpu_runtime)
    assert host.model.puzzle_emb.host is not None and ckpt.TABLE_KEY not in host.model.state_dict()
    assert _run(device, 6) == _run(host, 6)  # losses, bit for bit
    _assert_same(_state(device), _state(host))
    assert host.model.puzzle_emb.table.abs().sum() > 0  # rows trained
    assert all(torch.equal(device.ema.shadow[k], host.ema.shadow[k]) for k in device.ema.shadow)


# ---- two gloo ranks --------------------------------------------------------------------------------------

STEPS = 4


def _worker(rank: int, world: int, out: str, configs, source) -> None:
    from arc_pipeline.solver.device import setup_runtime

    rt = setup_runtime("cpu", "float32")
    mcfg, tcfg = configs
    device = Trainer(mcfg, tcfg, source, rt)
    dev_losses = _run(device, STEPS + 2)
    host = Trainer(mcfg, replace(tcfg, puzzle_table="host"), source, rt)
    host_losses = _run(host, STEPS)
    maps = [line for line in Path("/proc/self/maps").read_text().splitlines() if "arc-pipeline-puzzle-table" in line]
    path = host.save(Path(out) / "ckpt", meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=False)
    again = Trainer(mcfg, replace(tcfg, puzzle_table="host"), source, rt)  # a fresh shared table, resumed
    again.resume(path, "fp")
    host_losses += _run(again, 2)
    torch.save({"device": _state(device), "host": _state(again), "dev_losses": dev_losses, "host_losses": host_losses,
                "maps": maps}, f"{out}/rank{rank}.pt")


def test_two_gloo_ranks_share_one_host_table_and_match_the_device_table(tmp_path, toy_configs, grouped_toy_source, gloo_ranks):
    gloo_ranks(_worker, 2, str(tmp_path), _configs(toy_configs), grouped_toy_source())
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for r in ranks:
        assert r["host_losses"] == r["dev_losses"]  # through a checkpoint and a resume too
        _assert_same(r["device"], r["host"])
    _assert_same(ranks[0]["host"], ranks[1]["host"])
    # one copy on the node: both ranks map the same (deleted) file, by inode; only rank 0 ever writes
    inode = {r["maps"][0].split()[4] for r in ranks}
    assert len(inode) == 1 and all("(deleted)" in r["maps"][0] for r in ranks)


# ---- checkpoints -----------------------------------------------------------------------------------------


def _losses(rows: list[dict]) -> list[float]:
    return [r["loss"] for r in rows if "loss" in r]


@pytest.mark.parametrize("compact_at", [table_store.COMPACT_AT, 1e-9])  # deltas; a new base at every checkpoint
def test_host_checkpoints_resume_exactly(tmp_path, cpu_runtime, toy_configs, grouped_toy_source, monkeypatch, compact_at):
    monkeypatch.setattr(table_store, "COMPACT_AT", compact_at)
    mcfg, tcfg = _configs(toy_configs, steps=12, checkpoint_every=2, keep_checkpoints=2, puzzle_table="host")
    mcfg = replace(mcfg, num_puzzles=400)  # rows the batches never touch: a delta is far smaller than the table
    full: list[dict] = []
    device = train(mcfg, replace(tcfg, puzzle_table="device"), grouped_toy_source(), tmp_path / "dev", on_metrics=full.append,
                   runtime=cpu_runtime)
    first: list[dict] = []
    train(mcfg, replace(tcfg, steps=5), grouped_toy_source(), tmp_path / "host", on_metrics=first.append, runtime=cpu_runtime)
    rest: list[dict] = []
    res = train(mcfg, tcfg, grouped_toy_source(), tmp_path / "host", on_metrics=rest.append, runtime=cpu_runtime)
    assert res.step == 12 and _losses(first) + _losses(rest) == _losses(full)

    meta = json.loads((res.checkpoint / "meta.json").read_text())
    record = meta["table"]
    assert ckpt.TABLE_KEY not in torch.load(res.checkpoint / "weights.pt", weights_only=True)
    assert bool(record["deltas"]) == (compact_at > 1e-9)
    want = torch.load(device.checkpoint / "weights.pt", weights_only=True)[ckpt.TABLE_KEY]
    assert torch.equal(table_store.read_all(tmp_path / "host", record), want)
    # the store holds what the kept steps reference, nothing else
    kept = set().union(*(table_store.files(json.loads((p / "meta.json").read_text())["table"])
                         for p in ckpt_folder.steps(tmp_path / "host")))
    on_disk = {str(p.relative_to(tmp_path / "host" / "table")) for p in (tmp_path / "host" / "table").rglob("*") if p.is_file()}
    assert on_disk == kept


def test_a_delta_holds_only_the_rows_changed_since_the_last_checkpoint(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(puzzle_table="host", puzzle_lr=0.05)
    mcfg = replace(mcfg, num_puzzles=40)
    tr = Trainer(mcfg, tcfg, toy_source(puzzles=40), cpu_runtime)
    tr.step()
    first = tr.save(tmp_path, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=False)
    before = tr.model.puzzle_emb.table.clone()
    tr.step()
    second = tr.save(tmp_path, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=False)
    changed = (tr.model.puzzle_emb.table != before).any(1).nonzero().squeeze(1).numpy()
    a, b = (json.loads((p / "meta.json").read_text())["table"] for p in (first, second))
    assert a["deltas"] == [] and b["base"] == a["base"] and len(b["deltas"]) == 1
    ids = np.load(tmp_path / "table" / f"{b['deltas'][0]}.ids.npy")
    assert 0 < len(ids) < 40 and set(changed) <= set(ids.tolist())  # rows touched with a zero gradient stay put
    assert not torch.equal(before[ids], tr.model.puzzle_emb.table[ids]) or len(changed) == 0


@pytest.mark.parametrize("first,then", [("device", "host"), ("host", "device")])
def test_a_run_may_switch_where_its_table_lives_between_resumes(tmp_path, cpu_runtime, toy_configs, grouped_toy_source,
                                                                first, then):
    mcfg, tcfg = _configs(toy_configs, steps=8)
    full: list[dict] = []
    train(mcfg, tcfg, grouped_toy_source(), tmp_path / "full", on_metrics=full.append, runtime=cpu_runtime)
    part: list[dict] = []
    train(mcfg, replace(tcfg, steps=3, puzzle_table=first), grouped_toy_source(), tmp_path / "x", on_metrics=part.append,
          runtime=cpu_runtime)
    train(mcfg, replace(tcfg, puzzle_table=then), grouped_toy_source(), tmp_path / "x", on_metrics=part.append,
          runtime=cpu_runtime)
    assert _losses(part) == _losses(full)


def test_a_missing_table_file_makes_the_step_unusable(tmp_path, cpu_runtime, toy_configs, grouped_toy_source):
    mcfg, tcfg = _configs(toy_configs, steps=4, checkpoint_every=2, puzzle_table="host", keep_checkpoints=3)
    mcfg = replace(mcfg, num_puzzles=400)
    train(mcfg, tcfg, grouped_toy_source(), tmp_path, runtime=cpu_runtime)
    record = json.loads((tmp_path / "step_00000004" / "meta.json").read_text())["table"]
    (tmp_path / "table" / f"{record['deltas'][-1]}.rows.npy").unlink()
    assert "missing" in ckpt_folder.problem(tmp_path / "step_00000004")
    assert ckpt_folder.latest(tmp_path).name == "step_00000002"  # its chain is intact


# ---- inference and adaptation read only the rows they need ------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A joint build (suite A trained, suite B the target) trained with the table on the device and off it."""
    from arc_pipeline.arc.synth import SynthConfig, synth_suite
    from arc_pipeline.augment.build import BuildConfig, build
    from arc_pipeline.augment.dataset import open_split, read_meta, read_puzzles
    from arc_pipeline.solver.config import ModelConfig, TrainConfig

    d = tmp_path_factory.mktemp("table")
    build(synth_suite(1, SynthConfig(n_tasks=4)), synth_suite(2, SynthConfig(n_tasks=2)),
          BuildConfig(augmentations=3, canvas=6, val_fraction=0), d / "data")
    # the competition's case: the adapt build holds the target tasks only (their rows start at the trained mean)
    build({}, synth_suite(2, SynthConfig(n_tasks=2)), BuildConfig(augmentations=3, canvas=6, protocol="pretrain-adapt",
                                                                  val_fraction=0), d / "adapt_data")
    meta = read_meta(d / "data")
    mcfg = ModelConfig(seq_len=36, num_puzzles=meta["num_puzzles"], hidden=32, heads=2, layers=1, n_latent=1,
                       n_recursions=1, max_steps=2, puzzle_emb_len=2, expansion=2)
    for where in ("device", "host"):
        tcfg = TrainConfig(global_batch=8, steps=3, lr=3e-3, lr_warmup=1, device="cpu", ema=0.9, checkpoint_every=0,
                           puzzle_table=where)
        train(mcfg, tcfg, open_split(d / "data", "train"), d / where, puzzle_map=read_puzzles(d / "data"),
              dataset_fingerprint=meta["fingerprint"])
    return d


@pytest.fixture
def rows_read(monkeypatch):
    """Every row id a stored table is asked for."""
    seen: list[int] = []
    real = table_store.StoredRows.rows

    def spy(self, ids):
        seen.extend(np.asarray(ids).tolist())
        return real(self, ids)

    monkeypatch.setattr(table_store.StoredRows, "rows", spy)
    return seen


def test_prediction_from_a_host_checkpoint_reads_only_the_test_rows(built, rows_read):
    from arc_pipeline.augment.dataset import open_split
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.infer import PredictConfig
    from arc_pipeline.solver.predict import predict

    rt, cfg, test = setup_runtime("cpu"), PredictConfig(batch_size=8), open_split(built / "data", "test")
    want = predict(built / "device", test, rt, cfg)
    got = predict(built / "host", test, rt, cfg)
    assert got.voted.equals(want.voted) and got.raw.equals(want.raw)
    model = ckpt.build_model(built / "host")
    assert isinstance(model.puzzle_emb.table, table_store.StoredRows)
    needed = set(test.examples["puzzle_id"].cast(pl.Int64).unique().to_list())  # joint: the build's ids are the rows
    assert rows_read and set(rows_read) <= needed and len(needed) < model.puzzle_emb.num_puzzles


def test_adaptation_from_a_host_checkpoint_reads_no_row_it_does_not_carry(built, rows_read, tmp_path):
    from arc_pipeline.solver.adapt import AdaptConfig, adapt
    from arc_pipeline.solver.config import TrainConfig

    tcfg = TrainConfig(global_batch=8, steps=1, lr_warmup=1, device="cpu", ema=0.9, checkpoint_every=0)
    inits = {}
    for where in ("device", "host"):
        adapt(built / where, built / "adapt_data", tmp_path / where, AdaptConfig(steps=1, lr_warmup=0), train_cfg=tcfg)
        inits[where] = torch.load(ckpt_folder.latest(tmp_path / where / "init") / "weights.pt", weights_only=True)[ckpt.TABLE_KEY]
    # no target row was trained before (role 'target' in the joint build): only the blank row 0 is carried,
    # and the mean of the trained rows comes from the sum the host run kept, not from reading them
    assert rows_read == [0]
    torch.testing.assert_close(inits["host"], inits["device"], rtol=0, atol=1e-6)
    assert inits["host"][1:].abs().sum() > 0


@pytest.mark.parametrize("bad", [{"files": {"../../x.npy": [1, "d"]}}, {"rows": "many"}, {"deltas": "d"}])
def test_a_malformed_table_record_is_named_not_followed(tmp_path, cpu_runtime, toy_configs, grouped_toy_source, bad):
    mcfg, tcfg = _configs(toy_configs, steps=2, puzzle_table="host")
    train(mcfg, tcfg, grouped_toy_source(), tmp_path, runtime=cpu_runtime)
    meta_file = tmp_path / "step_00000002" / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["table"].update(bad)
    meta_file.write_text(json.dumps(meta))
    assert "malformed" in ckpt_folder.problem(tmp_path / "step_00000002")
    assert ckpt_folder.latest(tmp_path) is None
