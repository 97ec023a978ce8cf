"""`arc-pipeline --version`, `presets` and `config` (the resolved config printed, nothing run), and the
hint an unknown key gets when it is the reference TRM's name."""

import tomllib
from importlib.metadata import version

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import load_config, preset_header, preset_names, read_config


@pytest.mark.integration
def test_version_is_the_installed_distributions(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.output.strip() == f"arc-pipeline, version {version('arc-pipeline')}"


@pytest.mark.parametrize("name", preset_names(), ids=lambda n: f"preset:{n}")
def test_every_preset_header_is_its_command_then_a_one_line_summary(name):
    header = preset_header(name)
    assert header[0].startswith(f"arc-pipeline run --preset {name}"), header[0]
    assert header[1].endswith(".") and 20 <= len(header[1]) <= 110, header[1]


@pytest.mark.integration
def test_presets_lists_every_preset_with_its_summary_one_line_each(cli):
    from arc_pipeline.config.presets import variant_names, variant_summary

    r = cli("presets")
    assert r.exit_code == 0
    presets, variants = r.output.strip().split("\n\n")
    lines = presets.splitlines()
    assert [line.split()[0] for line in lines] == preset_names()
    for line, name in zip(lines, preset_names()):
        assert line.split(None, 1)[1] == preset_header(name)[1]
    lines = variants.splitlines()[1:]  # after the line that says how to use them
    assert [line.split()[0] for line in lines] == [f"variants/{n}" for n in variant_names()]
    assert [line.split(None, 1)[1] for line in lines] == [variant_summary(n) for n in variant_names()]


@pytest.mark.integration
def test_config_prints_the_resolved_config_and_runs_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "mine.toml"
    f.write_text("[train]\nlr = 0.5\n")
    r = cli("config", "--preset", "smoke", "--config", f, "--set", "train.steps=7", "--set", "model.hidden=32")
    assert r.exit_code == 0, r.output
    (tmp_path / "printed.toml").write_text(r.output)
    printed = read_config(tmp_path / "printed.toml")
    assert printed == load_config("smoke", [f], ["train.steps=7", "model.hidden=32"])
    assert printed.train.lr == 0.5 and printed.train.steps == 7
    assert "# N_sup: supervision steps per example (valid: [1, inf))\nmax_steps = 4" in r.output  # help from option()
    assert list(tmp_path.iterdir()) == [f, tmp_path / "printed.toml"]  # no run directory, nothing else written
    bare = cli("config", "--preset", "smoke", "--bare")
    assert bare.exit_code == 0 and not [x for x in bare.output.splitlines()[1:] if x.startswith("#")]
    assert tomllib.loads(bare.output) == tomllib.loads(cli("config", "--preset", "smoke").output)


@pytest.mark.integration
def test_config_refuses_a_bad_value_in_one_line(cli):
    r = cli("config", "--preset", "smoke", "--set", "train.muon_lr=-1")
    assert r.exit_code == 1 and "train.muon_lr = -1.0: out of range; valid: [0, inf)" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("setting,ours", [
    ("arch.H_cycles=3", "model.n_recursions"),
    ("arch.L_cycles=6", "model.n_latent"),
    ("arch.halt_max_steps=8", "model.max_steps"),
    ("arch.puzzle_emb_ndim=512", "model.puzzle_emb_len"),
    ("arch.hidden_size=64", "model.hidden"),
    ("arch.num_heads=2", "model.heads"),
    ("H_cycles=3", "model.n_recursions"),
    ("+arch.L_layers=4", "model.layers"),
    ("global_batch_size=8", "train.global_batch"),
    ("lr=1e-3", "train.lr"),
    ("train.puzzle_emb_lr=1e-2", "train.puzzle_lr"),
    ("train.ema_rate=0.99", "train.ema"),
    ("train.weight_decay_x=1", None),  # not a reference name: no hint
    ("epochs=10", "train.epochs"),
])
def test_a_reference_name_says_which_key_it_is_here(setting, ours):
    with pytest.raises(ArcError) as e:
        load_config("smoke", sets=[setting])
    msg = str(e.value)
    assert "\n" not in msg
    if ours is None:
        assert "reference TRM" not in msg
    else:
        assert "is the reference TRM's name: here it is " + ours in msg


def test_a_reference_name_in_a_file_says_which_key_it_is_here(tmp_path):
    for text, ours in (("[arch]\nH_cycles = 3\n", "model.n_recursions"), ("lr = 1e-3\n", "train.lr"),
                       ("[model]\nhalt_max_steps = 8\n", "model.max_steps")):
        (tmp_path / "ref.toml").write_text(text)
        with pytest.raises(ArcError, match=f"here it is {ours}"):
            load_config("smoke", files=[tmp_path / "ref.toml"])


def test_the_hint_table_agrees_with_the_reference_import_on_its_fixture():
    """The `arch` names the hint maps to [model] keys are the ones solver.reference reads into ModelConfig."""
    from pathlib import Path

    from arc_pipeline.config.names import REFERENCE_NAMES
    from arc_pipeline.solver.reference import model_config, read_yaml

    fixture = Path(__file__).parents[1] / "data" / "reference_trm" / "all_config.yaml"
    arch = read_yaml(fixture.read_text(), str(fixture))["arch"]
    cfg = model_config(arch, seq_len=10, num_puzzles=3, vocab_size=12, origin="fixture")
    checked = 0
    for name, value in arch.items():
        ours = REFERENCE_NAMES.get(name, "")
        key = ours.split()[0] if ours.startswith("model.") else None
        if key and not isinstance(value, bool) and name != "puzzle_emb_ndim":
            assert getattr(cfg, key.removeprefix("model.")) == value, (name, key)
            checked += 1
    assert checked >= 8
