import pytest

from arc_pipeline.cli import COMMANDS


@pytest.mark.integration
def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_cli_module_does_not_import_heavy_packages():
    import subprocess
    import sys

    code = "import sys, arc_pipeline.cli; print(sorted(m for m in ('torch','numba','polars') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from arc_pipeline.arc.io import write_text

    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert not list(tmp_path.glob(".a.json.*"))


def test_the_stage_verbs_and_the_kaggle_entrys_stages_are_the_pipeline_in_its_order():
    """Lists written in more than one place (the CLI registry imports no stage; the Kaggle entry runs
    before the package is installed) agree with `PIPELINE`."""
    from arc_pipeline.kaggle_entry import STAGES as KAGGLE
    from arc_pipeline.stages import STAGES

    stage_verbs = [v for v, (module, _, _) in COMMANDS.items() if module.startswith("arc_pipeline.stages.")]
    assert set(stage_verbs) <= set(STAGES) and set(STAGES) <= set(COMMANDS)
    assert [v for v in COMMANDS if v in STAGES] == list(STAGES)  # registry order = pipeline order
    assert tuple(KAGGLE) == STAGES


@pytest.mark.integration
def test_a_stage_verbs_help_is_written_once_in_the_registry(cli):
    import dataclasses

    from arc_pipeline.stages import PIPELINE

    assert "help" not in {f.name for f in dataclasses.fields(PIPELINE[0])}  # the contract holds no help text
    for stage in PIPELINE:
        if stage.name == "score":  # two forms (a run, or a file): its verb's help describes both
            continue
        r = cli(stage.name, "--help")
        assert r.exit_code == 0
        first = COMMANDS[stage.name][2].split(";")[0].split(" (")[0]
        assert " ".join(first.split()) in " ".join(r.output.split()), stage.name
