"""Aug records: the group laws hold exactly and agree with transforming actual grids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc_pipeline.augment.records import DIHEDRAL_COMPOSE, DIHEDRAL_INVERSE, Aug, augs_to_array, dihedral_numpy

augs = st.builds(Aug, st.integers(0, 7), st.permutations(list(range(10))).map(tuple))
grids = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).integers(0, 10, (t[0], t[1]), dtype=np.uint8)
)


def twin(g: np.ndarray, a: Aug) -> np.ndarray:
    return np.asarray(a.colors, dtype=np.uint8)[dihedral_numpy(g, a.dihedral)]


@settings(max_examples=200, deadline=None)
@given(augs, augs, grids)
def test_compose_means_apply_one_after_the_other(a, b, g):
    assert np.array_equal(twin(g, a.compose(b)), twin(twin(g, b), a))


@settings(max_examples=200, deadline=None)
@given(augs, grids)
def test_inverse_undoes_and_is_exact(a, g):
    assert np.array_equal(twin(twin(g, a), a.inverse()), g)
    assert a.compose(a.inverse()) == Aug.identity() == a.inverse().compose(a)
    assert a.inverse().inverse() == a


def test_dihedral_tables_form_the_group_of_order_eight():
    table = DIHEDRAL_COMPOSE
    assert all(sorted(row) == list(range(8)) for row in table)  # Latin square
    assert (table[0] == np.arange(8)).all() and (table[:, 0] == np.arange(8)).all()
    for a in range(8):
        assert table[a, DIHEDRAL_INVERSE[a]] == 0
        for b in range(8):
            for c in range(8):
                assert table[table[a, b], c] == table[a, table[b, c]]
    # quarter turns compose to the half turn; a flip undoes itself; the group is not abelian
    assert table[1, 1] == 2 and DIHEDRAL_INVERSE[1] == 3 and DIHEDRAL_INVERSE[5] == 5
    assert table[1, 4] != table[4, 1]


def test_validation_and_identity():
    with pytest.raises(ValueError):
        Aug(8)
    with pytest.raises(ValueError):
        Aug(0, (0, 1, 1, 3, 4, 5, 6, 7, 8, 9))
    with pytest.raises(ValueError):
        Aug(0, tuple(range(9)))
    assert Aug().is_identity and Aug.identity().keeps_background
    assert not Aug(0, (1, 0, 2, 3, 4, 5, 6, 7, 8, 9)).keeps_background
    a = Aug(6, (0, 3, 1, 2, 9, 8, 7, 6, 5, 4))
    assert Aug.from_row(a.to_row()) == a
    assert augs_to_array([a, Aug()]).shape == (2, 11) and augs_to_array([]).shape == (0, 11)
