"""One import root: the distribution installs `arc_pipeline` only, mapped from the repository's folders."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"pipeline": "arc_pipeline", "arc": "arc_pipeline.arc", "augment": "arc_pipeline.augment",
           "solver": "arc_pipeline.solver", "submissions": "arc_pipeline.submissions"}
OLD_ROOTS = ("arc", "augment", "solver", "pipeline", "submissions")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_package_dir_maps_each_top_level_folder_under_arc_pipeline():
    assert _setuptools()["package-dir"] == {v: k for k, v in FOLDERS.items()}


def test_packages_list_every_folder_with_an_init():
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert sorted(_setuptools()["packages"]) == sorted(found)


def test_no_code_imports_the_old_top_level_names():
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(OLD_ROOTS)})(\.|\s|$)", re.M)
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".git", "build") or rel.parts[:2] == ("arc", "data"):
            continue
        offenders += [f"{rel}: {m.group(0).strip()}" for m in pattern.finditer(path.read_text())]
    assert offenders == []


def test_beside_another_package_named_arc_both_import(tmp_path):
    # arc-py (an ARC community package) ships a top-level `arc`; a stub stands in for it
    stub = tmp_path / "site" / "arc"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("WHO = 'the other arc'\n")
    code = ("import sys, arc, arc_pipeline.arc.load as load, arc_pipeline.cli\n"
            "assert arc.WHO == 'the other arc'\n"
            "assert len(load.load('arc1/training').tasks) == 400\n"
            "leaked = [m for m in ('pipeline', 'solver', 'augment', 'submissions') if m in sys.modules]\n"
            "print(arc.__file__, load.__file__, leaked)\n")
    done = subprocess.run([sys.executable, "-P", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    other, ours, leaked = done.stdout.split(" ", 2)
    assert Path(other).parent == stub and Path(ours).parent == ROOT / "arc" and leaked.strip() == "[]"


@pytest.mark.integration
def test_wheel_holds_only_the_one_root_with_its_data(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("arc_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names}
    assert {r for r in roots if not r.endswith(".dist-info")} == {"arc_pipeline"}
    for need in ("arc_pipeline/__main__.py", "arc_pipeline/presets/smoke.toml", "arc_pipeline/arc/task.py",
                 "arc_pipeline/augment/puzzles/sudoku.py", "arc_pipeline/solver/model.py",
                 "arc_pipeline/submissions/write.py", "arc_pipeline/arc/data/conceptarc/LICENSE"):
        assert need in names
    assert not any(n.startswith("arc_pipeline/tests") for n in names)
    entry = [n for n in names if n.endswith("entry_points.txt")]
    assert "arc-pipeline = arc_pipeline.cli:main" in zipfile.ZipFile(wheel).read(entry[0]).decode()
