"""compare: runs side by side."""

import json

import pytest

HOSTILE = "<script>alert(1)</script>"


@pytest.mark.integration
def test_compare_two_runs_lists_the_tasks_each_solves_alone(tmp_path, cli, tiny_report_run):
    import shutil

    from arc_pipeline.rundir import SUBMISSION

    a = tiny_report_run(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    sub = json.loads((b / SUBMISSION).read_text())
    sub["solved1"], sub[HOSTILE] = sub[HOSTILE], [{"attempt_1": [[1, 2], [3, 4]], "attempt_2": [[1, 2], [3, 4]]}]
    (b / SUBMISSION).write_text(json.dumps(sub))
    out = tmp_path / "cmp.html"
    result = cli("compare", str(a), str(b), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "solved by a only (1): solved1" in result.output and f"solved by b only (1): {HOSTILE}" in result.output
    page = out.read_text()
    assert "Solved by a only (1)" in page and "Solved by b only (1)" in page and "tasks solved" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    only_a = page.split("id='only-a'")[1].split("</table>")[0]
    assert only_a.count("<tr class=") == 2 and ">solved1<" in only_a  # one row per run
