"""Issue 11, hostile input: a JSON-string submission, --skip-invalid on run/ingest, huge colours and
deep nesting, square brackets in paths and ids, preset names that are paths, scoring zero tasks,
and pretrain-adapt rows shared only by tasks that are the same, not by ids."""

import json

import numpy as np
import pytest

from arc_pipeline.arc.errors import ArcError

TASK = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}


def _tasks_dir(tmp_path, **extra):
    d = tmp_path / "tasks"
    d.mkdir()
    (d / "good.json").write_text(json.dumps(TASK))
    for name, text in extra.items():
        (d / f"{name}.json").write_text(text)
    return d


@pytest.mark.integration
def test_a_submission_whose_json_is_a_string_is_not_read_as_a_path(tmp_path, cli):
    from arc_pipeline.submissions.score import score
    from arc_pipeline.submissions.validate import validate

    d = _tasks_dir(tmp_path)
    right = tmp_path / "right.json"
    right.write_text(json.dumps({"good": [{"attempt_1": [[4, 3]], "attempt_2": [[4, 3]]}]}))
    sneaky = tmp_path / "sneaky.json"
    sneaky.write_text(json.dumps(str(right)))  # a JSON string naming another (valid) file
    for cmd in (["validate", str(sneaky), "--challenges", str(d)], ["score", str(sneaky), "--solutions", str(d)]):
        r = cli(*cmd)
        assert r.exit_code == 1 and "JSON str" in r.output and "Traceback" not in r.output, r.output
    from arc_pipeline.arc.load import load

    assert validate(sneaky, load(str(d))) and "JSON str" in validate(sneaky, load(str(d)))[0]
    with pytest.raises(ArcError, match="JSON str"):
        score(sneaky, load(str(d)))


def test_huge_colours_and_deep_nesting_are_named_and_skippable(tmp_path):
    from arc_pipeline.arc.load import load

    big = dict(TASK, train=[{"input": [[10**30]], "output": [[1]]}])
    d = _tasks_dir(tmp_path, big=json.dumps(big), deep="[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArcError) as e:
        load(str(d))
    assert "big.json" in str(e.value) and str(10**30) in str(e.value) and "deep.json" in str(e.value)
    assert list(load(str(d), skip_invalid=True).tasks) == ["good"]


@pytest.mark.integration
def test_run_and_ingest_take_skip_invalid(tmp_path, cli):
    d = _tasks_dir(tmp_path, bad='{"train": [{"input": [[1]], "output": [[11]]}], "test": [{"input": [[1]]}]}')
    args = ["ingest", "--preset", "smoke", "--target", str(d), "--train", str(d), "--set", "data.max_side=0"]
    r = cli(*args + ["--run-dir", str(tmp_path / "a")])
    assert r.exit_code == 1 and "bad.json" in r.output and "--skip-invalid" in r.output
    r = cli(*args + ["--run-dir", str(tmp_path / "b"), "--skip-invalid"])
    assert r.exit_code == 0, r.output
    assert "skipped 1 invalid task(s)" in r.output and "bad.json" in r.output  # one file, named once
    assert list(json.loads((tmp_path / "b" / "tasks" / "target.json").read_text())) == ["good"]
    assert "--skip-invalid" in cli("run", "--help").output


@pytest.mark.integration
def test_square_brackets_in_paths_and_ids_are_printed_as_typed(tmp_path, monkeypatch, cli):
    from arc_pipeline import ui
    from arc_pipeline.stages import runner

    monkeypatch.setattr(runner, "execute", lambda *a, **k: {})
    rd = tmp_path / "runs[/]x[red]y"
    r = cli("run", "--preset", "smoke", "--run-dir", str(rd))
    assert r.exit_code == 0, r.output
    assert str(rd) in r.output.replace("\n", "")
    with ui.console.capture() as cap:
        ui.table("t", ["id"], [["[bold]00d62c1b[/]"]])
        ui.note("predict: [checkpoints/latest] names step_[1]")
    assert "[bold]00d62c1b[/]" in cap.get() and "[checkpoints/latest] names step_[1]" in cap.get()


def test_preset_names_are_names_not_paths():
    from arc_pipeline.config import load_config

    for name in ("../../pyproject", "../presets/smoke", "/etc/passwd"):
        with pytest.raises(ArcError, match="unknown preset"):
            load_config(name)


@pytest.mark.integration
def test_scoring_against_zero_tasks_fails(tmp_path, cli):
    from arc_pipeline.submissions.score import score

    with pytest.raises(ArcError, match="no tasks"):
        score({}, {})
    empty = tmp_path / "none_challenges.json"
    empty.write_text("{}")
    (tmp_path / "sub.json").write_text("{}")
    r = cli("score", str(tmp_path / "sub.json"), "--solutions", str(empty))
    assert r.exit_code == 1 and "no tasks" in r.output


def test_pretrain_adapt_never_gives_a_target_the_row_of_another_task_with_its_id(tmp_path):
    from arc_pipeline.arc.synth import SynthConfig, synth_suite
    from arc_pipeline.arc.task import Task
    from arc_pipeline.augment.build import BuildConfig, build
    from arc_pipeline.augment.dataset import read_puzzles
    from arc_pipeline.solver.adapt import plan_rows

    pre = dict(synth_suite(1, SynthConfig(n_tasks=3)))
    other = list(dict(synth_suite(7, SynthConfig(n_tasks=3))).values())
    shared_id, same_id = sorted(pre)[:2]
    target = {shared_id: Task(shared_id, other[0].train, other[0].test),  # same id, another task
              same_id: pre[same_id]}  # the very same task: its trained rows carry over
    bc = BuildConfig(augmentations=2, canvas=6, val_fraction=0)
    build(pre, {}, bc, tmp_path / "pre")
    build({}, target, BuildConfig(augmentations=2, canvas=6, val_fraction=0, protocol="pretrain-adapt"), tmp_path / "new")
    pre_map, puzzles = read_puzzles(tmp_path / "pre"), read_puzzles(tmp_path / "new")
    trained = pre_map["puzzle_id"].to_numpy().astype(np.int64)
    source = plan_rows(puzzles, pre_map, trained, int(puzzles["puzzle_id"].max()) + 1)
    ids = puzzles["puzzle_id"].to_numpy()
    tids = puzzles["task_id"].to_list()
    assert all(source[i] == -1 for i, t in zip(ids, tids) if t == shared_id)  # start at the mean instead
    assert all(source[i] > 0 for i, t in zip(ids, tids) if t == same_id)


@pytest.mark.integration
def test_validate_checks_a_submission_against_challenges_holding_an_invalid_task(tmp_path, cli):
    """Kaggle wants one entry per test input of every task, a task with a ragged demonstration too:
    validate names the invalid task and checks the submission by its test inputs, not refuses."""
    ragged = {"train": [{"input": [[1, 2], [3]], "output": [[2]]}], "test": [{"input": [[3]]}, {"input": [[4]]}]}
    challenges = tmp_path / "arc-agi_test_challenges.json"
    challenges.write_text(json.dumps({"good": TASK, "ragged": ragged}))
    entry = {"attempt_1": [[1]], "attempt_2": [[2]]}
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps({"good": [entry], "ragged": [entry, entry]}))
    r = cli("validate", str(whole), "--challenges", str(challenges))
    assert r.exit_code == 0 and "answers all 2 tasks" in r.output and "3 test inputs" in r.output, r.output
    assert "task ragged is checked by its test inputs only" in r.output and "ragged grid" in r.output
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"good": [entry], "ragged": [entry]}))
    r = cli("validate", str(short), "--challenges", str(challenges))
    assert r.exit_code == 1 and "task ragged: 1 entries but the task has 2 test inputs" in r.output, r.output
