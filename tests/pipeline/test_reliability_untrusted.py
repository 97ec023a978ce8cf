"""Untrusted text (issue 23): ids, paths and cells from files reach the terminal escaped (no markup,
no escape sequences, no unprintable surrogates), spreadsheets get no formulas, and every message is
bounded in size."""

import json

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load

pytestmark = pytest.mark.integration


def _three(tmp_path, write_challenges, ids=None):
    tasks = sorted(load("arc1/evaluation").tasks.values(), key=lambda t: t.id)[:3]
    if ids:
        from arc_pipeline.arc.task import Task

        tasks = [Task(i, t.train, t.test) for i, t in zip(ids, tasks)]
    return tasks, write_challenges(tmp_path / "data", tasks)


def _answers(tasks):
    return {t.id: [{"attempt_1": p.input.tolist(), "attempt_2": p.input.tolist()} for p in t.test] for t in tasks}


def test_brackets_in_paths_reach_the_terminal_as_typed(tmp_path, cli):
    odd = tmp_path / "[/x]"
    odd.mkdir(parents=True)
    res = cli("check", odd)
    assert res.exit_code == 1 and "[/x]: no tasks found" in res.output and "Traceback" not in res.output
    res = cli("show", "0934a4d8", "--png", odd / "[bold]t.png")
    assert res.exit_code == 0, res.output
    assert "[/x]/[bold]t.png" in res.output and (odd / "[bold]t.png").is_file()


def test_escape_sequences_and_surrogates_from_a_submission_are_shown_escaped(tmp_path, cli, write_challenges):
    tasks, challenges = _three(tmp_path, write_challenges)
    sub = _answers(tasks)
    sub["evil\x1b]0;pwned\x07\x1b[2J\ud800"] = sub[tasks[0].id]
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(sub))  # ensure_ascii: the file itself holds \\u escapes, as a hostile one would
    res = cli("validate", path, "--challenges", challenges)
    assert res.exit_code == 1, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\ud800: not in the challenges" in res.output


def test_formulas_in_task_ids_are_quoted_in_the_per_task_csv(tmp_path, cli, write_challenges):
    tasks, challenges = _three(tmp_path, write_challenges, ids=["=HYPERLINK(\"x\")", "+1", "plain"])
    (tmp_path / "sub.json").write_text(json.dumps(_answers(tasks)))
    res = cli("score", tmp_path / "sub.json", "--solutions", challenges, "--per-task", tmp_path / "t.csv")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "t.csv").read_text()
    assert "'=HYPERLINK" in text and "\n'+1," in text and "\nplain," in text
    assert not any(line.startswith(("=", "+", "-", "@")) for line in text.splitlines())


def test_one_bad_cell_of_millions_gives_a_short_message(tmp_path, cli, write_challenges):
    tasks, challenges = _three(tmp_path, write_challenges)
    sub = _answers(tasks)
    sub[tasks[0].id][0]["attempt_1"] = [[[0] * 2_000_000]]
    (tmp_path / "sub.json").write_text(json.dumps(sub))
    res = cli("validate", tmp_path / "sub.json", "--challenges", challenges)
    assert res.exit_code == 1 and "cell (0, 0) is [0, 0, 0, 0, 0, 0, ...] (list)" in res.output
    assert len(res.output) < 2_000
    assert len(str(ArcError("x" * 10_000_000))) < 5_000


def test_numbers_beyond_python_s_digit_limit_are_one_line(tmp_path, cli, write_challenges):
    tasks, challenges = _three(tmp_path, write_challenges)
    text = json.dumps(_answers(tasks)).replace("[[", "[[" + "9" * 5000 + ", ", 1)
    (tmp_path / "sub.json").write_text(text)
    res = cli("validate", tmp_path / "sub.json", "--challenges", challenges)
    assert res.exit_code == 1 and "digits" in res.output and "Traceback" not in res.output
    raw = json.loads(challenges.read_text())
    challenges.write_text(json.dumps(raw).replace("[[", "[[" + "7" * 5000 + ", ", 1))
    res = cli("check", challenges)
    assert res.exit_code == 1 and "digits" in res.output and len(res.output.splitlines()) <= 3
