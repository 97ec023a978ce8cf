"""One failing task falls back alone (issue 23): an invalid target task under --skip-invalid and a
task too large for the canvas are left out of the work, and the submission still answers them with
their test input, so Kaggle accepts it."""

import json

import pytest

from arc_pipeline.arc.load import load

pytestmark = pytest.mark.integration


def test_skip_invalid_target_tasks_are_still_answered(tmp_path, cli, write_challenges):
    from arc_pipeline.submissions.validate import validate

    good = sorted(load("arc1/evaluation").tasks.values(), key=lambda t: t.id)[:2]
    path = write_challenges(tmp_path / "d", good, solutions=False)
    raw = json.loads(path.read_text())
    raw["bad0"] = {"train": [{"input": [[1]], "output": [[11]]}], "test": [{"input": [[2, 2]]}, {"input": [[12]]}]}
    path.write_text(json.dumps(raw))
    run = tmp_path / "r"
    res = cli("ingest", "--preset", "smoke", "--target", path, "--set", "data.max_side=0", "--set", "data.limit_train=2",
              "--skip-invalid", "--run-dir", run)
    assert res.exit_code == 0, res.output
    assert "1 invalid target task(s) left out" in res.output
    res = cli("submit", "--run-dir", run)  # its config.toml
    assert res.exit_code == 0, res.output
    sub = json.loads((run / "submission.json").read_text())
    assert set(sub) == set(raw)  # every task of the challenges: what Kaggle needs
    assert sub["bad0"] == [{"attempt_1": [[2, 2]], "attempt_2": [[2, 2]]}, {"attempt_1": [[0]], "attempt_2": [[0]]}]
    shells = {t.id: t for t in good}
    assert validate(sub, shells) == ["task bad0: not in the challenges (remove it)"]  # only the invalid one is extra


def test_a_task_too_large_for_the_canvas_is_left_out_of_the_build(tmp_path, tiny_config, cli):
    run = tmp_path / "r"
    sets = ["--set", "data.max_side=0", "--set", "data.limit_train=2", "--set", "data.limit_target=4"]
    res = cli("ingest", "--config", tiny_config, *sets, "--run-dir", run)
    assert res.exit_code == 0, res.output
    res = cli("build", "--config", tiny_config, *sets, "--run-dir", run)
    assert res.exit_code == 0, res.output
    assert "grid larger than the 6x6 canvas" in res.output and "answers with its test input" in res.output
    summary = json.loads((run / "manifest.json").read_text())["stages"]["build"]["summary"]
    assert summary["unfit_tasks"] and all(k.split()[0] in ("train", "target") for k in summary["unfit_tasks"])
