"""compare: runs side by side; the tasks and outputs each run alone solves; a warning (and the figures
on the common tasks) when the target task sets differ; config differences; curves overlaid; --json."""

import json
import shutil

import pytest

HOSTILE = "<script>alert(1)</script>"


def _swap_answers(run):
    """run's submission with solved1 and the hostile task's answers swapped (each solved by one run)."""
    from arc_pipeline.rundir import SUBMISSION

    sub = json.loads((run / SUBMISSION).read_text())
    sub["solved1"], sub[HOSTILE] = sub[HOSTILE], [{"attempt_1": [[1, 2], [3, 4]], "attempt_2": [[1, 2], [3, 4]]}]
    (run / SUBMISSION).write_text(json.dumps(sub))


@pytest.mark.integration
def test_compare_two_runs_lists_the_tasks_and_outputs_each_solves_alone(tmp_path, cli, tiny_report_run):
    a = tiny_report_run(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    _swap_answers(b)
    out = tmp_path / "cmp.html"
    result = cli("compare", a, b, "--out", out)
    assert result.exit_code == 0, result.output
    assert "solved by a alone (1): solved1; test outputs (1): solved1 #1" in result.output
    assert f"solved by b alone (1): {HOSTILE}; test outputs (1): {HOSTILE} #1" in result.output
    assert "warning" not in result.output and "different target task sets" not in result.output
    page = out.read_text()
    assert "Solved by a alone (1 tasks, 1 test outputs)" in page and "Solved by b alone (1 tasks, 1 test outputs)" in page
    assert "tasks solved" in page and "id='warning'" not in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    only_a = page.split("id='only-0'")[1].split("</table>")[0]
    assert only_a.count("<tr class=") == 2 and ">solved1<" in only_a  # one row per run


@pytest.mark.integration
def test_compare_warns_when_task_sets_differ_and_prints_json(tmp_path, cli, tiny_report_run):
    from arc_pipeline.config import load_config, write_config
    from arc_pipeline.rundir import METRICS, SUBMISSION, TARGET_JSON

    a = tiny_report_run(tmp_path / "a")
    b, c = tmp_path / "b", tmp_path / "c"
    shutil.copytree(a, b)
    shutil.copytree(a, c)
    for run in (b,):  # b answers two of a's three tasks
        for path in (run / TARGET_JSON, run / SUBMISSION):
            data = json.loads(path.read_text())
            del data["nothing"]
            path.write_text(json.dumps(data))
    _swap_answers(c)
    write_config(load_config("smoke"), a / "config.toml")
    write_config(load_config("smoke"), b / "config.toml")
    write_config(load_config("smoke", sets=["train.lr=0.002", "run.seed=3"]), c / "config.toml")
    for run, loss in ((a, 2.0), (b, 1.0)):
        (run / METRICS).write_text(json.dumps({"step": 1, "loss": loss}) + "\n" + json.dumps({"step": 2, "loss": loss / 2}))
    out = tmp_path / "cmp.html"
    result = cli("compare", a, b, c, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["task_sets_differ"] and "different target task sets" in got["warning"] and got["common_tasks"] == 2
    assert [r["tasks"] for r in got["runs"]] == [3, 2, 3] and got["only_in"] == {"a": ["nothing"], "b": [], "c": ["nothing"]}
    # on the two common tasks a and b answer solved1 alone, c the hostile task
    assert got["common"]["a"] | {} == got["common"]["b"]
    assert got["common"]["a"]["outputs"] == 2 and got["common"]["a"]["outputs_right"] == 1 and got["common"]["a"]["micro"] == 0.5
    assert got["common"]["a"]["pass@2 per task"] == 0.5
    assert got["common"]["c"]["pass@1 per output"] == 0.5  # c votes a's predictions: pass@K reads their ranks
    assert got["solved_alone"]["c"] == {"tasks": [HOSTILE], "outputs": [[HOSTILE, 0]]}
    assert got["solved_alone"]["a"] == {"tasks": [], "outputs": []}  # b solves it too
    diff = {d["key"]: d["values"] for d in got["config_diff"]}
    assert diff["train.lr"] == [0.001, 0.001, 0.002] and diff["run.seed"] == [0, 0, 3] and diff["train.seed"] == [0, 0, 3]
    page = out.read_text()
    assert "id='warning'" in page and "On the 2 common tasks" in page and "id='config'" in page
    assert "a: train loss" in page and "b: train loss" in page  # curves overlaid in one chart
    shown = cli("compare", a, b, "--out", out)
    assert "different target task sets (a: 3, b: 2 tasks; 2 in common)" in shown.output.replace("\n", " ")
    assert "on the 2 common tasks" in shown.output


def test_compare_refuses_a_single_run(tmp_path, tiny_report_run):
    from click.testing import CliRunner

    from arc_pipeline.commands.compare import compare

    result = CliRunner().invoke(compare, [str(tiny_report_run(tmp_path / "a"))])
    assert result.exit_code != 0 and "two or more" in str(result.exception)
