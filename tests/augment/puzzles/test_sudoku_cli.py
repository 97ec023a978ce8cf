"""`arc-pipeline generate sudoku`: files in the published layout, a report, determinism, user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from arc_pipeline.augment.puzzles.sudoku import is_valid_solution, load_csv

pytestmark = pytest.mark.integration  # every test here drives the CLI


def test_generate_sudoku_writes_train_and_test(tmp_path, cli):
    out = tmp_path / "s6.csv"
    res = cli("generate", "sudoku", "--size", "6", "--count", "20", "--test-count", "5", "--seed", "3", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["train"] == 20 and report["test"] == 5 and report["size"] == 6 and report["seconds"] > 0
    assert out.read_text().splitlines()[0] == "source,question,answer,rating"
    train, test = load_csv(out), load_csv(tmp_path / "s6-test.csv")
    assert len(train) == 20 and len(test) == 5 and train.size == 6
    assert all(is_valid_solution(a, 6) for a in train.answers)
    assert "." in out.read_text().splitlines()[1].split(",")[1]
    again = tmp_path / "again.csv"
    assert cli("generate", "sudoku", "--size", "6", "--count", "20", "--seed", "3", "--out", str(again)).exit_code == 0
    assert again.read_text() == out.read_text()


def test_generate_sudoku_human_report_has_histogram(tmp_path, cli):
    res = cli("generate", "sudoku", "--size", "4", "--count", "3", "--seed", "0", "--out", str(tmp_path / "s4.csv"))
    assert res.exit_code == 0, res.output
    assert "3 train + 0 test" in res.output and "difficulty" in res.output
    assert np.all(load_csv(tmp_path / "s4.csv").ratings == 0)


def test_generate_sudoku_user_error_is_one_line(tmp_path, cli):
    res = cli("generate", "sudoku", "--size", "4", "--count", "3", "--difficulty", "hard", "--out", str(tmp_path / "x.csv"))
    assert res.exit_code == 1
    assert "4x4" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.csv").exists()
