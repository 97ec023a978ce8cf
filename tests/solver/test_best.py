"""Issue 24: the `best` rule cannot stick on ties (held-out exact, then token accuracy, then the later
step), and a pointer file (`best`, `latest`) works wherever a checkpoint path does."""

from __future__ import annotations

import json

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver import train as train_mod

pytestmark = pytest.mark.usefixtures("one_thread")


def scripted_val(monkeypatch, results: list[tuple[float, float]]):
    """Held-out evaluations return `results` in order (exact, token_accuracy)."""
    it = iter(results)

    def fake(model, source, runtime, **kw):
        exact, tok = next(it)
        return {"exact": exact, "token_accuracy": tok, "exact_by_step": [exact], "exact_halted": exact,
                "mean_halt_step": 1.0, "examples": 4}

    monkeypatch.setattr(train_mod, "evaluate", fake)


def run(tmp_path, toy_configs, toy_source, steps=6):
    mcfg, tcfg = toy_configs(steps=steps, eval_every=2, checkpoint_every=0, keep_checkpoints=1)
    return train_mod.train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", val_source=toy_source(8, seed=1))


def test_ties_go_to_the_later_step(tmp_path, monkeypatch, toy_configs, toy_source):
    scripted_val(monkeypatch, [(0.0, 0.5)] * 3)  # the smoke run's case: held-out exact 0 at every evaluation
    res = run(tmp_path, toy_configs, toy_source)
    assert res.best is not None and res.best.name == "step_00000006"
    assert ckpt_folder.read_meta(res.best)["best_key"] == [0.0, 0.5, 6]


def test_token_accuracy_breaks_an_exact_tie_and_a_better_step_is_kept(tmp_path, monkeypatch, toy_configs, toy_source):
    scripted_val(monkeypatch, [(0.0, 0.9), (0.0, 0.5), (0.0, 0.5)])
    res = run(tmp_path, toy_configs, toy_source)
    assert res.best.name == "step_00000002"  # kept through pruning: best and latest are protected
    assert ckpt_folder.latest(tmp_path / "ckpt").name == "step_00000006"
    scripted_val(monkeypatch, [(0.25, 0.1), (0.0, 0.99), (0.25, 0.1)])
    res = run(tmp_path / "again", toy_configs, toy_source)
    assert res.best.name == "step_00000006"  # equal exact and token accuracy: the later step


def test_a_resumed_run_keeps_its_best_key(tmp_path, monkeypatch, toy_configs, toy_source):
    scripted_val(monkeypatch, [(0.5, 0.5), (0.0, 0.1)])
    run(tmp_path, toy_configs, toy_source, steps=4)
    scripted_val(monkeypatch, [(0.5, 0.4)])
    res = run(tmp_path, toy_configs, toy_source, steps=6)
    assert res.best.name == "step_00000002"


def test_best_key_orders_exact_then_tokens_then_step():
    keys = [ckpt_folder.best_key({"exact": e, "token_accuracy": t}, s) for e, t, s in
            [(0.1, 0.2, 5), (0.1, 0.3, 1), (0.2, 0.0, 0), (0.1, 0.3, 2)]]
    assert max(keys) == (0.2, 0.0, 0)
    assert sorted(keys)[-2] == (0.1, 0.3, 2)


def test_pointer_files_resolve_to_their_step(tmp_path, toy_configs, toy_source, cpu_runtime):
    from arc_pipeline.solver.train import Trainer

    mcfg, tcfg = toy_configs()
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    d = tmp_path / "checkpoints"
    for step, best in [(1, True), (2, False)]:
        tr.step_count = step
        tr.save(d, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=best)
    assert ckpt_folder.resolve(d / "best").name == "step_00000001"
    assert ckpt_folder.resolve(d / "latest").name == "step_00000002"
    assert ckpt_folder.read_meta(d / "best")["step"] == 1
    model = ckpt.build_model(d / "best")
    assert model.cfg == mcfg
    (d / "best").write_text("step_00000099")
    with pytest.raises(ArcError, match="unusable"):
        ckpt_folder.resolve(d / "best")
    (d / "notes.txt").write_text("x")
    with pytest.raises(ArcError, match="not a checkpoint"):
        ckpt_folder.resolve(d / "notes.txt")


def test_bundle_accepts_a_best_pointer(tmp_path, monkeypatch, toy_configs, toy_source, cpu_runtime):
    """`bundle --checkpoint RUN/checkpoints/best` (the README's command) ships the step `best` names
    (wheel building and the preset check stubbed: they are tested in tests/pipeline/test_bundle.py)."""
    from arc_pipeline import bundle
    from arc_pipeline.solver.train import Trainer

    mcfg, tcfg = toy_configs()
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    d = tmp_path / "checkpoints"
    for step, best in [(3, True), (4, False)]:
        tr.step_count = step
        tr.save(d, meta={"dataset_fingerprint": "fp", "model_config": {}}, puzzle_map=None, is_best=best)
    monkeypatch.setattr(bundle, "_pip", lambda args, what: None)
    monkeypatch.setattr(bundle, "requirements", lambda: [])
    monkeypatch.setattr(bundle, "check_checkpoint", lambda meta, preset, sets: [])
    result = bundle.make_bundle(d / "best", tmp_path / "out")
    assert json.loads((result.checkpoint / "meta.json").read_text())["step"] == 3
    assert json.loads((tmp_path / "out" / "bundle.json").read_text())["checkpoint"] == "step_00000003"


def test_run_checkpoint_accepts_a_pointer(tmp_path, toy_configs, toy_source, cpu_runtime):
    """`run.checkpoint = "RUN/checkpoints/best"`: predict (and build's augmentations, adapt's start,
    through `ckpt_folder.resolve`) read the step the pointer names."""
    import dataclasses

    from arc_pipeline.config import load_config
    from arc_pipeline.rundir import RunDir
    from arc_pipeline.solver.train import Trainer

    mcfg, tcfg = toy_configs()
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    d = tmp_path / "other" / "checkpoints"
    for step, best in [(5, True), (7, False)]:
        tr.step_count = step
        tr.save(d, meta={"dataset_fingerprint": "fp"}, puzzle_map=None, is_best=best)
    cfg = load_config("smoke")
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, checkpoint=str(d / "best")))
    assert RunDir(tmp_path / "run").checkpoint(cfg.run) == d / "step_00000005"
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, checkpoint=str(d / "latest")))
    assert RunDir(tmp_path / "run").checkpoint(cfg.run) == d / "step_00000007"


def test_predict_takes_best_only_when_its_held_out_exact_beats_the_latest(tmp_path, toy_configs, toy_source, cpu_runtime):
    """The `best` pointer breaks an exact tie by token accuracy; predict does not follow it there: on
    equal held-out exact it predicts with the latest step (the reference's final checkpoint)."""
    from arc_pipeline.config import load_config
    from arc_pipeline.rundir import RunDir
    from arc_pipeline.solver.train import Trainer

    mcfg, tcfg = toy_configs()
    tr = Trainer(mcfg, tcfg, toy_source(), cpu_runtime)
    run = RunDir(tmp_path / "run")
    for step, val, best in [(2, {"exact": 0.0, "token_accuracy": 0.9}, True), (4, {"exact": 0.0, "token_accuracy": 0.5}, False)]:
        tr.step_count = step
        tr.save(run.checkpoints, meta={"dataset_fingerprint": "fp", "val": val}, puzzle_map=None, is_best=best)
    assert ckpt_folder.best(run.checkpoints).name == "step_00000002"
    assert run.checkpoint(load_config("smoke").run).name == "step_00000004"  # a tie on exact: the latest
    tr.step_count = 6
    tr.save(run.checkpoints, meta={"dataset_fingerprint": "fp", "val": {"exact": 0.0, "token_accuracy": 0.1}},
            puzzle_map=None, is_best=False)
    tr.step_count = 8
    tr.save(run.checkpoints, meta={"dataset_fingerprint": "fp", "val": {"exact": 0.5, "token_accuracy": 0.1}},
            puzzle_map=None, is_best=True)
    tr.step_count = 10
    tr.save(run.checkpoints, meta={"dataset_fingerprint": "fp", "val": {"exact": 0.25, "token_accuracy": 0.9}},
            puzzle_map=None, is_best=False)
    assert run.checkpoint(load_config("smoke").run).name == "step_00000008"  # strictly higher exact: best
