"""Tracebacks turned into one line (issue 23): a manifest of the wrong shape, a truncated raw
predictions file for `analyze`, a full disk (named file, whichever library was writing)."""

import errno
import os
import subprocess

import pytest

from arc_pipeline.arc.errors import ArcError


@pytest.mark.parametrize("text", ['{"stages": [1, 2]}', "[1]", '{"stages": {"ingest": 3}}', '{"stages": {"ingest": {"x": 1}}}'])
def test_a_manifest_of_the_wrong_shape_is_one_line(tmp_path, text):
    from arc_pipeline.manifest import Manifest

    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ArcError, match="unreadable manifest .*delete it to rerun every stage"):
        Manifest(tmp_path)


def test_a_full_disk_names_the_file_whichever_library_writes(tmp_path, monkeypatch):
    import shutil

    import polars as pl
    import torch

    from arc_pipeline.arc import io
    from arc_pipeline.solver import checkpoint as ckpt

    target = tmp_path / "out.json"
    with pytest.raises(ArcError, match=r"out.json: no space left on the device .*rerun"):
        with io.atomic_path(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert not target.exists() and not list(tmp_path.iterdir())  # no temp file left behind
    with pytest.raises(ArcError, match=r"t.parquet: no space left"):
        with io.atomic_path(tmp_path / "t.parquet"):
            raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1 << 30, 1 << 30, 100))
    monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("unexpected pos 576 vs 534")))
    with pytest.raises(ArcError, match=r"weights.pt: no space left"):
        ckpt._save({}, tmp_path / "weights.pt")
    with pytest.raises(ValueError):  # anything else is not taken for a full disk
        with io.atomic_path(tmp_path / "x"):
            raise ValueError("bad value")


@pytest.mark.integration
def test_the_cli_reports_a_full_disk_in_one_line(monkeypatch, cli, tmp_path):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "somewhere.bin"))

    monkeypatch.setattr("arc_pipeline.arc.load.list_builtins", full)  # a write deep inside a command fails
    res = cli("datasets")
    assert res.exit_code == 1 and "somewhere.bin: no space left on the device" in res.output, res.output


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_on_a_full_disk_ends_in_one_line(tmp_path, tiny_config, cli):
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root and a mountable tmpfs to fill a real disk")
    try:
        res = cli("run", "--config", tiny_config, "--run-dir", mnt / "r")
        assert res.exit_code == 1 and "no space left on the device" in res.output, res.output[-2000:]
        assert res.exception is None or isinstance(res.exception, SystemExit)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.integration
def test_analyze_on_a_truncated_raw_file_is_one_line(tmp_path, tiny_config, cli):
    import polars as pl

    run = tmp_path / "r"
    assert cli("ingest", "--config", tiny_config, "--run-dir", run).exit_code == 0
    raw = run / "predictions_raw.parquet"
    pl.DataFrame({"task_id": ["a"] * 1000, "steps": list(range(1000))}).write_parquet(raw)
    res = cli("analyze", run)  # a parquet without the raw columns
    assert res.exit_code == 1 and "not a readable raw-predictions file" in res.output, res.output
    raw.write_bytes(raw.read_bytes()[: raw.stat().st_size // 2])  # truncated
    res = cli("analyze", run)
    assert res.exit_code == 1 and "not a readable raw-predictions file" in res.output, res.output
