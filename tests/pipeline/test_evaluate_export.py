"""Issue 24: `evaluate` (every saved checkpoint through the predict and vote code), the protocol and cost
blocks, and `export` (ARC Prize's benchmarking layout read back by an independent reader following that
tool's scoring; the model-card folder). One tiny run serves them all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_run):
    """A tiny joint run with a held-out split and every checkpoint kept (steps 3 and 6)."""
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    result = tiny_run(run_dir, "--set", "build.val_fraction=0.3", "--set", "train.keep_checkpoints=5")
    assert result.exit_code == 0, result.output
    return run_dir


def score_like_the_benchmarking_tool(folder: Path, solutions: dict) -> tuple[float, int, dict]:
    """An independent reader of the export, following arc-agi-benchmarking's scoring: for every
    `<task_id>.json` at the top of the folder (results.json aside), a test pair counts when any of its
    attempts equals the truth (an empty answer never does), the pair found by its metadata pair_index
    when valid, else by its position; a task scores right pairs / its test pairs; the total is the sum
    over the files present, and the tool divides it by the number of files."""
    total, files, cost = 0.0, 0, {}
    for f in sorted(folder.glob("*.json")):
        if f.name == "results.json":
            continue
        truths = solutions[f.stem]
        entries = json.loads(f.read_text())
        right, spent = 0, 0.0
        for position, entry in enumerate(entries):
            attempts = [entry[k] for k in sorted(entry) if k.startswith("attempt_")]
            index = next((a["metadata"]["pair_index"] for a in attempts
                          if a and 0 <= a["metadata"].get("pair_index", -1) < len(truths)), position)
            spent += sum(a["metadata"]["cost"]["total_cost"] for a in attempts if a)
            if any(a and a["answer"] != [] and a["answer"] == truths[index] for a in attempts):
                right += 1
        total += right / len(truths)
        files += 1
        cost[f.stem] = spent
    return total, files, cost


@pytest.mark.integration
def test_evaluate_scores_every_checkpoint_through_the_predict_code(run, cli):
    result = cli("evaluate", run, "--checkpoints", "all")
    assert result.exit_code == 0, result.output
    data = json.loads((run / "evaluation" / "checkpoints.json").read_text())
    rows = data["rows"]
    assert [(r["step"], r["weights"]) for r in rows] == [(3, "ema"), (3, "live"), (6, "ema"), (6, "live")]
    assert all(r["held_out_exact"] is not None and r["predictions"] > 0 for r in rows)
    assert data["best"]["step"] == max(rows, key=lambda r: (r["held_out_exact"], r["held_out_tokens"], r["step"]))["step"]
    # the row of the checkpoint predict used, with its weights, reproduces score.json's pass@K exactly
    score = json.loads((run / "score.json").read_text())
    used = score["protocol"]["checkpoint"]
    row = next(r for r in rows if r["step"] == used["step"] and r["weights"] == used["weights"])
    assert (row["pass1_task"], row["pass2_task"]) == (score["pass_at_k"]["per_task"]["1"], score["pass_at_k"]["per_task"]["2"])
    assert (row["pass1_output"], row["pass2_output"]) == (score["pass_at_k"]["per_output"]["1"],
                                                          score["pass_at_k"]["per_output"]["2"])
    assert "<svg" in (run / "evaluation" / "curve.svg").read_text()
    assert "| step |" in (run / "evaluation" / "checkpoints.md").read_text()
    # the run's report is redrawn with the checkpoints (curve and table) beside score.json's protocol
    page = (run / "report.html").read_text()
    assert "<h2>Checkpoints</h2>" in page and page.count("<td class='num'>3</td><td class='num'>") == 2
    assert "<table id='protocol'>" in page and "id='cost'" in page
    one = cli("evaluate", run, "--checkpoints", "3", "--json")
    assert one.exit_code == 0 and [r["step"] for r in json.loads(one.output)["rows"]] == [3, 3]
    bad = cli("evaluate", run, "--checkpoints", "4")
    assert bad.exit_code == 1 and "saved steps: 3, 6" in bad.output


def test_choose_names_every_form(tmp_path, toy_configs, toy_source, cpu_runtime):
    from arc_pipeline.evaluation import choose
    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver.model import TRM

    mcfg, _ = toy_configs()
    model = TRM(mcfg)
    for step, best in [(2, True), (4, False), (6, False)]:
        ckpt.save(tmp_path, step, model=model, meta={}, keep=10, is_best=best)
    names = lambda which: [p.name for p in choose(tmp_path, which)]  # noqa: E731
    assert names("all") == ["step_00000002", "step_00000004", "step_00000006"]
    assert names("best") == ["step_00000002"] and names("latest") == ["step_00000006"]
    assert names("6,2") == ["step_00000002", "step_00000006"]
    with pytest.raises(ArcError, match="saved steps: 2, 4, 6"):
        choose(tmp_path, "5")
    with pytest.raises(ArcError, match="valid: all, latest, best"):
        choose(tmp_path, "newest")


def test_the_best_row_cannot_stick_on_ties():
    from arc_pipeline.evaluation import Row, best_row

    def row(step, weights, exact, tokens):
        return Row(step, weights, f"step_{step:08d}", 0, 0, 0, 0, exact, tokens, 1, 0.0)

    rows = [row(500, "ema", 0.0, 0.2), row(500, "live", 0.0, 0.2), row(2975, "live", 0.0, 0.2), row(2975, "ema", 0.0, 0.2)]
    assert (best_row(rows).step, best_row(rows).weights) == (2975, "ema")
    rows.append(row(1000, "live", 0.0, 0.3))
    assert best_row(rows).step == 1000


@pytest.mark.integration
def test_the_benchmarking_export_reads_back_to_our_score_exactly(run, cli, tmp_path):
    import shutil

    import arc_pipeline
    from arc_pipeline.rundir import RunDir

    # a copy whose submission is right on some outputs (a tiny model solves none): the first task by its
    # first attempt, the first test output of the last task by its second, the rest as predicted
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _, target = RunDir(copy).tasks()
    sub = json.loads((copy / "submission.json").read_text())
    ids = sorted(target)
    sub[ids[0]] = [{"attempt_1": p.output.tolist(), "attempt_2": p.input.tolist()} for p in target[ids[0]].test]
    sub[ids[-1]][0]["attempt_2"] = target[ids[-1]].test[0].output.tolist()
    (copy / "submission.json").write_text(json.dumps(sub))
    arc_pipeline.score(run_dir=copy, force=True)
    score = json.loads((copy / "score.json").read_text())
    assert score["macro"] > 0

    out = tmp_path / "bench"
    result = cli("export", copy, "--format", "arc-agi-benchmarking", "--out", out)
    assert result.exit_code == 0, result.output
    solutions = {i: [p.output.tolist() for p in t.test] for i, t in target.items()}
    total, files, cost = score_like_the_benchmarking_tool(out, solutions)
    assert files == len(target) == score["tasks"]  # every target task is present: the denominator is whole
    assert total / files == score["macro"]
    per_task = score["cost"]["usd_per_task_test_time"]
    assert per_task > 0 and all(abs(c - per_task) < 1e-12 for c in cost.values())
    first = json.loads((out / f"{ids[0]}.json").read_text())[0]["attempt_1"]
    assert first["correct"] is True
    meta = first["metadata"]
    for key in ("model", "provider", "start_timestamp", "end_timestamp", "choices", "kwargs", "usage", "cost",
                "task_id", "pair_index", "test_id"):
        assert key in meta, key
    assert set(meta["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens", "completion_tokens_details"}
    assert meta["kwargs"]["protocol"] == "joint" and meta["kwargs"]["evaluation_demonstrations_trained"] is True
    assert sorted(p.name for p in (out / "tasks").iterdir()) == sorted(f"{i}.json" for i in target)
    assert "## Protocol" in (out / "README.md").read_text()


@pytest.mark.integration
def test_the_model_card_folder(run, cli, tmp_path):
    import polars as pl
    import torch

    from arc_pipeline.exports import read_safetensors
    from arc_pipeline.solver.checkpoint import build_model

    out = tmp_path / "card"
    result = cli("export", run, "--format", "model-card", "--out", out, "--price", "2.5")
    assert result.exit_code == 0, result.output
    tensors, meta = read_safetensors(out / "model.safetensors")
    model = build_model(out / "checkpoint")  # our format, slim, loads as is (EMA weights applied)
    state = model.state_dict()
    assert set(tensors) == set(state) and meta["weights"] == "ema"
    assert all(np.array_equal(tensors[k], state[k].numpy()) for k in state)
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "model-index:" in card and "type: pass@2-per-task" in card
    assert 'protocol: "joint"' in card and '"price_per_device_hour": 2.5' in card
    score = json.loads((run / "score.json").read_text())
    assert f"value: {score['macro']:.6g}" in card
    step = score["protocol"]["checkpoint"]["step"]
    src = run / "checkpoints" / f"step_{step:08d}"
    assert pl.read_parquet(out / "puzzle_map.parquet").equals(pl.read_parquet(src / "puzzle_map.parquet"))
    assert (out / "config.toml").read_text() == (run / "config.toml").read_text()
    assert torch.equal(model.puzzle_emb.table, build_model(src).puzzle_emb.table)


def test_cost_counts_devices_and_the_price_the_user_sets(tmp_path, smoke_config, monkeypatch):
    import dataclasses

    from arc_pipeline.solver import device

    from arc_pipeline.manifest import Manifest
    from arc_pipeline.protocol import PRICES, cost_block, device_type

    m = Manifest(tmp_path)
    for stage, seconds in (("ingest", 10), ("train", 3600), ("predict", 360), ("score", 1)):
        m.start(stage, "fp")  # train and predict ran under torchrun: the launcher's summary names the devices
        rec = m.finish(stage, [], summary={"devices": 4} if stage in ("train", "predict") else {})
        rec.seconds = seconds
    m.save()
    cfg = dataclasses.replace(smoke_config, run=dataclasses.replace(smoke_config.run, devices=4))
    c = cost_block(cfg, tmp_path, 10, device=("H100", 4))
    assert c["device_seconds"] == {"ingest": 10, "train": 4 * 3600, "predict": 4 * 360, "score": 1}
    assert c["price_per_device_hour"] == PRICES["H100"] and "assumed" in c["price_source"]
    assert c["usd_per_task"] == round((10 + 4 * 3600 + 4 * 360 + 1) / 3600 * PRICES["H100"] / 10, 6)
    # joint: training holds the target's demonstrations, so it is test-time work too
    assert c["usd_per_task_test_time"] == round((4 * 3600 + 4 * 360) / 3600 * PRICES["H100"] / 10, 6)
    priced = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, device_price=1.0, protocol="pretrain-adapt"))
    c = cost_block(priced, tmp_path, 10, device=("H100", 4))
    assert c["price_per_device_hour"] == 1.0 and c["price_source"] == "run.device_price"
    assert c["usd_per_task_test_time"] == round(4 * 360 / 3600 / 10, 6)
    # two nodes of two GPUs: four devices are priced, not the two of run.devices
    monkeypatch.setattr(device, "device_name", lambda: "NVIDIA H100 80GB HBM3")
    nodes = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, devices=2, nnodes=2),
                                train=dataclasses.replace(cfg.train, device="cuda"))
    assert device_type(nodes) == ("H100", 4)
    assert cost_block(nodes, tmp_path, 10)["device_seconds"]["train"] == 4 * 3600


@pytest.mark.integration
def test_a_new_device_price_rescores_without_retraining(run, tmp_path):
    """run.device_price changes only the cost block's $: the score stage (and the report after it) reruns
    in seconds with the new price; ingest to submit stay cached, and the scores are the same."""
    import shutil

    import arc_pipeline

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = json.loads((copy / "score.json").read_text())
    result = arc_pipeline.run(run_dir=copy, sets=["run.device_price=7"])
    assert {s: r.action for s, r in result.plan.items()} == {
        "ingest": "cached", "build": "cached", "train": "cached", "adapt": "cached", "predict": "cached",
        "submit": "cached",
        "score": "run", "report": "run"}
    after = json.loads((copy / "score.json").read_text())
    assert {k: v for k, v in after.items() if k != "cost"} == {k: v for k, v in before.items() if k != "cost"}
    cost = after["cost"]
    assert cost["price_per_device_hour"] == 7 and cost["price_source"] == "run.device_price"
    assert cost["device_seconds"] == before["cost"]["device_seconds"]  # the same work, priced anew
    assert cost["usd_per_task"] == round(cost["device_seconds_total"] / 3600 * 7 / cost["tasks"], 6)
    assert "$7 per device-hour (set by run.device_price)" in (copy / "report.html").read_text()
    again = arc_pipeline.run(run_dir=copy, sets=["run.device_price=7"])
    assert {r.action for r in again.plan.values()} == {"cached"}
