"""kill -9 in the middle of training, then rerun: the run resumes from the last checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.integration
def test_sigkill_mid_training_then_rerun_resumes(tmp_path, tiny_config, cli):
    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    args = ["run", "--config", str(tiny_config), "--run-dir", str(run_dir),
            "--set", "train.steps=12", "--set", "train.checkpoint_every=2"]
    proc = subprocess.Popen([sys.executable, "-m", "arc_pipeline", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=tmp_path)
    latest = run_dir / "checkpoints" / "latest"
    try:
        deadline = time.time() + 120
        while not latest.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert latest.exists(), "no checkpoint appeared before the run ended"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    first = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert first["train"]["status"] == "running"  # killed inside the stage
    assert "predict" not in first
    killed_at = int(latest.read_text().strip().removeprefix("step_"))
    assert 2 <= killed_at < 12

    result = cli("run", "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    after = json.loads((run_dir / "manifest.json").read_text())["stages"]
    for stage in ("ingest", "build"):  # cached, not redone
        assert after[stage]["start"] == first[stage]["start"]
    train = after["train"]["summary"]
    assert after["train"]["status"] == "done" and train["step"] == 12
    assert train["resumed_from"] >= killed_at  # continued from the checkpoint, not from step 0
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert steps.count(1) == 1  # step 1 was trained once
    assert max(steps) == 12
    target = load(str(run_dir / "tasks" / "target.json"))
    assert validate(run_dir / "submission.json", target) == []
    assert {"micro", "macro", "tasks_solved", "outputs"} <= set(json.loads((run_dir / "score.json").read_text()))


@pytest.mark.integration
def test_sigterm_mid_training_checkpoints_at_once_and_the_rerun_repeats_no_step(tmp_path, tiny_config, cli):
    run_dir = tmp_path / "run"
    args = ["run", "--config", str(tiny_config), "--run-dir", str(run_dir),
            "--set", "train.steps=120", "--set", "train.checkpoint_every=0", "--set", "train.log_every=1"]
    proc = subprocess.Popen([sys.executable, "-m", "arc_pipeline", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=tmp_path, text=True)
    metrics = run_dir / "metrics.jsonl"
    try:
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and (
                not metrics.exists() or len(metrics.read_text().splitlines()) < 2):
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be signalled"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "SIGTERM at step" in err
    first = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert first["train"]["status"] == "failed" and "predict" not in first
    saved = int((run_dir / "checkpoints" / "latest").read_text().strip().removeprefix("step_"))
    logged = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert saved == logged[-1] < 120  # the checkpoint is of the step in flight (checkpoint_every is off)

    result = cli("run", "--run-dir", str(run_dir))
    assert result.exit_code == 0, result.output
    train = json.loads((run_dir / "manifest.json").read_text())["stages"]["train"]
    assert train["status"] == "done" and train["summary"]["step"] == 120 and train["summary"]["resumed_from"] == saved
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines() if line.strip()]
    assert steps == list(range(1, 121))  # every step once: none repeated, none lost
