"""The Kaggle entry script (pipeline/kaggle_entry.py): the test file it picks, the fallback chain
and kaggle_status.json, in a simulated /kaggle tree with faults injected into its child processes."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arc_pipeline import kaggle_entry
from arc_pipeline.kaggle_entry import COMPETITIONS, EntryError, find_challenges

ROOT = Path(__file__).resolve().parents[2]
TINY_SETS = ["build.augmentations=2", "build.canvas=6", "train.global_batch=8", "train.device=cpu",
             "adapt.steps=4", "adapt.lr_warmup=1", "adapt.embeddings_only_fraction=0.25", "predict.batch_size=64",
             "run.max_test_augs=2", "train.log_every=1"]


def _file(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_competition_folder_wins_over_other_attached_copies(tmp_path):
    inp = tmp_path / "input"
    old = _file(inp / "arc-prize-2024" / kaggle_entry.CHALLENGES)
    new = _file(inp / "arc-prize-2025" / kaggle_entry.CHALLENGES)
    _file(inp / "aaa-my-copy" / kaggle_entry.CHALLENGES)  # sorts first: it must not win
    path, why = find_challenges(str(inp))
    assert path == str(new) and "arc-prize-2025" in why and "ignored" in why
    shutil.rmtree(inp / "arc-prize-2025")
    assert find_challenges(str(inp))[0] == str(old)
    assert COMPETITIONS[0] == "arc-prize-2025"


def test_explicit_path_and_unknown_years_and_ambiguity(tmp_path):
    inp = tmp_path / "input"
    mine = _file(tmp_path / "elsewhere" / "tasks.json")
    assert find_challenges(str(inp), str(mine)) == (str(mine), "given with --challenges")
    with pytest.raises(EntryError, match="no such file"):
        find_challenges(str(inp), str(tmp_path / "missing.json"))
    with pytest.raises(EntryError, match="attach the competition data"):
        find_challenges(str(inp))
    a = _file(inp / "copy-a" / kaggle_entry.CHALLENGES)
    assert find_challenges(str(inp))[0] == str(a)  # the only one
    _file(inp / "copy-b" / kaggle_entry.CHALLENGES)
    with pytest.raises(EntryError, match="pass --challenges"):
        find_challenges(str(inp))
    future = _file(inp / "arc-prize-2031" / kaggle_entry.CHALLENGES)
    assert find_challenges(str(inp))[0] == str(future)


def test_entry_imports_only_the_standard_library():
    tree = ast.parse(Path(kaggle_entry.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names and names <= set(sys.stdlib_module_names), names - set(sys.stdlib_module_names)


def test_rerun_signal_skips_the_placeholder_guess(monkeypatch):
    class NoChildren:
        def call(self, *a, **k):
            raise AssertionError("the placeholder check must not run in a competition rerun")

    monkeypatch.setenv(kaggle_entry.RERUN_ENV, "1")
    assert kaggle_entry.is_placeholder(NoChildren(), "x.json") is False


def test_model_source_without_a_summary_follows_predict_s_rule(tmp_path):
    # under torchrun the manifest has no predict summary: the run directory tells
    assert kaggle_entry.model_source({"checkpoint_path": "adapt/init/step_00000000"}, str(tmp_path)) == "pretrained"
    assert kaggle_entry.model_source({}, str(tmp_path)) == "checkpoint"
    _file(tmp_path / "adapt" / "init" / "latest", "step_00000000")
    assert kaggle_entry.model_source({"devices": 4}, str(tmp_path)) == "pretrained"
    _file(tmp_path / "adapt" / "latest", "step_00000004")
    assert kaggle_entry.model_source({"devices": 4}, str(tmp_path)) == "adapted"


def test_the_entry_deadline_variable_is_the_runner_s():
    from arc_pipeline.launch import DEADLINE_ENV

    assert kaggle_entry.DEADLINE_ENV == DEADLINE_ENV


# ------------------------------------------------------------------ simulated Kaggle runs


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_config):
    """A tiny pre-trained checkpoint folder and three small public tasks as the hidden test set."""
    from arc_pipeline.arc.load import load
    from arc_pipeline.config import load_config
    from arc_pipeline.stages.runner import execute

    tmp = tmp_path_factory.mktemp("pre")
    cfg = load_config(None, (str(tiny_config),), ())
    execute(cfg, tmp / "run", stages=("ingest", "build", "train"))
    tasks = [t for t in load("arc1/evaluation") if max(max(g.shape) for p in t.train + t.test
                                                         for g in (p.input, p.output)) <= 5][:3]
    return tmp / "run" / "checkpoints", tasks


def _kaggle_tree(tmp_path: Path, tasks, extra: dict | None = None) -> Path:
    """A simulated /kaggle: `tasks` (and `extra`, raw task JSON by id) as the 2025 test file."""
    root = tmp_path / "kaggle"
    for comp in ("arc-prize-2024", "arc-prize-2025"):  # the 2024 copy holds other tasks: it must lose
        chosen = tasks if comp == "arc-prize-2025" else tasks[:1]
        raw = {t.id: t.to_json(with_solutions=False) for t in chosen}
        _file(root / "input" / comp / kaggle_entry.CHALLENGES, json.dumps({**raw, **(extra or {})}))
    (root / "working").mkdir(parents=True)
    return root


def _answers_env(tmp_path: Path) -> dict[str, str]:
    """ARC_TEST_ANSWER (kaggle_faults.py): the model answers every task it ran on."""
    return {"ARC_TEST_ANSWER": str(tmp_path / "kaggle" / "working" / "arc-run" / "run" / "predictions_raw.parquet")}


def _run_entry(tmp_path: Path, pretrained, faults: dict[str, str], *, extra=None, args=(), rc=0) -> tuple[Path, str]:
    ckpt, given = pretrained
    root = _kaggle_tree(tmp_path, given, extra)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    shutil.copyfile(Path(__file__).parent / "kaggle_faults.py", hooks / "sitecustomize.py")
    # a decoy `pipeline` package in the working directory: importing it would leave a marker
    work = root / "working" / "arc-run"
    _file(work / "pipeline" / "__init__.py", f"open({str(tmp_path / 'SHADOWED')!r}, 'w').close()\nraise SystemExit(7)\n")
    env = dict(os.environ, ARC_KAGGLE_ROOT=str(root), **faults)
    env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(Path(kaggle_entry.__file__)), "--skip-install", "--checkpoint", str(ckpt),
           "--placeholder-budget", "10m", *args]
    for s in TINY_SETS:
        cmd += ["--set", s]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=work)
    log = done.stdout + done.stderr
    assert done.returncode == rc, log[-3000:]
    assert "Traceback" not in log.split("pipeline run:")[0], log[-3000:]  # the entry's own lines never trace
    assert not (tmp_path / "SHADOWED").exists(), "a pipeline/ folder in the working directory was imported"
    return root, log


def _outputs(root: Path, tasks):
    from arc_pipeline.submissions.validate import validate

    sub_path = root / "working" / "submission.json"
    assert validate(sub_path, {t.id: t for t in tasks}) == []
    status = json.loads((root / "working" / "kaggle_status.json").read_text())
    manifest = json.loads((root / "working" / "arc-run" / "run" / "manifest.json").read_text())["stages"]
    return json.loads(sub_path.read_text()), status, manifest


@pytest.mark.integration
def test_adapt_fails_so_the_pretrained_checkpoint_answers(tmp_path, pretrained):
    _, tasks = pretrained
    root, log = _run_entry(tmp_path, pretrained, {"ARC_TEST_FAIL_ADAPT": "1", kaggle_entry.RERUN_ENV: "1",
                                                  **_answers_env(tmp_path)})
    sub, status, manifest = _outputs(root, tasks)
    assert manifest["adapt"]["status"] == "failed" and "out of memory" in manifest["adapt"]["note"]
    assert manifest["predict"]["summary"]["checkpoint_path"].startswith("adapt/init")
    assert status["source"] == "pretrained", status
    assert status["answers"] == {"pretrained": sum(len(t.test) for t in tasks), "identity": 0}
    assert "without adaptation" in status["reason"] and "adapt failed" in status["reason"]
    assert status["challenges"].endswith(f"arc-prize-2025/{kaggle_entry.CHALLENGES}")
    assert status["placeholder"] is False  # the rerun signal: the hidden set is in place
    assert set(sub) == {t.id for t in tasks}
    steps = {s["step"]: s["rc"] for s in status["steps"]}
    assert steps["pipeline run"] != 0 and steps["fallback predict"] == 0 and steps["validate"] == 0
    assert "pre-trained checkpoint without adaptation" in log


@pytest.mark.integration
def test_one_task_failing_in_predict_falls_back_alone(tmp_path, pretrained):
    import polars as pl

    _, tasks = pretrained
    bad = tasks[1].id
    root, log = _run_entry(tmp_path, pretrained, {"ARC_TEST_FAIL_TASK": bad, **_answers_env(tmp_path)})
    sub, status, manifest = _outputs(root, tasks)
    assert status["source"] == "adapted", status
    assert status["failed_tasks"] == [bad] and manifest["predict"]["summary"]["failed_tasks"] == [bad]
    assert manifest["adapt"]["status"] == "done" and manifest["adapt"]["summary"]["step"] == 4
    n = sum(len(t.test) for t in tasks)
    assert status["answers"] == {"adapted": n - len(tasks[1].test), "identity": len(tasks[1].test)}, status
    # the failed task answers with its inputs; the others keep their predictions
    assert all(e["attempt_1"] == p.input.tolist() for e, p in zip(sub[bad], tasks[1].test))
    summary = manifest["predict"]["summary"]
    assert 0 < summary["predictions"] < summary["of"]  # every example but the failed task's
    preds = pl.read_parquet(root / "working" / "arc-run" / "run" / "predictions.parquet")
    assert bad not in set(preds["task_id"].to_list())
    assert f"task {bad} failed" in log
    assert "progress adapt" in log, log  # piped: the adapt stage reported as it went


def test_notebook_cell_runs_the_bundle_entry_script(tmp_path):
    from arc_pipeline.bundle import ENTRY_NAME, notebook

    nb = notebook("arc-pipeline-bundle", "someone/arc-pipeline-bundle")
    assert nb["nbformat"] == 4 and [c["cell_type"] for c in nb["cells"]] == ["markdown", "code"]
    json.loads(json.dumps(nb))  # plain JSON all the way down
    code = "".join(nb["cells"][1]["source"])
    root = tmp_path / "kaggle"
    # a stand-in entry script that records how the cell called it
    _file(root / "input" / "other-dataset" / ENTRY_NAME, "raise SystemExit('the wrong bundle ran')\n")
    _file(root / "input" / "arc-pipeline-bundle" / ENTRY_NAME,
          "import json, os, sys\n"
          f"json.dump({{'argv': sys.argv, 'python': sys.executable}}, open({str(tmp_path / 'called.json')!r}, 'w'))\n"
          "open(os.path.join(os.environ['ARC_KAGGLE_ROOT'], 'working', 'kaggle_status.json'), 'w').write('{}')\n")
    (root / "working").mkdir()
    env = dict(os.environ, ARC_KAGGLE_ROOT=str(root))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    called = json.loads((tmp_path / "called.json").read_text())
    assert called["argv"] == [str(root / "input" / "arc-pipeline-bundle" / ENTRY_NAME)]
    assert Path(called["python"]).resolve() == Path(sys.executable).resolve()
    # a failing entry script fails the cell loudly
    _file(root / "input" / "arc-pipeline-bundle" / ENTRY_NAME, "raise SystemExit(2)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "exited with 2" in done.stderr
    # every answer the identity fallback: the cell fails, saying so and why
    _file(root / "input" / "arc-pipeline-bundle" / ENTRY_NAME,
          "import json, os\n"
          "json.dump({'source': 'identity', 'reason': 'no checkpoint'}, open(os.path.join(os.environ['ARC_KAGGLE_ROOT'], "
          "'working', 'kaggle_status.json'), 'w'))\nraise SystemExit(3)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "nothing was predicted: every answer is the identity fallback (no checkpoint)" in done.stderr


@pytest.mark.integration
def test_a_task_too_large_for_the_canvas_and_an_invalid_task_fall_back_alone(tmp_path, pretrained):
    from arc_pipeline.arc.load import load

    _, tasks = pretrained
    big = next(t for t in load("arc1/evaluation") if max(t.test[0].input.shape) >= 20)  # the canvas is 6x6
    bad = {"train": [{"input": [[1]], "output": [[11]]}], "test": [{"input": [[2, 2]]}, {"input": [[3]]}]}
    extra = {big.id: big.to_json(with_solutions=False), "bad0": bad}
    root, log = _run_entry(tmp_path, pretrained, {kaggle_entry.RERUN_ENV: "1", **_answers_env(tmp_path)}, extra=extra)
    sub = json.loads((root / "working" / "submission.json").read_text())
    status = json.loads((root / "working" / "kaggle_status.json").read_text())
    manifest = json.loads((root / "working" / "arc-run" / "run" / "manifest.json").read_text())["stages"]
    assert set(sub) == {t.id for t in tasks} | {big.id, "bad0"}
    assert sub["bad0"] == [{"attempt_1": [[2, 2]], "attempt_2": [[2, 2]]}, {"attempt_1": [[3]], "attempt_2": [[3]]}]
    assert [e["attempt_1"] for e in sub[big.id]] == [p.input.tolist() for p in big.test]
    assert all(e["attempt_1"] == [[7]] for t in tasks for e in sub[t.id])  # the others kept their answers
    n = sum(len(t.test) for t in tasks)
    assert status["answers"] == {"adapted": n, "identity": len(big.test) + 2} and status["source"] == "adapted"
    assert manifest["ingest"]["summary"]["target_skipped"] == ["bad0"]
    assert manifest["build"]["summary"]["unfit_tasks"] == [f"target {big.id}"]


@pytest.mark.integration
def test_a_missing_checkpoint_is_reported_as_identity_and_fails_the_cell(tmp_path, pretrained):
    _, tasks = pretrained
    root, log = _run_entry(tmp_path, pretrained, {kaggle_entry.RERUN_ENV: "1"},
                           args=("--checkpoint", str(tmp_path / "no-such-checkpoint")), rc=kaggle_entry.ALL_FALLBACK)
    status = json.loads((root / "working" / "kaggle_status.json").read_text())
    assert status["source"] == "identity" and status["answers"] == {"identity": sum(len(t.test) for t in tasks)}
    assert "every answer is the identity fallback" in log


@pytest.mark.slow
def test_a_budget_too_short_to_predict_is_reported_as_identity(tmp_path, pretrained):
    root, log = _run_entry(tmp_path, pretrained, {kaggle_entry.RERUN_ENV: "1"}, args=("--budget", "40s"),
                           rc=kaggle_entry.ALL_FALLBACK)
    status = json.loads((root / "working" / "kaggle_status.json").read_text())
    assert status["source"] == "identity" and list(status["answers"]) == ["identity"]


def _entry(tmp_path, *args, challenges: str | None = None):
    """The entry script on a tree whose test file holds `challenges` (text), stopped before any install."""
    root = tmp_path / "kaggle"
    _file(root / "input" / "arc-prize-2025" / kaggle_entry.CHALLENGES,
          challenges if challenges is not None else json.dumps({"t": {"train": [], "test": [{"input": [[1]]}]}}))
    (root / "working").mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, str(Path(kaggle_entry.__file__)), "--skip-install", *args],
                          env=dict(os.environ, ARC_KAGGLE_ROOT=str(root)), capture_output=True, text=True, timeout=60)
    status = root / "working" / kaggle_entry.STATUS
    return done, json.loads(status.read_text()) if status.exists() else None


@pytest.mark.parametrize("args, challenges, rc, reason", [
    (("--budget", "soon"), None, 3, "bad option: duration 'soon'"),
    (("--placeholder-budget", "1x"), None, 3, "bad option: duration '1x'"),
    ((), "{not json", 2, "unreadable (JSONDecodeError"),
    ((), "[1, 2]", 2, "not a JSON object of tasks"),
    ((), '{"t": {"test": [{"input": [[' + "9" * 5000 + "]]}]}}", 2, "unreadable (ValueError"),
    (("--devices", "four"), None, 2, "bad option: argument --devices"),
])
def test_malformed_inputs_are_one_line_in_the_status(tmp_path, args, challenges, rc, reason):
    done, status = _entry(tmp_path, *args, challenges=challenges)
    assert done.returncode == rc, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert reason in status["reason"] and "\n" not in status["reason"] and len(status["reason"]) <= 500


def test_merge_keeps_the_fallback_where_the_run_has_no_whole_answer():
    fallback = {"a": [{"attempt_1": [[1]], "attempt_2": [[1]]}], "b": [{"attempt_1": [[2]], "attempt_2": [[2]]}] * 2,
                "c": [{"attempt_1": [[3]], "attempt_2": [[3]]}]}
    produced = {"a": [{"attempt_1": [[5]], "attempt_2": [[1]]}], "b": [{"attempt_1": [[6]], "attempt_2": [[6]]}],
                "c": [{"attempt_1": [[10]], "attempt_2": [[3]]}], "x": []}
    merged, kept = kaggle_entry.merge(fallback, produced)
    assert merged["a"] == produced["a"] and merged["b"] == fallback["b"] and merged["c"] == fallback["c"]
    assert kept == ["b", "c"] and set(merged) == set(fallback)
    assert kaggle_entry.answer_sources(merged, fallback, "adapted") == {"adapted": 1, "identity": 3}
    assert kaggle_entry.identity_submission({"t": {"test": [{"input": [[11]]}, {"input": [[4]]}]}, "u": 7}) == {
        "t": [{"attempt_1": [[0]], "attempt_2": [[0]]}, {"attempt_1": [[4]], "attempt_2": [[4]]}],
        "u": [{"attempt_1": [[0]], "attempt_2": [[0]]}]}
