"""Issue 24: importers beside the reference TRM's, each checked against a fixture made by running that
project's own code on CPU (tests/data/reference_urm, tests/data/reference_trelis: PROVENANCE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.checkpoint import build_model
from arc_pipeline.solver.importers import detect, import_checkpoint
from arc_pipeline.solver.puzzle_match import read_puzzle_map

DATA = Path(__file__).resolve().parents[1] / "data"
URM, TRELIS, TRM = DATA / "reference_urm", DATA / "reference_trelis", DATA / "reference_trm"

pytestmark = pytest.mark.usefixtures("one_thread")


def replay(model, io):
    """Our model over the fixture's batch for as many supervision steps as the reference ran."""
    outs = []
    with torch.no_grad():
        x = model.embed(io["inputs"].long(), io["puzzle_identifiers"].long())
        y, z = model.initial_state(len(x))
        for _ in range(io["logits"].shape[0]):
            y, z, logits, halt = model.step(x, y, z)
            outs.append((y, z, logits, halt))
    return outs


def test_formats_are_detected():
    assert detect(URM / "step_8.pt") == "urm"
    assert detect(TRELIS / "step_8") == "trm" and detect(TRM / "step_8") == "trm"


def test_urm_matches_urms_own_outputs_at_every_step(tmp_path):
    r = import_checkpoint(URM / "step_8.pt", URM / "identifiers.json", tmp_path / "ck", canvas=6)
    c = r.model_config
    assert (c.recursion, c.conv_kernel, c.grad_calls, c.n_latent, c.n_recursions, c.max_steps, c.puzzle_emb_len) == \
        ("urm", 2, 0, 2, 2, 4, 1)
    assert r.step == 8 and r.puzzles == 18 and r.tasks == 3
    io = torch.load(URM / "io.pt", weights_only=True)
    for s, (y, _, logits, halt) in enumerate(replay(build_model(r.checkpoint), io)):
        assert torch.allclose(logits, io["logits"][s], atol=1e-5, rtol=0), s
        assert torch.allclose(halt, io["q_halt_logits"][s], atol=1e-5, rtol=0), s
        assert torch.allclose(y, io["hidden"][s], atol=1e-5, rtol=0), s
    pmap = read_puzzle_map(r.checkpoint)
    assert pmap.height == 18 and set(pmap["task_id"]) == {"4cd1b7b2", "66e6c45b", "e633a9e5"}


def test_trelis_lora_checkpoints_merge_and_match_the_forks_own_outputs(tmp_path):
    state = torch.load(TRELIS / "step_8", weights_only=True)
    assert sum(k.endswith("_lora_A") for k in state) == 10  # every linear adapted (rank 2, alpha 16)
    r = import_checkpoint(TRELIS / "step_8", TRELIS / "identifiers.json", tmp_path / "ck", canvas=6)
    assert r.model_config.puzzle_emb_len == 1 and r.model_config.recursion == "trm"
    io = torch.load(TRELIS / "io.pt", weights_only=True)
    for s, (y, z, logits, halt) in enumerate(replay(build_model(r.checkpoint), io)):
        assert torch.allclose(logits, io["logits"][s], atol=1e-5, rtol=0), s
        assert torch.allclose(halt, io["q_halt_logits"][s], atol=1e-5, rtol=0), s
        # the states: the merged weight rounds once where the fork's separate branch rounds twice
        assert torch.allclose(y, io["z_H"][s], atol=3e-5, rtol=0) and torch.allclose(z, io["z_L"][s], atol=3e-5, rtol=0)


def test_lora_without_its_rank_and_unknown_tensors_are_refused(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    shutil.copy(TRELIS / "step_8", folder / "step_8")
    text = (TRELIS / "all_config.yaml").read_text()
    (folder / "all_config.yaml").write_text(text.replace("lora_rank: 2", "lora_rank: 0"))
    with pytest.raises(ArcError, match="lora_rank"):
        import_checkpoint(folder / "step_8", TRELIS / "identifiers.json", tmp_path / "out", canvas=6)
    state = torch.load(TRM / "step_8", weights_only=True)
    state["_orig_mod.model.inner.embed_pos.embedding_weight"] = torch.zeros(3, 3)
    torch.save(state, folder / "step_8")
    shutil.copy(TRM / "all_config.yaml", folder / "all_config.yaml")
    with pytest.raises(ArcError, match="does not know"):
        import_checkpoint(folder / "step_8", TRM / "identifiers.json", tmp_path / "out", canvas=6)


def test_urm_needs_its_config_beside_the_file(tmp_path):
    shutil.copy(URM / "step_8.pt", tmp_path / "step_8.pt")
    with pytest.raises(ArcError, match="must sit beside the step file"):
        import_checkpoint(tmp_path / "step_8.pt", URM / "identifiers.json", tmp_path / "out", canvas=6)
    (tmp_path / ".hydra").mkdir()
    text = (URM / "all_config.yaml").read_text().replace("puzzle_emb_ndim: 64", "puzzle_emb_ndim: ${.hidden_size}")
    (tmp_path / ".hydra" / "config.yaml").write_text(text)  # hydra's own dump keeps the interpolation
    r = import_checkpoint(tmp_path / "step_8.pt", URM / "identifiers.json", tmp_path / "out", canvas=6)
    assert r.model_config.puzzle_emb_len == 1


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("hidden_size: 64", "hidden_size: wide"), "hidden_size = 'wide'"),
    (lambda t: t.replace("loops: 4", "loops: 0"), "loops = 0"),
    (lambda t: "arch:\n  name: \xff".encode("latin-1"), "cannot read it as UTF-8"),
])
def test_a_hostile_urm_config_is_one_line(tmp_path, edit, match):
    """URM's config goes through the TRM importer's checks (issue 23): one ArcError, never a traceback."""
    shutil.copy(URM / "step_8.pt", tmp_path / "step_8.pt")
    text = edit((URM / "all_config.yaml").read_text())
    (tmp_path / "all_config.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ArcError, match=match):
        import_checkpoint(tmp_path / "step_8.pt", URM / "identifiers.json", tmp_path / "out", canvas=6)
