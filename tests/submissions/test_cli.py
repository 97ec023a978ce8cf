"""`arc-pipeline validate` and `arc-pipeline score` through Click's runner."""

import json

import polars as pl
import pytest

from arc_pipeline.arc.load import load
from arc_pipeline.arc.task import Pair, Task, as_grid, grid_to_list

pytestmark = pytest.mark.integration  # every test here drives the CLI


g = as_grid
PAIR = [  # a 1-output and a 2-output task
    Task("aa000001", (Pair(g([[1]]), g([[2]])),), (Pair(g([[3]]), g([[4]])),)),
    Task("bb000002", (Pair(g([[1]]), g([[2]])),), (Pair(g([[5]]), g([[6]])), Pair(g([[7]]), g([[8, 8]])))),
]


def _kaggle_pair(write_challenges, tmp_path, with_solutions=True):
    """PAIR as a Kaggle-style challenges file (+ solutions); both paths back."""
    ch = write_challenges(tmp_path, PAIR, split="x", solutions=with_solutions)
    return ch, tmp_path / "arc-agi_x_solutions.json"


def _entry(a1, a2=((0,),)):
    return {"attempt_1": [list(r) for r in a1], "attempt_2": [list(r) for r in a2]}


# task aa: right; bb: first right, second wrong -> micro 2/3, macro (1 + 1/2) / 2, solved 1
PARTIAL = {"aa000001": [_entry([[4]])], "bb000002": [_entry([[9]], [[6]]), _entry([[8]])]}


@pytest.fixture
def partial(tmp_path, write_challenges):
    """(challenges, solutions, submission): PAIR as Kaggle files and PARTIAL as tmp_path/submission.json."""
    ch, sol = _kaggle_pair(write_challenges, tmp_path)
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps(PARTIAL))
    return ch, sol, sub


def test_validate_accepts_and_rejects(tmp_path, cli, partial):
    ch, _, sub = partial
    r = cli("validate", sub, "--challenges", ch)
    assert r.exit_code == 0, r.output
    assert "ok:" in r.stdout and "2 tasks" in r.stdout and "3 test inputs" in r.stdout
    r = cli("validate", tmp_path, "--challenges", ch)  # run directory
    assert r.exit_code == 0, r.output

    sub.write_text(json.dumps({"bb000002": [_entry([[8]])], "zz": []}))
    r = cli("validate", sub, "--challenges", ch)
    assert r.exit_code == 1
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert "task aa000001: missing" in lines[0]
    assert "task bb000002: 1 entries but the task has 2 test inputs" in lines[1]
    assert "task zz: not in the challenges" in lines[2]
    assert "3 problem(s); Kaggle would reject" in r.stderr


def test_bad_json_is_one_line_error_without_traceback(tmp_path, cli, write_challenges):
    ch, _ = _kaggle_pair(write_challenges, tmp_path)
    bad = tmp_path / "broken.json"
    bad.write_text('{"aa000001": [}')
    for cmd, opt in (("validate", "--challenges"), ("score", "--solutions")):
        r = cli(cmd, bad, opt, ch)
        assert r.exit_code == 1
        assert r.stderr.count("\n") == 1 and "broken.json: invalid JSON" in r.stderr
        assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)


def test_score_table_and_json(tmp_path, cli, partial):
    ch, sol, sub = partial
    r = cli("score", sub, "--solutions", ch)
    assert r.exit_code == 0, r.output
    assert "0.6667" in r.stdout and "2/3 test outputs" in r.stdout
    assert "0.7500" in r.stdout and "1/2" in r.stdout
    for source in (ch, sol):  # the solutions file itself reads through its challenges sibling
        r = cli("score", sub, "--solutions", source, "--json")
        assert r.exit_code == 0, r.output
        d = json.loads(r.stdout)
        assert d["micro"] == pytest.approx(2 / 3) and d["macro"] == pytest.approx(0.75)
        assert (d["tasks"], d["outputs"], d["outputs_correct"], d["tasks_solved"]) == (2, 3, 2, 1)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_per_task_table(tmp_path, suffix, cli, partial):
    ch, _, sub = partial
    out = tmp_path / f"rows{suffix}"
    r = cli("score", sub, "--solutions", ch, "--per-task", out)
    assert r.exit_code == 0, r.output
    frame = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    assert frame.rows() == [("aa000001", 1, 1, 1.0, True), ("bb000002", 2, 1, 0.5, False)]


def test_per_task_bad_extension(tmp_path, cli, partial):
    ch, _, sub = partial
    r = cli("score", sub, "--solutions", ch, "--per-task", tmp_path / "rows.txt")
    assert r.exit_code == 1 and "rows.txt: --per-task writes .csv or .parquet" in r.stderr
    assert not (tmp_path / "rows.txt").exists()


def test_score_without_solutions_is_an_error(tmp_path, cli, write_challenges):
    ch, _ = _kaggle_pair(write_challenges, tmp_path, with_solutions=False)
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps(PARTIAL))
    r = cli("score", sub, "--solutions", ch)
    assert r.exit_code == 1 and "have no known test outputs: aa000001, bb000002" in r.stderr


def test_kaggle2025_evaluation_perfect_and_empty(tmp_path, cli):
    tasks = load("kaggle2025/evaluation")
    perfect = {t.id: [_entry(grid_to_list(p.output)) for p in t.test] for t in tasks}
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps(perfect))
    r = cli("score", sub, "--solutions", "kaggle2025/evaluation", "--json")
    d = json.loads(r.stdout)
    assert (d["micro"], d["macro"], d["tasks"], d["outputs"], d["tasks_solved"]) == (1.0, 1.0, 120, 172, 120)
    assert cli("validate", sub, "--challenges", "kaggle2025/evaluation").exit_code == 0

    sub.write_text("{}")
    r = cli("validate", sub, "--challenges", "kaggle2025/evaluation")
    assert r.exit_code == 1 and len(r.stdout.strip().splitlines()) == 120
    r = cli("score", sub, "--solutions", "kaggle2025/evaluation", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert (d["micro"], d["macro"], d["tasks_solved"], d["outputs_correct"]) == (0.0, 0.0, 0, 0)
    assert "120 problem(s) Kaggle would reject" in r.stderr


def test_run_directory_brings_its_own_tasks(tmp_path, cli, write_challenges):
    from arc_pipeline.arc.load import save_tasks

    ch, _ = _kaggle_pair(write_challenges, tmp_path)
    (tmp_path / "submission.json").write_text(json.dumps(PARTIAL))
    r = cli("score", tmp_path, "--json")
    assert r.exit_code == 2 and "pass --solutions SRC" in r.output
    save_tasks(load(ch), tmp_path / "tasks" / "target.json")
    r = cli("score", tmp_path, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outputs_correct"] == 2
    assert cli("validate", tmp_path).exit_code == 0
