"""NVARC's published layouts, written here exactly as the datasets ship them (docs/nvarc.md says where
each fact comes from): synthetic puzzles (a folder per subset, a folder per anchor puzzle, a JSON list
of pairs per puzzle) and augmented puzzles (Hugging Face save_to_disk folders of Arrow IPC streams)."""

import json

import polars as pl
import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fingerprint import pair_key
from arc_pipeline.arc.load import load, units


def _pairs(task_id="007bbfb7"):
    t = load("arc1/training").tasks[task_id]
    return [*t.train, *t.test]


def _synthetic(root, subset="nvarc_training", anchors=("007bbfb7", "00d62c1b"), per=2, pairs=13):
    """`<root>/<subset>/<anchor>/<anchor>_<other>.json`, each a list of `pairs` pairs."""
    for a in anchors:
        base = _pairs(a)
        for n in range(per):
            path = root / subset / a / f"{a}_{n:08x}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            ps = [base[(i + n) % len(base)] for i in range(pairs)]
            path.write_text(json.dumps([{"input": p.input.tolist(), "output": p.output.tolist()} for p in ps]))
    return root / subset


def test_synthetic_subset_reads_one_task_per_file_last_pair_the_test(tmp_path):
    folder = _synthetic(tmp_path)
    ts = load(folder)
    assert sorted(ts.tasks) == ["007bbfb7_00000000", "007bbfb7_00000001", "00d62c1b_00000000", "00d62c1b_00000001"]
    t = ts.tasks["007bbfb7_00000001"]
    raw = json.loads((folder / "007bbfb7" / "007bbfb7_00000001.json").read_text())
    assert len(t.train) == 12 and len(t.test) == 1
    assert t.test[0].output.tolist() == raw[-1]["output"] and t.train[0].input.tolist() == raw[0]["input"]
    # one anchor folder alone reads the same way; demos >= 1 cuts the files like RE-ARC pools
    assert len(load(folder / "007bbfb7")) == 2
    cut = load(folder, demos=3)
    assert len(cut) == 4 * (13 // 4) and all(len(t.train) == 3 for t in cut)


def test_synthetic_root_with_both_subsets_is_refused_naming_the_evaluation_derived_one(tmp_path):
    _synthetic(tmp_path, "nvarc_training")
    _synthetic(tmp_path, "nvarc_full", anchors=("00d62c1b",))
    with pytest.raises(ArcError, match=r"nvarc_full, nvarc_training; pass one of them.*nvarc_full: also mixes involving "
                                       "ARC-AGI-2 evaluation"):
        load(tmp_path)


def test_synthetic_errors_name_file_task_pair_and_field(tmp_path):
    folder = _synthetic(tmp_path, per=1)
    path = folder / "00d62c1b" / "00d62c1b_00000000.json"
    raw = json.loads(path.read_text())
    raw[4]["output"][1][2] = 10
    path.write_text(json.dumps(raw))
    with pytest.raises(ArcError, match=r"00d62c1b_00000000\.json: task 00d62c1b_00000000, example 4, field 'output': "
                                       r"cell \(row 1, col 2\) is 10"):
        load(folder)
    path.write_text(json.dumps(raw[:1]))
    with pytest.raises(ArcError, match="holds 1 example"):
        load(folder)
    assert len(load(folder, skip_invalid=True)) == 1


def _text(g):
    return "\n".join("".join(str(int(v)) for v in row) for row in g)


def _hf_subset(folder, rows_per_shard=(3, 2), pairs=4):
    """A save_to_disk folder: state.json, dataset_info.json and Arrow IPC stream shards with
    puzzle_name and messages (user = input grid as text, assistant = output)."""
    folder.mkdir(parents=True)
    base = _pairs("00d62c1b")
    names = []
    for s, n in enumerate(rows_per_shard):
        name = f"data-{s:05d}-of-{len(rows_per_shard):05d}.arrow"
        rows = []
        for r in range(n):
            msgs = []
            for k in range(pairs):
                p = base[(r + k) % len(base)]
                msgs += [{"role": "user", "content": _text(p.input)}, {"role": "assistant", "content": _text(p.output)}]
            rows.append({"puzzle_name": f"p{s}{r % 2}", "messages": msgs})
        pl.DataFrame(rows).write_ipc_stream(folder / name)
        names.append(name)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names], "_fingerprint": "x",
                                                   "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                                                   "_output_all_columns": False, "_split": None}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {
        "puzzle_name": {"dtype": "string", "_type": "Value"},
        "messages": [{"content": {"dtype": "string", "_type": "Value"}, "role": {"dtype": "string", "_type": "Value"}}]}}))
    return folder, base


def test_augmented_subset_reads_every_row_as_a_task_in_shard_order(tmp_path):
    folder, base = _hf_subset(tmp_path / "nvarc-augmented-puzzles" / "concept")
    assert [u.kind for u in units(folder)] == ["shard", "shard"]
    ts = load(folder)
    assert list(ts.tasks) == ["p00_0_0", "p01_0_1", "p00_0_2", "p10_1_0", "p11_1_1"]
    t = ts.tasks["p01_0_1"]
    assert len(t.train) == 3 and len(t.test) == 1 and t.has_solutions
    assert [pair_key(p) for p in (*t.train, *t.test)] == [pair_key(base[(1 + k) % len(base)]) for k in range(4)]


def test_augmented_root_with_subsets_is_refused(tmp_path):
    root = tmp_path / "aug"
    _hf_subset(root / "arc2_evaluation6")
    _hf_subset(root / "rearc")
    with pytest.raises(ArcError, match=r"arc2_evaluation6, rearc; pass one of them.*arc2_evaluation6: the ARC-AGI-2 "
                                       "evaluation tasks themselves"):
        load(root)


def test_augmented_errors_name_file_row_task_pair_and_field(tmp_path):
    folder, _ = _hf_subset(tmp_path / "mini", rows_per_shard=(2,))
    shard = folder / "data-00000-of-00001.arrow"
    frame = pl.read_ipc_stream(shard)
    msgs = frame["messages"].to_list()
    msgs[1][3]["content"] = msgs[1][3]["content"].replace("0", "x", 1)
    frame.with_columns(pl.Series("messages", msgs)).write_ipc_stream(shard)
    with pytest.raises(ArcError, match=r"data-00000-of-00001\.arrow row 1: task p01_0_1, pair 1, field output: cell "
                                       r"\(row \d+, col \d+\) is 'x'; cells are digits 0..9"):
        load(folder)
    msgs[1] = msgs[1][:3]
    frame.with_columns(pl.Series("messages", msgs)).write_ipc_stream(shard)
    with pytest.raises(ArcError, match="row 1: task p01_0_1: 'messages' must alternate user/assistant over 2 or more pairs, got 3"):
        load(folder)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00009-of-00010.arrow"}]}))
    with pytest.raises(ArcError, match=r"state.json lists data-00009-of-00010.arrow, missing from"):
        load(folder)


def test_jsonl_pieces_read_the_same_tasks_and_line_numbers(tmp_path, monkeypatch):
    import arc_pipeline.arc.load as L

    ref = list(load("arc1/evaluation"))[:40]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(t.to_json()) for t in ref) + "\n")
    whole = load(path)
    monkeypatch.setattr(L, "LINES_BYTES", 5000)
    assert len(units(path)) > 5
    pieces = load(path)
    assert list(pieces.tasks) == list(whole.tasks) == [f"t_{n}" for n in range(1, 41)]
    assert all(pair_key(a.test[0]) == pair_key(b.test[0]) for a, b in zip(pieces, whole))
