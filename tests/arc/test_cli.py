"""CliRunner tests for `datasets`, `check`, `show` and `overlap`."""

import json

import pytest

pytestmark = pytest.mark.integration  # every test here drives the CLI

GOOD = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3]], "output": [[4]]}]}


def test_datasets_lists_every_builtin_with_counts(cli):
    r = cli("datasets")
    assert r.exit_code == 0, r.output
    line = next(s for s in r.stdout.splitlines() if "kaggle2025/evaluation" in s)
    assert "120" in line and "172" in line
    obj = json.loads(cli("datasets", "--json").stdout)
    assert obj["arc2/evaluation"]["tasks"] == 120 and obj["arc2/evaluation"]["test_outputs"] == 167
    assert obj["arc1/training"]["test_outputs"] == 416 and len(obj) == 11
    assert (obj["conceptarc"]["tasks"], obj["conceptarc"]["test_outputs"]) == (160, 480)


def test_check_valid_source_prints_one_summary_line(cli):
    r = cli("check", "kaggle2025/evaluation")
    assert r.exit_code == 0
    assert r.stdout.strip() == "kaggle2025/evaluation: 120 tasks, 358 train pairs, 172 test inputs (172 with outputs)"


def _bad_file(tmp_path):
    path = tmp_path / "mixed_challenges.json"
    bad1 = {"train": [{"input": [[1, 12]], "output": [[1]]}], "test": GOOD["test"]}
    bad2 = {"train": GOOD["train"], "test": [{"input": [[1], [1, 1]]}]}
    path.write_text(json.dumps({"good0001": GOOD, "bad00001": bad1, "bad00002": bad2}))
    return path


def test_check_reports_every_invalid_task_and_fails(tmp_path, cli):
    r = cli("check", str(_bad_file(tmp_path)))
    assert r.exit_code == 1
    assert "task bad00001, train pair 0, field 'input': cell (row 0, col 1) is 12" in r.stderr
    assert "task bad00002, test pair 0, field 'input': ragged grid" in r.stderr
    assert "2 invalid task(s)" in r.stderr and "Traceback" not in r.output


def test_check_skip_invalid_succeeds_with_the_valid_tasks(tmp_path, cli):
    r = cli("check", str(_bad_file(tmp_path)), "--skip-invalid")
    assert r.exit_code == 0
    assert "1 tasks, 1 train pairs, 1 test inputs" in r.stdout and "2 invalid task(s) skipped" in r.stdout
    assert "bad00001" in r.stderr and "bad00002" in r.stderr


def test_check_invalid_json_is_one_line_without_traceback(tmp_path, cli):
    path = tmp_path / "broken_challenges.json"
    path.write_text("{\n  \"a\": [1,\n}")
    r = cli("check", str(path))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "invalid JSON at line 3, column 1" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_show_draws_the_pairs_in_the_terminal(cli):
    r = cli("show", "007bbfb7", "--source", "arc1/training")
    assert r.exit_code == 0, r.output
    # Not a colour terminal under CliRunner, so the cells are printed as their colour digits.
    assert "train 0" in r.stdout and "test 0" in r.stdout and "0 7 7" in r.stdout and "3x3 -> 9x9" in r.stdout


def test_show_png_writes_a_png(tmp_path, cli):
    out = tmp_path / "task.png"
    r = cli("show", "007bbfb7", "--source", "arc1/training", "--png", str(out))
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in data[-12:]


def test_show_unknown_task_suggests_close_ids(cli):
    r = cli("show", "007bbfb8", "--source", "arc1/training")
    assert r.exit_code == 1 and "007bbfb7" in r.stderr and "Traceback" not in r.output


def test_overlap_json_lists_identical_and_leaked_ids_of_b(cli):
    r = cli("overlap", "arc1/training", "arc1/evaluation", "--json")
    assert r.exit_code == 0
    obj = json.loads(r.stdout)
    assert obj["identical"] == ["070dd51e"] and obj["leaked"] == ["070dd51e"]
    assert obj["identical_to"] == {"070dd51e": ["40853293"]}
    assert obj["symmetric"] == ["50a16a69"] and obj["symmetric_from"]["50a16a69"][0]["a_task"] == "caa06a1f"
    exact = json.loads(cli("overlap", "arc1/training", "arc1/evaluation", "--json", "--exact").stdout)
    assert exact["symmetric"] == [] and exact["leaked"] == ["070dd51e"]


def test_overlap_table_names_the_matching_task_of_a(cli):
    r = cli("overlap", "arc1/evaluation", "arc1/training")
    assert r.exit_code == 0
    row = next(s for s in r.stdout.splitlines() if "40853293" in s)
    assert "identical" in row and "070dd51e" in row
    assert "1 identical, 1 with test pairs inside" in r.stdout
    r = cli("overlap", "arc1/training", "arc1/evaluation")
    row = next(s for s in r.stdout.splitlines() if "50a16a69" in s)
    assert "leaked up to symmetry" in row and "caa06a1f train 2" in row
    assert "1 more with test pairs inside arc1/training up to symmetry" in r.stdout


def test_check_missing_source_says_what_exists(cli):
    r = cli("check", "no/such/place")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "no such file, directory or built-in" in r.stderr and "kaggle2025/evaluation" in r.stderr
