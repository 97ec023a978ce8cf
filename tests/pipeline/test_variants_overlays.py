"""Shipped variant overlays (pipeline/presets/variants/NAME.toml): one file per variant, read by
`run --config variants/NAME`, `bench learn` and `bench suite`, so a variant means one thing."""

import tomllib

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import load_config
from arc_pipeline.config.presets import variant_names, variant_text


def test_the_variants_ship_and_each_header_is_a_command_then_a_summary():
    assert {"trm", "baseline", "urm", "urm_loop", "urm_matched", "conv", "full_backprop", "muon"} <= set(variant_names())
    for name in variant_names():
        lines = variant_text(name).splitlines()
        assert lines[0] == f"# arc-pipeline run --preset sudoku6 --config variants/{name}.toml"
        assert lines[1].startswith("# ") and lines[1].endswith(".")


@pytest.mark.parametrize("name", variant_names())
def test_a_variant_layers_over_a_preset_and_sets_only_its_keys(name):
    base = load_config("sudoku6")
    cfg = load_config("sudoku6", files=[f"variants/{name}"])
    overlay = tomllib.loads(variant_text(name))
    for section in ("data", "run", "build", "model", "train", "adapt", "predict", "vote"):
        keys = overlay.get(section, {})
        for key, value in vars(getattr(cfg, section)).items():
            want = keys.get(key, getattr(getattr(base, section), key))
            assert value == (tuple(want) if isinstance(want, list) else want), (name, section, key)
    assert load_config("sudoku6", files=[f"variants/{name}.toml"]) == cfg


def test_the_urm_preset_is_the_urm_variant_on_the_gpu_presets_data():
    urm = load_config("urm").model
    for key, value in tomllib.loads(variant_text("urm"))["model"].items():
        assert getattr(urm, key) == value, key


def test_an_unknown_variant_lists_the_shipped_ones():
    with pytest.raises(ArcError, match="variants/urm_matched"):
        load_config("smoke", files=["variants/hrm"])
