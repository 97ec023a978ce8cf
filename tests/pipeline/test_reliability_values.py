"""Values accepted that should not be (issue 23): each is one line naming key, value and what is valid."""

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import load_config


@pytest.mark.parametrize("sets, match", [
    (["train.muon_lr=-1"], r"train.muon_lr = -1.0: out of range; valid: \[0, inf\)"),
    (["run.seed=100000000000000000000"], r"run.seed = 100000000000000000000: out of range; valid: \[0, 9223372036854775807\]"),
    (["train.seed=-1"], r"train.seed = -1"),
])
def test_out_of_range_values_are_refused_at_load(sets, match):
    with pytest.raises(ArcError, match=match):
        load_config("smoke", sets=sets)


def test_the_largest_seed_loads():
    assert load_config("smoke", sets=["run.seed=9223372036854775807"]).train.seed == 2**63 - 1


def test_an_empty_preset_name_and_a_non_utf8_file_are_one_line(tmp_path):
    with pytest.raises(ArcError, match="unknown preset ''"):
        load_config("")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[train]\nsteps = 3  # \xff\xfe\n")
    with pytest.raises(ArcError, match="bad.toml cannot be read as UTF-8"):
        load_config(None, [bad])


def test_muon_on_a_torch_without_it_is_refused(monkeypatch, toy_configs):
    import importlib.metadata

    import torch

    from arc_pipeline.solver.model import TRM
    from arc_pipeline.solver.optim import make_dense_optimizer

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.5.1+cpu")
    with pytest.raises(ArcError, match=r"train.muon = 'trunk' needs torch.optim.Muon, new in torch 2.9; this is torch 2.5.1"):
        load_config("smoke", sets=["train.muon=trunk"])
    load_config("smoke")  # off: no torch needed
    mcfg, tcfg = toy_configs(muon="trunk")
    monkeypatch.delattr(torch.optim, "Muon", raising=False)
    with pytest.raises(ArcError, match="needs torch.optim.Muon"):
        make_dense_optimizer(TRM(mcfg), tcfg)


@pytest.mark.integration
def test_the_cli_shows_them_in_one_line(tmp_path, cli):
    res = cli("ingest", "--preset", "", "--run-dir", tmp_path / "r")
    assert res.exit_code == 1 and res.output.startswith("error: unknown preset ''") and "Traceback" not in res.output
