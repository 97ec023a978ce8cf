"""Many nodes and signals through the real command, on the CPU (gloo), tiny configuration.

Two `arc-pipeline run` processes with `--devices 1 --nnodes 2 --node-rank 0|1 --rdzv-endpoint
127.0.0.1:PORT` on one run directory train and predict as `--devices 2` on one node does: the same
losses at every logged step and the same submission. A SIGTERM to the command of a `--devices 2`
run reaches torchrun and its workers: they checkpoint the step in flight, the command waits for
them and exits 143, no process is left, the lock is free, and the same command resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _command(config: Path, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "arc_pipeline", "run", "--config", str(config), "--run-dir", str(run_dir), *extra]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")


def _losses(run_dir: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_two_nodes_of_one_process_train_and_predict_as_one_node_of_two(tmp_path, tiny_config, free_port):
    config = tiny_config
    one = tmp_path / "one_node"
    done = subprocess.run(_command(config, one, "--devices", "2"), env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    two = tmp_path / "two_nodes"
    endpoint = f"127.0.0.1:{free_port}"
    nodes = [subprocess.Popen(_command(config, two, "--devices", "1", "--nnodes", "2", "--node-rank", str(k),
                                       "--rdzv-endpoint", endpoint), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for k in (1, 0)]  # the follower may start first
    outs = [p.communicate(timeout=900)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], "\n".join(o[-3000:] for o in outs)
    assert "following node 0" in outs[0] and "node 0 ended with exit status 0" in outs[0]

    manifest = json.loads((two / "manifest.json").read_text())["stages"]
    train, predict = manifest["train"]["summary"], manifest["predict"]["summary"]
    assert (train["devices"], train["nnodes"], train["step"]) == (2, 2, 6)  # rank 0's own summary reaches node 0's manifest
    assert predict["devices"] == 2 and predict["predictions"] == predict["of"]
    assert _losses(two) == _losses(one) and len(_losses(one)) >= 3
    assert json.loads((two / "submission.json").read_text()) == json.loads((one / "submission.json").read_text())
    assert not (two / "run.lock").read_text().strip()  # released


def _alive(marker: str) -> list[int]:
    """Processes whose command line names `marker` (the run directory)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if marker in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(p.name))
            except OSError:
                continue
    return pids


def test_sigterm_to_the_command_checkpoints_every_rank_exits_143_and_the_rerun_resumes(tmp_path, tiny_config):
    run = tmp_path / "run"
    steps = 300
    cmd = _command(tiny_config, run, "--devices", "2", "--set", f"train.steps={steps}", "--set", "train.checkpoint_every=0")
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    proc.send_signal(signal.SIGTERM)  # the command alone, as `kill PID` or a container stop
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 143, out[-3000:]
    assert _alive(str(run)) == []  # torchrun and both workers are gone before the command exits
    from arc_pipeline.rundir import RunDir
    from arc_pipeline.solver import ckpt_folder

    with RunDir(run).lock():  # free
        pass
    saved = int(ckpt_folder.read_meta(run / "checkpoints")["step"])
    logged = [s for s, _ in _losses(run)]
    assert saved == logged[-1] and 3 <= saved < steps  # every rank stopped at the same step and saved it
    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    assert manifest["train"]["status"] == "failed" and "SIGTERM" in manifest["train"]["note"]

    again = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert [s for s, _ in _losses(run)] == list(range(1, steps + 1))  # resumed where it stopped: none repeated, none lost
