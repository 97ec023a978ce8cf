"""`bench gpu`: refuses without a GPU; every piece runs at toy sizes with --device cpu --dry."""

from __future__ import annotations

import json

import pytest

from arc_pipeline.bench.gpu import bf16_peak
from arc_pipeline.solver.device import gpu_available

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.integration
@pytest.mark.skipif(gpu_available(), reason="a GPU is visible")
def test_without_a_gpu_it_refuses_and_names_the_dry_mode(cli):
    out = cli("bench", "gpu")
    assert out.exit_code == 1
    assert "needs a GPU" in out.output and "--device cpu --dry" in out.output


def test_peak_table_matches_the_most_specific_name():
    assert bf16_peak("NVIDIA H100 PCIe") == 756.0 and bf16_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert bf16_peak("NVIDIA L40S") == 362.0 and bf16_peak("NVIDIA L4") == 121.0
    assert bf16_peak("Tesla T4") is None  # no bf16 tensor cores: no bf16 peak to divide by


@pytest.mark.integration
def test_dry_mode_runs_every_piece_on_the_cpu(cli):
    out = cli("bench", "gpu", "--device", "cpu", "--dry", "--json", "--steps", "1")
    assert out.exit_code == 0, out.output
    r = json.loads(out.output)
    assert r["dry"] and r["device"] == "cpu"
    t = r["train_eager"]
    assert t["examples_per_s"] > 0 and t["batch"] == 8 and t["micro_batch"] == 8  # auto on the CPU: the whole batch
    assert t["warmup_steps"] >= 3  # timing starts past step 2 (a compile's step-2 recompile is never timed)
    assert "train_compiled" not in r and any("train_compiled" in s for s in r["skipped"])
    i = r["infer"]
    assert i["predictions_per_s_halt_off"] > 0 and i["mean_steps_halt_off"] == 4.0
    e = r["e2e"]
    assert e["train_steps"] == 3 and "score" in e["stages"] and e["outputs"] > 0


@pytest.mark.integration
@pytest.mark.gpu
def test_on_a_gpu_the_arc_figures_come_out(cli):  # not yet run: no GPU was lent when this was written
    out = cli("bench", "gpu", "--json", "--steps", "1", "--no-compile", "--budget-s", "1")
    assert out.exit_code == 0, out.output
    t = json.loads(out.output)["train_eager"]
    assert t["batch"] == 768 and 768 % t["micro_batch"] == 0 and t["peak_memory_gib"] > 0
