"""The prepared GPU script (.ci/gpu-check.sh) still runs against the code: its dry mode runs every part
on the CPU at toy sizes (about two minutes on the 2-core box), so a change that breaks an import, a flag
of `bench gpu` or a config key the script uses fails here rather than on the one GPU call a session gets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_gpu_check_script_runs_every_part_in_its_dry_mode(tmp_path):
    env = dict(os.environ, GPU_CHECK_DRY="1", GPU_CHECK_BUDGET_S="1200", PY=sys.executable, TMPDIR=str(tmp_path),
               OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")  # a wide budget: no part skipped on a busy box
    done = subprocess.run(["bash", str(ROOT / ".ci" / "gpu-check.sh"), str(ROOT)], env=env, capture_output=True,
                          text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    figures = {line["figure"] for line in lines}
    assert {"env", "bench_gpu_train_eager", "bench_gpu_infer", "bench_gpu_e2e", "probe_train_compiled",
            "probe_compile_logs", "small_run", "summary"} <= figures, sorted(figures)
    summary = lines[-1]
    assert summary["figure"] == "summary" and summary["dry"] == 1
    assert {k: v for k, v in summary.items() if k.startswith("rc_")} == {
        "rc_env": 0, "rc_bench_gpu": 0, "rc_probe": 0, "rc_small_run": 0}
    logs = next(line for line in lines if line["figure"] == "probe_compile_logs")
    assert (logs["recompiles"], logs["graph_break_sites"]) == (0, [])  # the compiled step, as the script sees it
