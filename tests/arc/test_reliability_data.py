"""Silent data issues (issue 23): a parquet `examples` string is named as the field it is, a hidden
(null) test output reads as in JSON, a renamed duplicate never overwrites a real task, and the puzzle
CSV writer quotes every field the reader needs quoted."""

import json

import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.load import load


def test_parquet_examples_that_is_a_string_is_named_as_that_field(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"id": ["a"], "examples": ["[[1]]"]}).write_parquet(path)
    with pytest.raises(ArcError, match="task a: 'examples' is a str, expected a list of examples"):
        load(path)


def test_parquet_task_with_a_hidden_test_output_reads_like_json(tmp_path):
    g = [[1, 2], [3, 4]]
    pair = {"input": g, "output": g}
    frame = pl.DataFrame({"id": ["t"], "train": [[pair]], "test": [[{"input": g, "output": None}]]})
    frame.write_parquet(tmp_path / "t.parquet")
    task = load(tmp_path / "t.parquet").tasks["t"]
    (tmp_path / "j.json").write_text(json.dumps({"train": [pair], "test": [{"input": g}]}))
    same = load(tmp_path / "j.json").tasks["j"]
    assert task.test[0].output is None and same.test[0].output is None
    assert (task.test[0].input == same.test[0].input).all()
    frame = pl.DataFrame({"id": ["u"], "train": [[{"input": g, "output": None}]], "test": [[pair]]})
    frame.write_parquet(tmp_path / "u.parquet")
    with pytest.raises(ArcError, match="train pair 0: 'output' is null"):
        load(tmp_path / "u.parquet")


def test_a_renamed_duplicate_never_overwrites_a_real_task(tmp_path, smoke_config):
    from arc_pipeline.config import override
    from arc_pipeline.stages.ingest import load_sources

    real = sorted(load("arc1/training").tasks.values(), key=lambda t: t.id)[:3]
    b = tmp_path / "b"
    b.mkdir()
    # source a holds "t" and a real task literally named "t@<source b>"; source b holds another "t"
    collide = tmp_path / "a.jsonl"
    collide.write_text(json.dumps({"id": "t", **real[0].to_json()}) + "\n"
                       + json.dumps({"id": f"t@{b}", **real[1].to_json()}) + "\n")
    (b / "t.json").write_text(json.dumps(real[2].to_json()))
    cfg = override(smoke_config, [f'data.train=["{collide}", "{b}"]', "data.max_side=0", "data.limit_target=1"])
    train, origin, _ = load_sources(cfg)
    assert len(train) == 3, sorted(train)
    assert {t.train[0].input.tobytes() for t in train.values()} == {t.train[0].input.tobytes() for t in real}
    from arc_pipeline.stages import ingest  # the stage merges its sources' pieces its own way: the same rule

    res = ingest.run(override(cfg, ["data.overlap_check=exact", "data.keep_overlap=true"]), tmp_path / "run")
    assert res.summary["train_tasks"] == 3
    written, _ = ingest.load_tasks(tmp_path / "run")
    assert {written[k].train[0].input.tobytes() for k in written.keys()} == {t.train[0].input.tobytes() for t in real}


def test_puzzle_csv_fields_round_trip_with_commas_quotes_and_line_breaks(tmp_path):
    from arc_pipeline.augment.puzzles.csvfile import read_rows, write_rows

    sources = ['a, "quoted" source', "line\nbreak", "plain"]
    write_rows(tmp_path / "p.csv", [(s, "1.2", "312", 1.5) for s in sources])
    rows = read_rows(tmp_path / "p.csv", "Sudoku")
    assert list(rows.sources) == sources and rows.questions == ["1.2"] * 3


def test_jsonl_line_with_a_number_past_the_int_digit_limit_is_that_line_s_problem(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a", "train": [{"input": [[' + "1" * 5000 + ']], "output": [[1]]}], "test": []}\n')
    with pytest.raises(ArcError, match=r"line 1: Exceeds the limit .* fix the line"):
        load(path)
