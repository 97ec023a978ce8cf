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
