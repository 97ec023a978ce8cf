"""arc.fields: a field's check says what is wrong in one sentence naming key, value and what is valid."""

import dataclasses
import math

from arc_pipeline.arc.fields import COUNT, UNIT, Each, Range, Rule, at_least, check_of, help_of, option, problems


def test_range_bounds_open_closed_extra_values_and_finiteness():
    r = Range(0.0, 1.0, lo_open=True, also=(-1,))
    assert r.valid == "(0, 1] or -1"
    assert r.problem("k", 1.0) is None and r.problem("k", -1) is None
    assert r.problem("k", 0.0) == "k = 0.0: out of range; valid: (0, 1] or -1"
    assert r.problem("k", math.nan) == "k = nan: not a finite number; valid: (0, 1] or -1"
    assert Range(finite=False).problem("k", math.inf) is None
    assert COUNT.problem("k", "text") is None and COUNT.problem("k", True) is None  # typed elsewhere
    assert at_least(0, also=("auto",)).problem("k", "auto") is None


def test_each_checks_every_item_and_shows_the_whole_list():
    assert Each(UNIT).problem("betas", (0.9, 1.5)) == "betas = [0.9, 1.5]: out of range; valid: [0, 1)"
    assert Each(UNIT).problem("betas", (0.9, 0.95)) is None


def test_rule_and_problems_read_the_field_metadata():
    even = Rule("an even number", lambda v: None if v % 2 == 0 else "odd; valid: an even number")

    @dataclasses.dataclass(frozen=True)
    class Section:
        n: int = option(2, "how many", even)
        free: str = option("x", "anything")

    n, free = dataclasses.fields(Section)
    assert help_of(n) == "how many" and check_of(n) is even and check_of(free) is None
    assert problems(Section(), "sec") == []
    assert problems(Section(n=3), "sec") == ["sec.n = 3: odd; valid: an even number"]
