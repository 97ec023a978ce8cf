"""Every `arc-pipeline ...` form the README and docs/*.md show parses against the CLI: the verb exists and
takes those options and arguments (what each one computes is tested where it is built)."""

import re
import shlex
from pathlib import Path

import click
import pytest

from arc_pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[str]:
    text = "\n".join(p.read_text() for p in DOCS)
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "arc-pipeline " in line and "pip install 'arc-pipeline" not in line:
                found.append(line[line.index("arc-pipeline "):].split("  #")[0].strip())
    prose = re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " ")
    found += [m.strip() for m in re.findall(r"`(arc-pipeline [^`]*)`", prose)]
    out = []
    for cmd in dict.fromkeys(found):
        if "..." in cmd:  # an elided form
            continue
        words = shlex.split(cmd)[1:]
        verbs = words[0].split("|") if not words[0].startswith("-") else [words[0]]
        out += [" ".join(["arc-pipeline", v, *map(shlex.quote, words[1:])]) for v in verbs]
    return out


COMMANDS = readme_commands()


def test_the_readme_shows_the_main_forms():
    verbs = {c.split()[1] for c in COMMANDS}
    assert {"run", "ingest", "score", "report", "validate", "bench", "generate", "bundle"} <= verbs
    assert any(c.startswith("arc-pipeline score --run-dir") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command):
    args = shlex.split(command)[1:]
    root = main.make_context("arc-pipeline", list(args), resilient_parsing=True)
    cmd, name, rest = main, "arc-pipeline", list(args)
    if rest[0].startswith("-"):  # an option of arc-pipeline itself (--version): parsed above
        return
    while isinstance(cmd, click.Group):
        name, rest = rest[0], rest[1:]
        cmd = cmd.get_command(root, name)
        assert cmd is not None, f"{command}: no command {name!r}"
        assert "unavailable" not in (cmd.help or ""), cmd.help
        if isinstance(cmd, click.Group):
            continue
    try:
        cmd.make_context(name, rest, parent=root)
    except click.BadParameter as e:
        if "does not exist" not in e.format_message():  # the README's paths are examples
            pytest.fail(f"README form `{command}` does not parse: {e.format_message()}")
    except click.UsageError as e:
        pytest.fail(f"README form `{command}` does not parse: {e.format_message()}")
