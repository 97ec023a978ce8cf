"""`arc-pipeline generate maze`: files, report, default min-path, determinism, user errors."""

from __future__ import annotations

import json

import pytest

from arc_pipeline.augment.puzzles.maze import load_csv, valid_optimal

pytestmark = pytest.mark.integration  # every test here drives the CLI


def test_generate_perfect_maze_files(tmp_path, cli):
    out = tmp_path / "m.csv"
    res = cli("generate", "maze", "--size", "11", "--perfect", "--count", "10", "--test-count", "4", "--seed", "1", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["train"] == 10 and report["test"] == 4 and report["min_path"] == 16 and report["path_mean"] >= 16
    train, test = load_csv(out), load_csv(tmp_path / "m-test.csv")
    assert len(train) == 10 and len(test) == 4
    assert all(valid_optimal(a, q, 11) for q, a in zip(train.questions, train.answers))
    again = tmp_path / "again.csv"
    assert cli("generate", "maze", "--size", "11", "--perfect", "--count", "10", "--seed", "1", "--out", str(again)).exit_code == 0
    assert again.read_text().splitlines()[1:] == out.read_text().splitlines()[1:11]


def test_generate_random_maze_report(tmp_path, cli):
    res = cli("generate", "maze", "--size", "10", "--min-path", "20", "--count", "5", "--seed", "0", "--out", str(tmp_path / "r.csv"))
    assert res.exit_code == 0, res.output
    assert "5 train + 0 test" in res.output and "share" in res.output
    assert (load_csv(tmp_path / "r.csv").ratings >= 20).all()


def test_generate_maze_user_error(tmp_path, cli):
    res = cli("generate", "maze", "--size", "10", "--perfect", "--count", "2", "--out", str(tmp_path / "x.csv"))
    assert res.exit_code == 1 and "odd" in res.output and "Traceback" not in res.output
