"""Presets that extend a base (`extends = "NAME"`), pinned to what they resolved to before, and
the keys that follow others (run.seed reseeds every stage; train.steps replaces epochs)."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import SECTIONS, load_config, override, preset_names, read_config, to_toml, write_config
from arc_pipeline.config import presets as presets_mod

PINS = Path(__file__).parents[1] / "data" / "config_pins"


def _defaults(section: str) -> dict:
    return tomllib.loads(to_toml(load_config()))[section]


@pytest.mark.parametrize("name", sorted(p.stem for p in PINS.glob("*.toml")), ids=lambda n: f"preset:{n}")
def test_every_preset_resolves_as_it_did_before_presets_extended_each_other(name):
    """Every pinned key keeps its value; a key added since (a new field or section) has its default."""
    resolved = tomllib.loads(to_toml(load_config(None if name == "defaults" else name)))
    pinned = tomllib.loads((PINS / f"{name}.toml").read_text())
    for section, keys in resolved.items():
        defaults = _defaults(section)
        for key, value in keys.items():
            want = pinned.get(section, {}).get(key, defaults[key])
            assert value == want, f"{name}: {section}.{key} = {value!r}, pinned {want!r}"
    for section, keys in pinned.items():
        missing = set(keys) - set(resolved.get(section, {}))
        assert not missing, f"{name}: [{section}] lost {sorted(missing)}"


def test_every_shipped_preset_is_pinned_except_new_ones():
    pinned = {p.stem for p in PINS.glob("*.toml")}
    assert {"gpu", "multi-gpu", "kaggle", "cpu", "smoke", "sudoku6", "maze-perfect"} <= pinned
    assert pinned - {"defaults"} <= set(preset_names())


def test_presets_hold_only_what_differs_from_their_base():
    text = presets_mod.preset_text("multi-gpu")
    assert 'extends = "gpu"' in text and "[model]" not in text and "[train]" not in text
    assert load_config("multi-gpu") == dataclasses.replace(
        load_config("gpu"), run=dataclasses.replace(load_config("gpu").run, devices=4))
    for name, base in (("kaggle", "gpu"), ("cpu", "smoke"), ("maze-perfect", "sudoku6"), ("maze-hard", "sudoku-extreme")):
        assert f'extends = "{base}"' in presets_mod.preset_text(name)


def _fake_presets(monkeypatch, texts: dict[str, str]) -> None:
    real_names, real_text = presets_mod.preset_names, presets_mod.preset_text
    monkeypatch.setattr(presets_mod, "preset_names", lambda: sorted({*real_names(), *texts}))
    monkeypatch.setattr(presets_mod, "preset_text", lambda n: texts[n] if n in texts else real_text(n))


def test_extends_applies_the_base_first_then_the_file_key_by_key(monkeypatch, tmp_path):
    _fake_presets(monkeypatch, {"base": "[train]\nlr = 0.5\nepochs = 9\n[model]\nhidden = 32\nheads = 2\n",
                                "child": 'extends = "base"\n[train]\nsteps = 7\n'})
    cfg = load_config("child")
    assert cfg.train.lr == 0.5 and cfg.model.hidden == 32  # inherited
    assert cfg.train.steps == 7 and cfg.train.epochs == 0.0  # a later layer's steps replaces the base's epochs
    mine = tmp_path / "mine.toml"
    mine.write_text('extends = "child"\n[model]\nhidden = 64\n')
    cfg = load_config(files=[mine])
    assert cfg.model.hidden == 64 and cfg.model.heads == 2 and cfg.train.steps == 7


@pytest.mark.parametrize("texts,match", [
    ({"a": 'extends = "b"\n', "b": 'extends = "a"\n'}, r"cycle \(a -> b -> a\)"),
    ({"a": 'extends = "a"\n'}, r"cycle \(a -> a\)"),
    ({"a": 'extends = "nope"\n'}, "unknown preset; valid presets:"),
    ({"a": 'extends = "../gpu"\n'}, "unknown preset"),
    ({"a": "extends = 3\n"}, "the name of a shipped preset"),
])
def test_extends_errors_name_the_file_and_what_to_do(monkeypatch, texts, match):
    _fake_presets(monkeypatch, texts)
    with pytest.raises(ArcError, match=match) as e:
        load_config("a")
    assert "extends" in str(e.value) and "\n" not in str(e.value)


def test_run_seed_is_the_one_seed_and_a_stage_seed_set_after_it_wins(tmp_path):
    cfg = load_config("smoke", sets=["run.seed=5"])
    assert (cfg.run.seed, cfg.build.seed, cfg.train.seed, cfg.predict.seed) == (5, 5, 5, 5)
    cfg = load_config("smoke", sets=["run.seed=5", "train.seed=2"])
    assert (cfg.build.seed, cfg.train.seed) == (5, 2)
    f = tmp_path / "seeds.toml"
    f.write_text("[train]\nseed = 3\n[run]\nseed = 4\n")  # one layer: its own train.seed stays
    cfg = load_config(files=[f])
    assert (cfg.run.seed, cfg.build.seed, cfg.train.seed) == (4, 4, 3)
    assert override(load_config("smoke"), ["run.seed=6"]).build.seed == 6
    write_config(cfg, tmp_path / "config.toml")  # a written config reads back with its seeds as they were
    assert read_config(tmp_path / "config.toml") == cfg
    again = load_config(files=[tmp_path / "config.toml"], sets=["run.seed=8"])  # a rerun reseeded
    assert (again.build.seed, again.train.seed, again.predict.seed) == (8, 8, 8)


def test_vote_is_a_section_with_every_field_of_vote_config():
    from arc_pipeline.solver.vote import VoteConfig

    assert SECTIONS["vote"] is VoteConfig
    cfg = load_config("smoke")
    assert cfg.vote == VoteConfig()
    field = next(f for f in dataclasses.fields(VoteConfig) if f.name == "top_k")
    assert load_config(sets=["vote.top_k=4"]).vote.top_k == 4 != field.default
    with pytest.raises(ArcError, match="valid keys"):
        load_config(sets=["vote.nope=1"])


def test_every_section_is_typed_on_the_root():
    import typing

    from arc_pipeline.config import PipelineConfig

    hints = typing.get_type_hints(PipelineConfig)
    cfg = load_config("smoke")
    for name, cls in SECTIONS.items():
        assert hints[name] is cls and isinstance(getattr(cfg, name), cls)
    with pytest.raises(TypeError, match="PipelineConfig.train must be a TrainConfig"):
        dataclasses.replace(cfg, train=cfg.model)


@pytest.mark.parametrize("setting,named", [("vote.top_k=1", "vote.top_k = 1"),
                                           ("predict.threshold=1.5", "predict.threshold = 1.5")])
def test_vote_and_predict_values_are_named_with_their_range(setting, named):
    with pytest.raises(ArcError, match="out of range; valid") as e:
        load_config("smoke", sets=[setting])
    assert named in str(e.value)


def test_run_seed_reruns_ingest_and_seed_zero_fingerprints_as_before():
    from arc_pipeline.stages.runner import fingerprints

    base, seeded = fingerprints(load_config("smoke")), fingerprints(load_config("smoke", sets=["run.seed=3"]))
    assert all(base[s] != seeded[s] for s in base)  # ingest (RE-ARC pool cuts) and everything after it
    assert fingerprints(load_config("smoke", sets=["run.seed=0"])) == base


def test_stage_fingerprints_of_the_shipped_presets_are_those_of_main_b23f0b3():
    """Run directories written before issues 12 and 15 still resume: every preset that existed then
    fingerprints every stage as it did (tests/data/config_pins/fingerprints.json, taken on b23f0b3),
    except smoke from train on: issue 26 made it train a fixed 1,500 steps with uniform sampling (its
    ingest and build fingerprints are still b23f0b3's)."""
    import json

    from arc_pipeline.stages.runner import fingerprints

    pinned = json.loads((PINS / "fingerprints.json").read_text())
    for name, stages in pinned.items():
        assert fingerprints(load_config(name)) == stages, name


def test_a_key_added_later_is_hashed_once_it_is_set():
    from arc_pipeline.stages.runner import fingerprints

    base = fingerprints(load_config("smoke"))
    for key in ("model.conv_kernel=2", "model.recursion=urm", "train.muon=trunk"):
        changed = fingerprints(load_config("smoke", sets=[key]))
        assert changed["build"] == base["build"] and changed["train"] != base["train"], key
