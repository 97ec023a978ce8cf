"""`arc-pipeline bench augment --json` on a tiny build: the figures are there and plausible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from arc_pipeline.augment.kernels import pack
from arc_pipeline.augment.records import Aug, augs_to_array
from arc_pipeline.bench.augment import cmd, numpy_encode


@pytest.mark.integration
def test_bench_json_has_the_figures():
    args = ["--train", "arc1/evaluation", "--target", "arc2/evaluation", "--augmentations", "3", "--seconds", "0.05", "--json"]
    result = CliRunner().invoke(cmd, args)
    assert result.exit_code == 0, result.output
    r = json.loads(result.output.strip().splitlines()[-1])
    for key in ("build_seconds", "build_peak_rss_gb", "numba_vs_numpy", "loader_examples_per_s"):
        assert r[key] > 0, key
    assert r["build_peak_rss_gb"] < 2 and r["num_puzzles"] > 400 * 2
    assert r["examples"]["test"] >= 167  # every ARC-AGI-2 evaluation test input at least once


def test_numpy_path_writes_eos_and_colours():
    g = np.array([[1, 2]], dtype=np.uint8)
    rows = augs_to_array([Aug(1)])  # rotate: a 2 x 1 column
    inputs, labels = numpy_encode(pack([g]), np.array([0]), np.array([-1]), rows, np.array([[1, 0]]), 4)
    assert inputs[0].reshape(4, 4).tolist() == [[0, 0, 0, 0], [4, 1, 0, 0], [3, 1, 0, 0], [1, 0, 0, 0]]
    assert not labels.any()
