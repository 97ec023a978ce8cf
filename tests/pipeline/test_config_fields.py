"""Every config field declares its type, help and check in one place (`arc.fields.option`), and the
loader, the relations and the TOML writer read them from there."""

import dataclasses
import typing

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.fields import Check, check_of, help_of
from arc_pipeline.config import SECTIONS, load_config


def _fields():
    for name, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            yield name, f, hints[f.name]


def _numeric(hint) -> bool:
    args = typing.get_args(hint)
    return hint in (int, float) or any(a in (int, float) for a in args) or (
        typing.get_origin(hint) is tuple and any(_numeric(a) for a in args if a is not Ellipsis))


@pytest.mark.parametrize("name,f,hint", [pytest.param(*t, id=f"{t[0]}.{t[1].name}") for t in _fields()])
def test_every_field_has_help_and_every_numeric_field_a_check(name, f, hint):
    assert help_of(f).strip(), f"{name}.{f.name} has no help: declare it with option(default, help, check)"
    if _numeric(hint):
        assert isinstance(check_of(f), Check), f"{name}.{f.name} is a number without a check"
    check = check_of(f)
    if check is not None:  # the default passes its own check and the check says what is valid
        assert check.problem(f"{name}.{f.name}", f.default) is None and check.valid


def test_a_negative_value_is_refused_for_every_field_whose_check_refuses_it():
    """Every numeric field: the loader refuses a value its check refuses, naming key and what is valid."""
    for name, f, hint in _fields():
        check = check_of(f)
        if hint not in (int, float) or check is None or check.problem("k", -7) is None:
            continue
        with pytest.raises(ArcError, match=rf"{name}\.{f.name} = -7(\.0)?: out of range; valid"):
            load_config("smoke", sets=[f"{name}.{f.name}=-7"])


def test_section_constructors_no_longer_check_a_loaded_config_does():
    """One place: a dataclass builds with any typed value (tests build odd ones on purpose); load refuses it."""
    from arc_pipeline.solver.vote import VoteConfig

    assert VoteConfig(top_k=1).top_k == 1
    with pytest.raises(ArcError, match=r"vote.top_k = 1: out of range; valid: \[2, inf\)"):
        load_config(sets=["vote.top_k=1"])


def test_the_explained_toml_carries_each_fields_help_and_reads_back_identical(tmp_path):
    from arc_pipeline.config import read_config, to_toml

    cfg = load_config("smoke")
    text = to_toml(cfg, explain=True)
    assert "# examples per optimizer step, over all devices (valid: [1, inf))\nglobal_batch = " in text
    (tmp_path / "c.toml").write_text(text)
    assert read_config(tmp_path / "c.toml") == cfg
