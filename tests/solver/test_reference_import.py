"""Importing a checkpoint written by the reference TRM code: the fixture in tests/data/reference_trm/
(made by running the reference itself; README there) must come out of our code step for step."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.encode import encode
from arc_pipeline.augment.records import Aug
from arc_pipeline.augment.reference import REFERENCE_DIHEDRAL, parse_name, puzzle_map, read_identifiers
from arc_pipeline.augment.source import ArraySource
from arc_pipeline.augment.transform import apply, invert
from arc_pipeline.solver import checkpoint as ckpt
from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver.infer import PredictConfig, run_steps
from arc_pipeline.solver.model import TRM
from arc_pipeline.solver.reference import import_checkpoint, read_yaml

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "reference_trm"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    result = import_checkpoint(FIXTURE / "step_8", FIXTURE / "identifiers.json", out, canvas=6)
    return result, ckpt.build_model(result.checkpoint)


@pytest.fixture(scope="module")
def io():
    return torch.load(FIXTURE / "io.pt", weights_only=True)


def test_config_and_table_come_from_the_reference_files(imported):
    result, model = imported
    c = result.model_config
    assert (c.hidden, c.heads, c.layers, c.n_latent, c.n_recursions, c.max_steps) == (64, 2, 2, 2, 2, 4)
    assert (c.seq_len, c.num_puzzles, c.puzzle_emb_len, c.vocab_size) == (36, 19, 16, 12)
    ref = torch.load(FIXTURE / "step_8", weights_only=True)
    assert torch.equal(model.puzzle_emb.table, ref["_orig_mod.model.inner.puzzle_emb.weights"])
    assert result.step == 8 and result.puzzles == 18 and result.tasks == 3


def test_every_step_matches_the_reference_outputs(imported, io):
    _, model = imported
    with torch.no_grad():
        x = model.embed(io["inputs"], io["puzzle_identifiers"])
        y, z = model.initial_state(6)
        for s in range(4):
            y, z, logits, halt = model.step(x, y, z)
            assert (logits - io["eval_logits"][s]).abs().max() <= 1e-5, f"step {s + 1} logits"
            assert (halt - io["eval_q_halt_logits"][s]).abs().max() <= 1e-5, f"step {s + 1} halting logits"
            assert (y - io["eval_z_H"][s]).abs().max() <= 1e-5 and (z - io["eval_z_L"][s]).abs().max() <= 1e-5
            assert torch.equal(logits.argmax(-1), io["eval_preds"][s])
            assert torch.equal(halt > 0, io["eval_q_halt_logits"][s] > 0)


def test_our_predictor_takes_the_reference_grids_and_halting_steps(imported, io, cpu_runtime):
    _, model = imported
    inputs = io["inputs"].numpy().astype(np.uint8)
    src = ArraySource(inputs, inputs.copy(), io["puzzle_identifiers"].numpy(), vocab_size=12, num_puzzles=19)
    full = run_steps(model, src, np.arange(6), cpu_runtime, PredictConfig(batch_size=4))  # all N_sup steps
    assert full.steps.tolist() == [4] * 6
    assert np.array_equal(full.tokens, io["eval_preds"][3].numpy())
    q = io["eval_q_halt_logits"].numpy()  # (step, slot): the first positive step is where a slot halts
    first = [int(np.argmax(q[:, b] > 0)) + 1 if (q[:, b] > 0).any() else 4 for b in range(6)]
    assert first == [3, 1, 2, 4, 1, 4]  # the README's table
    halted = run_steps(model, src, np.arange(6), cpu_runtime, PredictConfig(batch_size=4, halt="on"))
    assert halted.steps.tolist() == first
    preds = io["eval_preds"].numpy()
    assert np.array_equal(halted.tokens, np.stack([preds[s - 1, b] for b, s in enumerate(first)]))


def test_without_the_rope_permutation_the_outputs_differ(imported, io):
    _, model = imported
    broken = TRM(model.cfg)
    broken.load_state_dict(model.state_dict())
    with torch.no_grad():
        for block in broken.blocks:  # undo the interleave: back to the reference's row order
            h, d = model.cfg.hidden, model.cfg.hidden // model.cfg.heads
            order = torch.arange(3 * h)
            for base in (0, h):
                for head in range(model.cfg.heads):
                    lo = base + head * d
                    order[lo:lo + d] = lo + torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])
            block.mixer.qkv.weight.copy_(block.mixer.qkv.weight[order].clone())
        x = broken.embed(io["inputs"], io["puzzle_identifiers"])
        y, z = broken.initial_state(6)
        _, _, logits, _ = broken.eval().step(x, y, z)
    assert (logits - io["eval_logits"][0]).abs().max() > 1e-2


def test_every_name_decodes_to_its_recorded_augmentation():
    info = json.loads((FIXTURE / "augmentations.json").read_text())
    for t, entry in enumerate(info["dihedral"]):  # the reference's numbering against ours
        grid = np.array(entry["example_in"], dtype=np.uint8)
        assert apply(grid, Aug(REFERENCE_DIHEDRAL[t])).tolist() == entry["example_out"], f"t{t}"
    names = read_identifiers(FIXTURE / "identifiers.json")
    entries = [e for e in info["entries"] if not e.get("blank")]
    assert len(entries) == len(names) - 1
    for e in entries:
        task, aug = parse_name(e["name"])
        assert names[e["index"]] == e["name"] and task == e["task_id"]
        assert aug.colors == tuple(e["perm_list"]) and aug.is_identity == (not e["augmented"])
        assert aug.inverse().colors == tuple(e["inverse_perm_list"])
        assert Aug(REFERENCE_DIHEDRAL[e["dihedral_id"]]).inverse().dihedral == REFERENCE_DIHEDRAL[e["inverse_dihedral_id"]]
        original = np.array(e["first_demo_input_original"], dtype=np.uint8)
        assert apply(original, aug).tolist() == e["first_demo_input_augmented"], e["name"]
        assert invert(np.array(e["first_demo_input_augmented"], dtype=np.uint8), aug).tolist() == e["inverse_applied_to_augmented"]
    pmap = puzzle_map(names)
    assert pmap["puzzle_id"].to_list() == list(range(1, 19)) and set(pmap["role"]) == {"train"}
    assert pmap.filter(pmap["aug_index"] == 0)["dihedral"].to_list() == [0, 0, 0]  # the plain task first


def test_our_encoding_of_each_slot_is_the_reference_input(io):
    info = {e["index"]: e for e in json.loads((FIXTURE / "augmentations.json").read_text())["entries"]}
    for b in range(6):
        e = info[int(io["puzzle_identifiers"][b])]
        grid = np.array(e["first_demo_input_augmented"], dtype=np.uint8)
        offset = tuple(int(v) for v in io["grid_top_left"][b])
        assert encode(grid, canvas=6, offset=offset).tolist() == io["inputs"][b].tolist(), e["name"]


def test_the_yaml_reader_reads_the_reference_config():
    cfg = read_yaml((FIXTURE / "all_config.yaml").read_text())
    assert cfg["arch"]["hidden_size"] == 64 and cfg["arch"]["loss"]["name"] == "losses@ACTLossHead"
    assert cfg["data_paths"] == ["data/fixture-aug-5"] and cfg["data_paths_test"] == []
    assert cfg["evaluators"] == [{"name": "arc@ARC"}] and cfg["load_checkpoint"] is None and cfg["ema"] is False
    yaml = pytest.importorskip("yaml")  # PyYAML, where installed, must read the same thing
    assert cfg == yaml.safe_load((FIXTURE / "all_config.yaml").read_text())
    text = "a:\n  b:\n  - x: 1\n    y: 'q: r'\n  - - 2\n    - 3e-05\nc: ~\n"
    assert read_yaml(text) == yaml.safe_load(text)
    with pytest.raises(ArcError, match="line 1"):
        read_yaml("a: &anchor 1\n")


def test_bad_inputs_are_one_line_errors(tmp_path):
    step = tmp_path / "step_8"
    shutil.copy(FIXTURE / "step_8", step)
    with pytest.raises(ArcError, match="all_config.yaml"):
        import_checkpoint(step, FIXTURE / "identifiers.json", tmp_path / "out")
    text = (FIXTURE / "all_config.yaml").read_text()
    (tmp_path / "all_config.yaml").write_text(text)
    short = tmp_path / "ids.json"
    short.write_text(json.dumps(json.loads((FIXTURE / "identifiers.json").read_text())[:-1]))
    with pytest.raises(ArcError, match="18 names but the checkpoint's puzzle table has 19 rows"):
        import_checkpoint(step, short, tmp_path / "out", canvas=6)
    (tmp_path / "all_config.yaml").write_text(text.replace("mlp_t: false", "mlp_t: true"))
    with pytest.raises(ArcError, match="mlp_t"):
        import_checkpoint(step, FIXTURE / "identifiers.json", tmp_path / "out", canvas=6)
    (tmp_path / "all_config.yaml").write_text(text.replace("L_layers: 2", "L_layers: 1"))
    with pytest.raises(ArcError, match="L_layers"):
        import_checkpoint(step, FIXTURE / "identifiers.json", tmp_path / "out", canvas=6)


@pytest.mark.integration
def test_cli_writes_a_checkpoint_folder(tmp_path, cli):

    out = tmp_path / "ckpt"
    args = ["import-reference", str(FIXTURE / "step_8"), "--identifiers", str(FIXTURE / "identifiers.json"),
            "--out", str(out), "--canvas", "6"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert ckpt_folder.latest(out).name == "step_00000008" and "run.checkpoint" in result.output
    meta = ckpt_folder.read_meta(out)
    assert meta["imported"]["reference_config"]["arch"]["H_cycles"] == 2 and meta["canvas"] == 6
