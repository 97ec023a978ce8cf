"""Every configuration example the README and docs/*.md show loads: each ```toml block (as a --config
file) and each `--set` of an `arc-pipeline run|<stage>|config|bundle|bench learn` command line, driven through
`arc-pipeline config` (the config a run would use, checked; nothing runs). A new example in any of
those files is picked up here."""

import re
import shlex
from pathlib import Path

import pytest

from arc_pipeline.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
pytestmark = pytest.mark.integration
CONFIG_VERBS = {"run", "config", "bundle"} | {v for v, (_, attr, _) in COMMANDS.items() if attr == "STAGE"}


def _toml_blocks() -> list[tuple[str, str]]:
    return [(f"{p.name}:{i}", b) for p in DOCS
            for i, b in enumerate(re.findall(r"```toml\n(.*?)```", p.read_text(), flags=re.S))]


def _set_commands() -> list[tuple[str, list[str]]]:
    """(where, config args) for each shown command line with --set, --preset or --devices."""
    out = []
    for p in DOCS:
        text = p.read_text().replace("\\\n", " ")
        lines = [ln for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S) for ln in block.splitlines()]
        lines += re.findall(r"`(arc-pipeline [^`]*)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for line in lines:
            if "arc-pipeline " not in line or "..." in line:
                continue
            words = shlex.split(line[line.index("arc-pipeline "):].split("  #")[0])[1:]
            learn = words[:2] == ["bench", "learn"]  # its --set are config keys over sudoku6 and each variant
            if not words or (words[0] not in CONFIG_VERBS and not learn):
                continue
            args, preset = [], "sudoku6" if learn else "smoke"
            for flag, value in zip(words, words[1:]):
                if flag == "--set":
                    args += ["--set", value]
                elif flag == "--preset":
                    preset = value
                elif flag == "--devices":
                    args += ["--set", f"run.devices={value}"]
                elif flag == "--config" and value.startswith("variants/"):  # a shipped overlay
                    args += ["--config", value]
                elif flag == "--variants" and learn:
                    args += [a for v in value.split(",") for a in ("--config", f"variants/{v.strip()}")]
            if args or preset not in ("smoke", "sudoku6"):
                out.append((f"{p.name}: {' '.join(words)}", ["--preset", preset, *args]))
    return out


def test_the_docs_show_configuration_examples():
    assert _toml_blocks() and len(_set_commands()) >= 10


@pytest.mark.parametrize("where,block", _toml_blocks(), ids=[w for w, _ in _toml_blocks()])
def test_every_toml_example_loads(cli, tmp_path, where, block):
    f = tmp_path / "example.toml"
    f.write_text(block)
    preset = [] if re.search(r"^extends\s*=", block, flags=re.M) else ["--preset", "smoke"]
    r = cli("config", *preset, "--config", f)
    assert r.exit_code == 0, f"{where}: {r.output}"


@pytest.mark.parametrize("where,args", _set_commands(), ids=[w for w, _ in _set_commands()])
def test_every_set_example_loads(cli, where, args):
    r = cli("config", *args)
    assert r.exit_code == 0, f"{where}: {r.output}"
