"""pipeline.config: presets, layering, typed --set parsing, unknown keys, the TOML writer."""

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import (
    PipelineConfig,
    load_config,
    override,
    parse_duration,
    preset_names,
    read_config,
    to_toml,
    write_config,
)


def test_every_documented_preset_ships_and_loads():
    assert {"smoke", "cpu", "gpu", "multi-gpu", "kaggle"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        assert isinstance(cfg, PipelineConfig)
    assert load_config("multi-gpu").run.devices > 1
    kaggle = load_config("kaggle")
    assert kaggle.run.protocol == "pretrain-adapt" and kaggle.build.protocol == "pretrain-adapt"
    assert parse_duration(kaggle.run.time_budget) < 12 * 3600


def test_set_parses_values_by_field_type():
    cfg = load_config(sets=[
        "train.steps=12", "train.lr=3e-3", "train.compile=true", "train.betas=0.8, 0.9",
        "data.train=arc1/training,arc2/training", "data.target=some/dir", "model.mixer=mlp",
        "data.keep_overlap=yes", "run.time_budget=90m",
    ])
    assert cfg.train.steps == 12 and isinstance(cfg.train.steps, int)
    assert cfg.train.lr == pytest.approx(3e-3)
    assert cfg.train.compile is True
    assert cfg.train.betas == (0.8, 0.9)
    assert cfg.data.train == ("arc1/training", "arc2/training")
    assert cfg.data.target == "some/dir"
    assert cfg.model.mixer == "mlp"
    assert cfg.data.keep_overlap is True
    assert cfg.run.time_budget == "90m"
    # TOML array syntax works too
    assert load_config(sets=['data.train=["a", "b"]']).data.train == ("a", "b")


def test_unknown_section_and_key_list_the_valid_ones():
    with pytest.raises(ArcError) as e:
        load_config(sets=["trian.steps=3"])
    assert "trian" in str(e.value) and "train" in str(e.value) and "model" in str(e.value)
    with pytest.raises(ArcError) as e:
        load_config(sets=["train.stepz=3"])
    msg = str(e.value)
    assert "stepz" in msg and "steps" in msg and "global_batch" in msg


def test_bad_values_and_unknown_preset_fail_clearly(tmp_path):
    with pytest.raises(ArcError, match="integer"):
        load_config(sets=["train.steps=lots"])
    with pytest.raises(ArcError, match="one of"):
        load_config(sets=["model.mixer=conv"])
    with pytest.raises(ArcError, match="valid presets"):
        load_config("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nhidden = 64\nheadz = 2\n")
    with pytest.raises(ArcError) as e:
        load_config(files=[bad])
    assert str(bad) in str(e.value) and "headz" in str(e.value)
    with pytest.raises(ArcError, match="section.key=value"):
        load_config(sets=["steps=3"])


def test_layers_apply_in_order_preset_file_set(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text("[train]\nsteps = 77\nlr = 0.5\n")
    cfg = load_config("smoke", [f], ["train.lr=0.25"])
    smoke = load_config("smoke")
    assert cfg.train.steps == 77 and cfg.train.lr == 0.25
    assert cfg.model.hidden == smoke.model.hidden  # untouched keys keep the preset's values


def test_written_config_reads_back_identical(tmp_path):
    cfg = load_config("smoke", sets=["data.train=a,b", "train.betas=0.5,0.75", "run.time_budget=1h"])
    write_config(cfg, tmp_path / "config.toml")
    again = read_config(tmp_path / "config.toml")
    assert again == cfg
    assert to_toml(again) == to_toml(cfg)


def test_override_and_protocol_follow_run():
    cfg = override(load_config("smoke"), ["run.protocol=pretrain-adapt", "train.steps=5"])
    assert cfg.run.protocol == "pretrain-adapt" and cfg.build.protocol == "pretrain-adapt"
    assert cfg.train.steps == 5
    # [build] protocol given alone is taken as the run's; contradicting both is an error
    assert load_config(sets=["build.protocol=pretrain-adapt"]).run.protocol == "pretrain-adapt"
    with pytest.raises(ArcError, match="contradicts"):
        load_config(sets=["build.protocol=pretrain-adapt", "run.protocol=joint"])


@pytest.mark.parametrize("text,seconds", [("12h", 43200), ("90m", 5400), ("1h30m", 5400), ("600", 600),
                                          ("45s", 45), ("", 0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ArcError, match="time budget"):
        parse_duration("soon")
