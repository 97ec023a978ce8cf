"""The [data] configuration examples of the README and docs/*.md, driven through the CLI as a user types them (a stage
called directly skips the config-to-stage path where a weighted source once crashed)."""

import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.load import load

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
pytestmark = pytest.mark.integration


def _readme_toml_blocks() -> list[str]:
    return [b for p in DOCS for b in re.findall(r"```toml\n(.*?)```", p.read_text(), flags=re.S)]


def _rearc_pool(folder: Path, stem: str = "007bbfb7", n: int = 8) -> None:
    """A RE-ARC pool (a list of examples) at folder/<stem>.json, from a real task's pairs under flips."""
    t = load("arc1/training").tasks[stem]
    pairs = [*t.train, *t.test]
    pool = []
    for i in range(n):
        p, flip = pairs[i % len(pairs)], (i // len(pairs)) % 2
        f = np.fliplr if flip else (lambda g: g)
        pool.append({"input": f(p.input).tolist(), "output": f(p.output).tolist()})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(pool))


def _sources(run_dir: Path) -> dict:
    frame = pl.read_parquet(run_dir / "tasks" / "tasks.parquet").filter(pl.col("split") == "train")
    return dict(frame.group_by("source").agg(pl.col("weight").first()).iter_rows())


def test_weighted_train_source_by_set_runs_ingest(cli, tmp_path):
    res = cli("ingest", "--preset", "smoke", "--set", 'data.train=[{source="arc1/training", weight=1, limit=5}]',
              "--set", "data.limit_target=2", "--run-dir", tmp_path / "r")
    assert res.exit_code == 0, res.output
    assert _sources(tmp_path / "r") == {"arc1/training": 1.0}
    assert "(weight 1)" in res.output


def test_readme_toml_data_example_runs_ingest(cli, tmp_path, monkeypatch):
    blocks = [b for b in _readme_toml_blocks() if "[data]" in b and "weight" in b]
    assert blocks, "the docs show a weighted [data] example"
    monkeypatch.chdir(tmp_path)  # its relative paths (re_arc/tasks) resolve here
    _rearc_pool(tmp_path / "re_arc" / "tasks")
    config = tmp_path / "mix.toml"
    config.write_text(blocks[0])
    res = cli("ingest", "--preset", "smoke", "--config", config, "--set", "data.max_side=9", "--set", "build.canvas=10",
              "--set", "data.limit_target=2", "--run-dir", tmp_path / "r")
    assert res.exit_code == 0, res.output
    assert _sources(tmp_path / "r") == {"re_arc/tasks": 1.0, "arc1/training": 2.0, "conceptarc": 1.0}


def test_a_weighted_source_in_a_puzzle_run_is_one_line(cli, tmp_path):
    res = cli("ingest", "--preset", "sudoku6", "--set",
              'data.train=[{source="generate sudoku --size 6 --count 10 --seed 0", weight=2}]',
              "--run-dir", tmp_path / "r")
    assert res.exit_code == 1 and "weight, limit and demos apply to ARC sources" in res.output, res.output
    assert "Traceback" not in res.output
