"""Checkpoints: exact resume, atomic layout, keep-k plus best, weights_only loading, dataset
fingerprints and puzzle-row remapping."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder, puzzle_match
from arc_pipeline.solver.train import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")


def _losses(rows: list[dict]) -> list[float]:
    return [r["loss"] for r in rows if "loss" in r]


def test_resume_gives_the_same_next_losses(tmp_path, cpu_runtime, toy_configs, toy_source):
    src = toy_source(24)  # several epochs within the run: the sampler position must carry over
    mcfg, tcfg = toy_configs(steps=12, halt_exploration=0.5, checkpoint_every=0, global_batch=8)
    full: list[dict] = []
    train(mcfg, tcfg, src, tmp_path / "a" / "ckpt", on_metrics=full.append, runtime=cpu_runtime)

    first: list[dict] = []
    mcfg_k, tcfg_k = toy_configs(steps=5, halt_exploration=0.5, checkpoint_every=0, global_batch=8)
    res = train(mcfg_k, tcfg_k, src, tmp_path / "b" / "ckpt", on_metrics=first.append, runtime=cpu_runtime)
    assert res.step == 5
    carry = torch.load(res.checkpoint / "carry_rank0.pt", weights_only=True)
    assert not carry["halted"].any() and (carry["steps"] == 2).all()  # interrupted mid-example
    rest: list[dict] = []
    res = train(mcfg, tcfg, src, tmp_path / "b" / "ckpt", on_metrics=rest.append, runtime=cpu_runtime)
    assert res.step == 12 and [r["step"] for r in rest] == list(range(6, 13))
    resumed = _losses(first) + _losses(rest)
    assert resumed == pytest.approx(_losses(full), rel=1e-6, abs=1e-7)


def test_done_run_is_not_retrained(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=2)
    train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", runtime=cpu_runtime)
    again = train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", runtime=cpu_runtime)
    assert again.stopped == "already_done" and again.step == 2


def test_layout_pointers_keep_k_and_best(tmp_path, cpu_runtime, toy_configs, toy_source):
    tr = Trainer(*toy_configs(keep_checkpoints=2), toy_source(), cpu_runtime)
    d = tmp_path / "ckpt"
    (d / ".tmp_step_00000001").mkdir(parents=True)  # debris of a crash mid-write
    for step, best in [(1, False), (2, True), (3, False), (4, False), (5, False)]:
        tr.step()
        tr.save(d, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=best)
    names = sorted(p.name for p in d.iterdir() if p.is_dir())
    assert names == ["step_00000002", "step_00000004", "step_00000005"]  # last 2 plus best
    assert ckpt_folder.latest(d).name == "step_00000005" and ckpt_folder.best(d).name == "step_00000002"
    step_dir = d / "step_00000005"
    meta = json.loads((step_dir / "meta.json").read_text())
    assert meta["step"] == 5 and meta["sampler_position"] == tr.sampler.position
    assert meta["model_config"]["hidden"] == 16 and meta["train_config"]["global_batch"] == 4
    for f in ("weights.pt", "ema.pt", "optim.pt", "carry_rank0.pt", "state.pt"):
        torch.load(step_dir / f, weights_only=True)  # nothing arbitrary to unpickle


def test_loading_restores_model_ema_optimizer_and_slots(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs()
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    tr.step(), tr.step()
    path = tr.save(tmp_path, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=False)
    other = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    other.resume(path, "fp")
    assert other.step_count == 2 and other.sampler.position == tr.sampler.position
    for a, b in zip(tr.model.state_dict().values(), other.model.state_dict().values()):
        assert torch.equal(a, b)
    assert all(torch.equal(tr.ema.shadow[k], other.ema.shadow[k]) for k in tr.ema.shadow)
    assert all(torch.equal(tr.carry[k], other.carry[k]) for k in tr.carry)
    assert other.optimizer.state_dict()["state"].keys() == tr.optimizer.state_dict()["state"].keys()


def test_other_dataset_build_is_refused_naming_both(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=1)
    train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", dataset_fingerprint="aaa111", runtime=cpu_runtime)
    with pytest.raises(ArcError, match="aaa111.*bbb222"):
        train(mcfg, toy_configs(steps=2)[1], toy_source(), tmp_path / "ckpt", dataset_fingerprint="bbb222", runtime=cpu_runtime)


def test_remap_matches_rows_by_key_and_starts_new_rows_at_the_mean():
    old = torch.arange(12, dtype=torch.float32).reshape(4, 3)  # rows 1..3 trained
    old_map = pl.DataFrame({"puzzle_id": [1, 2, 3], "task_id": ["a", "b", "c"], "dihedral": [0, 0, 1],
                            "colors": [[0, 1], [0, 1], [0, 2]]})
    new_map = pl.DataFrame({"puzzle_id": [1, 2, 3, 4], "task_id": ["c", "a", "z", "b"], "dihedral": [1, 0, 0, 5],
                            "colors": [[0, 2], [0, 1], [0, 1], [0, 1]]})
    table, matched = puzzle_match.remap_table(old, old_map, new_map, num_rows=5)
    mean = old[1:].mean(0)
    assert matched == 2
    assert torch.equal(table[0], old[0])
    assert torch.equal(table[1], old[3]) and torch.equal(table[2], old[1])
    assert torch.equal(table[3], mean) and torch.equal(table[4], mean)  # unknown task; same task, other dihedral


def test_init_from_another_build_remaps_the_table(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=3, puzzle_lr=0.1)
    pmap = {"puzzle_id": [1, 2, 3, 4], "task_id": ["a", "b", "c", "d"]}
    first = train(mcfg, tcfg, toy_source(), tmp_path / "one" / "ckpt", puzzle_map=pmap, dataset_fingerprint="one", runtime=cpu_runtime)
    old_table = torch.load(first.checkpoint / "weights.pt", weights_only=True)["puzzle_emb.table"]
    new_map = {"puzzle_id": [1, 2, 3, 4], "task_id": ["d", "x", "y", "z"]}
    tcfg0 = toy_configs(steps=1, puzzle_lr=0.0, lr=0.0)[1]  # no learning: the table stays as loaded
    res = train(mcfg, tcfg0, toy_source(), tmp_path / "two" / "ckpt", puzzle_map=new_map, dataset_fingerprint="two",
                init_from=first.checkpoint, runtime=cpu_runtime)
    table = torch.load(res.checkpoint / "weights.pt", weights_only=True)["puzzle_emb.table"]
    assert torch.allclose(table[1], old_table[4])
    assert torch.allclose(table[2], old_table[1:].mean(0)) and torch.allclose(table[4], old_table[1:].mean(0))
    assert puzzle_match.read_puzzle_map(res.checkpoint)["task_id"].to_list() == ["d", "x", "y", "z"]


def test_resolve_names_what_is_missing(tmp_path):
    with pytest.raises(ArcError, match="no checkpoint here"):
        ckpt_folder.resolve(tmp_path)


def _tiny_model():
    from arc_pipeline.solver.config import ModelConfig
    from arc_pipeline.solver.model import TRM

    return TRM(ModelConfig(vocab_size=6, seq_len=4, num_puzzles=3, hidden=8, heads=2, layers=1, puzzle_emb_len=1))


def test_each_rank_writes_its_carry_into_a_folder_it_made_and_rank_0_gathers_them(tmp_path):
    """Ranks in turn (the barriers are no-ops here): rank 1 makes and fills its own temporary folder, rank 0
    moves that carry into the step; a rank 0 that cannot see a rank's folder (not one shared directory)
    says so instead of publishing a step without it."""
    model, folder = _tiny_model(), tmp_path / "ckpt"
    carry = {r: {"steps": torch.full((2,), r)} for r in range(2)}
    ckpt.save(folder, 3, model=model, meta={}, carry=carry[1], rank=1, world_size=2)
    assert (folder / ".tmp_step_00000003.rank1" / "carry_rank1.pt").is_file() and not (folder / "step_00000003").exists()
    step = ckpt.save(folder, 3, model=model, meta={}, carry=carry[0], rank=0, world_size=2)
    assert sorted(p.name for p in folder.iterdir()) == ["latest", "step_00000003"]  # no temporary folder left
    for r in range(2):
        assert torch.equal(ckpt.load(step, model=_tiny_model(), rank=r)["carry"]["steps"], carry[r]["steps"])
    assert ckpt_folder.problem(step) is None  # every carry is listed in meta.json with its digest

    with pytest.raises(ArcError, match="rank 1 wrote its carry for step 4, but rank 0 cannot see it"):
        ckpt.save(folder, 4, model=model, meta={}, carry=carry[0], rank=0, world_size=2)
    assert ckpt_folder.latest(folder).name == "step_00000003"


def test_pruning_reads_the_pointers_and_hashes_only_the_new_step(tmp_path, monkeypatch):
    model, folder = _tiny_model(), tmp_path / "ckpt"
    for step in (1, 2, 3):
        ckpt.save(folder, step, model=model, meta={}, keep=2, is_best=step == 1)
    hashed = []
    real = ckpt_folder.file_digest
    monkeypatch.setattr(ckpt_folder, "file_digest", lambda p: hashed.append(p.parent.name) or real(p))
    ckpt_folder._DIGESTS.clear()
    ckpt.save(folder, 4, model=model, meta={}, keep=2)
    assert set(hashed) == {".tmp_step_00000004"}  # not the steps kept before (was: every one, at every save)
    assert [p.name for p in ckpt_folder.steps(folder)] == ["step_00000004", "step_00000003", "step_00000001"]  # best kept


def test_drop_broken_also_clears_what_a_killed_save_left(tmp_path):
    model, folder = _tiny_model(), tmp_path / "ckpt"
    ckpt.save(folder, 1, model=model, meta={})
    for leftover in (".tmp_step_00000002", ".tmp_step_00000002.rank3"):
        (folder / leftover).mkdir()
        (folder / leftover / "carry_rank3.pt").write_bytes(b"half")
    assert ckpt_folder.drop_broken(folder) == [] and sorted(p.name for p in folder.iterdir()) == ["latest", "step_00000001"]
