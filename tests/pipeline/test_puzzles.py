"""Sudoku and mazes through `arc-pipeline run`: the sudoku6 and maze-perfect presets shrunk to
seconds, end to end (ingest to report), cached and resumed like ARC runs; and ingest's errors on
bad rows, each naming the file and row."""

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError

SHRINK = ["build.augmentations=4", "model.hidden=32", "model.heads=2", "model.layers=1", "model.n_latent=1",
          "model.n_recursions=1", "model.max_steps=2", "train.global_batch=16", "train.steps=6", "train.lr_warmup=1",
          "train.checkpoint_every=2", "train.log_every=1", "run.time_budget=", "predict.batch_size=64"]
SUDOKU6 = "generate sudoku --size 6 --count 40 --test-count 24 --seed 0"
MAZE9 = "generate maze --size 9 --perfect --count 40 --test-count 24 --seed 0"


def sets(spec: str) -> list[str]:
    return [*SHRINK, f'data.train=["{spec}"]', f"data.target={spec}"]


def predict_again(run_dir) -> pl.DataFrame:
    """The run's puzzle predictions from the library call the predict stage makes."""
    from arc_pipeline.augment.dataset import open_split, read_meta
    from arc_pipeline.config import resolve
    from arc_pipeline.rundir import RunDir
    from arc_pipeline.solver.device import setup_runtime
    from arc_pipeline.solver.predict import predict

    cfg, r = resolve(run_dir)[0], RunDir(run_dir)
    return predict(r.checkpoint(cfg.run), open_split(r.dataset, "test"), setup_runtime("cpu"), cfg.predict,
                   fingerprint=read_meta(r.dataset)["fingerprint"]).voted


def args(preset: str, spec: str, run_dir) -> list[str]:
    out = ["run", "--preset", preset, "--run-dir", str(run_dir)]
    for s in sets(spec):
        out += ["--set", s]
    return out


@pytest.mark.integration
@pytest.mark.parametrize("preset,spec,metrics", [("sudoku6", SUDOKU6, ["exact"]),
                                                  ("maze-perfect", MAZE9, ["exact", "valid_optimal"])])
def test_tiny_puzzle_run_end_to_end_then_cached(tmp_path, preset, spec, metrics, cli):
    run_dir = tmp_path / "run"
    result = cli(*args(preset, spec, run_dir))
    assert result.exit_code == 0, result.output
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert all(stages[s]["status"] == "done" for s in stages), stages
    assert stages["train"]["summary"]["step"] == 6
    score = json.loads((run_dir / "score.json").read_text())
    assert score["puzzles"] == 24 and score["predicted"] == 24 and score["metrics"] == metrics
    assert sum(b["puzzles"] for b in score["by_rating"]["bins"]) == 24
    assert all(0.0 <= score[m] <= 1.0 for m in metrics)
    per = pl.read_parquet(run_dir / "scores.parquet")
    assert per.height == 24 and set(metrics) <= set(per.columns)
    assert abs(per["exact"].mean() - score["exact"]) < 1e-4
    page = (run_dir / "report.html").read_text()
    assert "<svg" in page and "Target puzzles" in page
    assert page.count("class='board'") + page.count('class="board"') >= 3  # question, solution, prediction
    assert not (run_dir / "submission.json").exists()  # no Kaggle submission for puzzles
    csv = pl.read_csv(run_dir / "tasks" / "target.csv")
    assert csv.columns == ["source", "question", "answer", "rating"] and csv.height == 24
    assert pl.read_parquet(run_dir / "predictions.parquet").equals(predict_again(run_dir))  # one path, not two

    again = cli("run", "--run-dir", str(run_dir))  # resolved config reused
    assert again.exit_code == 0, again.output
    after = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert all(after[s]["start"] == stages[s]["start"] for s in stages)  # everything cached


@pytest.mark.integration
def test_interrupted_puzzle_training_resumes_from_its_checkpoint(tmp_path):
    from arc_pipeline.config import load_config
    from arc_pipeline.stages import runner
    from arc_pipeline.stages import train as train_stage

    cfg = load_config("sudoku6", sets=sets(SUDOKU6))
    run_dir = tmp_path / "run"

    def interrupted(c, rd, ctx):  # trains 4 of the 6 steps, then dies as a kill would
        train_stage.run(dataclasses.replace(c, train=dataclasses.replace(c.train, steps=4)), rd, ctx)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.execute(cfg, run_dir, impl={"train": interrupted})
    first = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert first["train"]["status"] == "failed" and "predict" not in first
    records = runner.execute(cfg, run_dir)
    assert records["train"].summary["resumed_from"] == 4 and records["train"].summary["step"] == 6
    assert records["ingest"].start == first["ingest"]["start"]  # ingest and build cached
    assert records["build"].start == first["build"]["start"]
    assert json.loads((run_dir / "score.json").read_text())["predicted"] == 24


def _ingest(tmp_path, domain: str, train_csv, target_csv):
    from arc_pipeline.config import load_config
    from arc_pipeline.stages import ingest

    cfg = load_config(sets=[f"data.domain={domain}", f'data.train=["{train_csv}"]', f"data.target={target_csv}"])
    return ingest.run(cfg, tmp_path / "run")


def _write(path, rows):
    from arc_pipeline.augment.puzzles.csvfile import puzzle_csv

    path.write_text(puzzle_csv(rows))
    return path


GOOD6 = (".....2.5.4.....3.......1.31....4.5..", "463152152436614325325641531264246513")


@pytest.mark.parametrize("question,answer,words", [
    (GOOD6[0][:-1], GOOD6[1], ["row 3", "question has 35 characters"]),
    (GOOD6[0], GOOD6[1][:-1] + "x", ["row 3", "characters other than"]),
    (GOOD6[0], GOOD6[1][:-2] + GOOD6[1][-1] + GOOD6[1][-2], ["row 3", "not a solution"]),
    (GOOD6[0], "5" + GOOD6[1][1:], ["row 3", "not a solution"]),  # a repeated digit outside the givens
])
def test_sudoku_bad_rows_name_file_and_row(tmp_path, question, answer, words):
    bad = _write(tmp_path / "bad.csv", [("a", *GOOD6, 0), ("b", question, answer, 0)])
    good = _write(tmp_path / "good.csv", [("a", *GOOD6, 0)])
    with pytest.raises(ArcError) as e:
        _ingest(tmp_path, "sudoku", bad, good)
    assert str(bad) in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def _maze_rows():
    from arc_pipeline.augment.puzzles.maze import to_text
    from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig, generate

    res = generate(MazeGenConfig(size=9, min_path=12, count=2, perfect=True))
    return [(f"m{i}", to_text(q), to_text(a), r) for i, (q, a, r) in
            enumerate(zip(res.train.questions, res.train.answers, res.train.ratings))]


@pytest.mark.parametrize("breaking,words", [
    (lambda q, a: (q, a.replace("o", " ", 1)), "do not connect S to G"),
    (lambda q, a: (q, a.replace(" ", "o", 1)), "shortest S-G path has"),
    (lambda q, a: (q, a.replace("#", " ", 1)), "changes cells other than"),
    (lambda q, a: (q.replace("G", " "), a.replace("G", " ")), "'G' cells, expected one each"),
    (lambda q, a: (q, a[:-1]), "is not 81 characters"),
    (lambda q, a: (q, a[:-1] + "x"), "characters other than"),
])
def test_maze_bad_rows_name_file_and_row(tmp_path, breaking, words):
    rows = _maze_rows()
    src, q, a, r = rows[1]
    bad = _write(tmp_path / "bad.csv", [rows[0], (src, *breaking(q, a), r)])
    good = _write(tmp_path / "good.csv", rows[:1])
    with pytest.raises(ArcError) as e:
        _ingest(tmp_path, "maze", bad, good)
    assert str(bad) in str(e.value) and "row 3" in str(e.value) and words in str(e.value), str(e.value)


def test_puzzle_sources_are_checked(tmp_path):
    good = _write(tmp_path / "good.csv", [("a", *GOOD6, 0)])
    with pytest.raises(ArcError, match="generates maze puzzles but data.domain = 'sudoku'"):
        _ingest(tmp_path, "sudoku", good, "generate maze --size 9 --perfect --count 2 --test-count 2")
    with pytest.raises(ArcError, match="unknown option --sise"):
        _ingest(tmp_path, "sudoku", good, "generate sudoku --sise 6 --count 2 --test-count 2")
    with pytest.raises(ArcError, match="no test puzzles"):
        _ingest(tmp_path, "sudoku", good, "generate sudoku --size 6 --count 2")
    with pytest.raises(ArcError, match="no such puzzle CSV"):
        _ingest(tmp_path, "sudoku", tmp_path / "missing.csv", good)


def test_ingest_drops_training_puzzles_that_are_target_questions(tmp_path):
    from arc_pipeline.augment.puzzles.sudoku import format_grid
    from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate

    g = generate(SudokuGenConfig(size=6, count=1, seed=3)).train
    other = (format_grid(g.questions[0]), format_grid(g.answers[0]))
    train = _write(tmp_path / "train.csv", [("a", *GOOD6, 0), ("b", *other, 0)])
    target = _write(tmp_path / "target.csv", [("t", *GOOD6, 0)])
    result = _ingest(tmp_path, "sudoku", train, target)
    assert result.summary["train_puzzles"] == 1 and result.summary["train_overlapping"] == 1
    kept = pl.read_csv(tmp_path / "run" / "tasks" / "train.csv")
    assert kept["source"].to_list() == ["b"]


def test_puzzle_build_is_deterministic_reused_and_valid(tmp_path):
    from arc_pipeline.augment.build import BuildConfig
    from arc_pipeline.augment.puzzles.dataset import build
    from arc_pipeline.augment.puzzles.maze import valid_optimal
    from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig
    from arc_pipeline.augment.puzzles.maze_gen import generate as gen_maze
    from arc_pipeline.augment.puzzles.sudoku import solved
    from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate

    from arc_pipeline.augment.dataset import open_split

    s = generate(SudokuGenConfig(size=6, count=20, test_count=5))
    cfg = BuildConfig(augmentations=6, val_fraction=0.2)
    a, b = build("sudoku", s.train, s.test, cfg, tmp_path / "a"), build("sudoku", s.train, s.test, cfg, tmp_path / "b")
    assert a.fingerprint == b.fingerprint and a.counts == {"train": 16 * 6, "val": 4, "test": 5}
    for name in ("examples_train.npy", "questions.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert build("sudoku", s.train, s.test, cfg, tmp_path / "a").skipped  # identical build reused
    train = open_split(tmp_path / "a", "train")
    batch = train.batch(np.arange(len(train)), seed=0)
    assert solved(batch.labels.astype(int) - 1, 6).all()  # every augmented answer is a solution ...
    given = batch.inputs > 1
    assert (batch.inputs[given] == batch.labels[given]).all()  # ... of its augmented question
    assert (train.batch(np.arange(6), 0).inputs[0] == train.questions[0]).all()  # copy 0: identity
    assert len({bytes(x) for x in batch.inputs[:6]}) == 6  # the other copies differ
    g = train.groups()  # one sampling group per puzzle, its copies the variants
    assert len(g.names) == 16 and (np.diff(g.ptr) == 6).all() and (g.counts == 1).all()

    m = gen_maze(MazeGenConfig(size=9, min_path=10, count=10, test_count=3))
    build("maze", m.train, m.test, BuildConfig(augmentations=8, val_fraction=0.0), tmp_path / "m")
    mt = open_split(tmp_path / "m", "train")
    mb = mt.batch(np.arange(len(mt)), seed=0)
    assert len(mt) == 80 and all(valid_optimal(y, x, 9) for x, y in zip(mb.inputs, mb.labels))
    with pytest.raises(ArcError, match="only 8 symmetries"):
        build("maze", m.train, m.test, BuildConfig(augmentations=9), tmp_path / "m2")


def test_parallel_generation_matches_one_process():
    """Workers draw blocks ahead, but draws are consumed in index order: the same sets either way."""
    from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig
    from arc_pipeline.augment.puzzles.maze_gen import generate as gen_maze
    from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate

    cfg = SudokuGenConfig(size=6, count=6, test_count=3, difficulty="hard", hard_steps=30)
    one, two = generate(cfg, workers=1), generate(cfg, workers=2)
    assert two.workers == 2 and one.workers == 1
    for a, b in ((one.train, two.train), (one.test, two.test)):
        assert (a.questions == b.questions).all() and (a.ratings == b.ratings).all()
    assert (one.attempts, one.duplicates) == (two.attempts, two.duplicates)
    mcfg = MazeGenConfig(size=12, min_path=30, count=20, test_count=5)
    m1, m2 = gen_maze(mcfg, workers=1), gen_maze(mcfg, workers=2)
    assert (m1.train.questions == m2.train.questions).all() and (m1.test.answers == m2.test.answers).all()
    assert m1.attempts == m2.attempts
