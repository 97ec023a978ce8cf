"""SIGTERM inside solver.train.train: the step in flight ends, a checkpoint is written at once, the
call raises Preempted (exit status 143 at the CLI), and a second call resumes with no step repeated."""

from __future__ import annotations

import json
import os
import signal

import pytest

from arc_pipeline.solver import ckpt_folder
from arc_pipeline.solver.preempt import Preempted
from arc_pipeline.solver.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sigterm_checkpoints_the_step_in_flight_and_the_next_call_resumes(tmp_path, cpu_runtime, toy_configs, toy_source):
    mcfg, tcfg = toy_configs(steps=8, log_every=1, checkpoint_every=0, eval_every=0)
    before = signal.getsignal(signal.SIGTERM)

    def kill_at_step_3(row):
        if row["step"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives between steps, like a scheduler's notice

    src, val = toy_source(), toy_source(8, seed=1)
    # the signal lands while step 3 is being logged; the flag is read after the next step
    with pytest.raises(Preempted, match="SIGTERM at step 4 of 8") as err:
        train(mcfg, tcfg, src, tmp_path / "ckpt", on_metrics=kill_at_step_3, val_source=val, runtime=cpu_runtime)
    assert err.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is ours only while training
    assert ckpt_folder.latest(tmp_path / "ckpt").name == "step_00000004"
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and "val_exact" not in rows[-1]  # saved at once, no evaluation

    res = train(mcfg, tcfg, src, tmp_path / "ckpt", val_source=val, runtime=cpu_runtime)
    assert res.stopped == "steps" and res.step == 8 and res.val is not None
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))  # none repeated, none lost


def test_sigterm_while_the_first_step_compiles_abandons_it_at_once(tmp_path, cpu_runtime, toy_configs, toy_source, monkeypatch):
    """A compile takes minutes, longer than a scheduler's notice: a SIGTERM during it stops the run at
    once (nothing to save: no step since the last checkpoint) instead of after the compiled step."""
    import time

    import torch

    mcfg, tcfg = toy_configs(steps=4, compile=True, log_every=1, eval_every=0, checkpoint_every=0)
    real = torch.compile
    compiled = []

    def backend(gm, example_inputs):  # the compiler, mid-compile, when the notice comes
        compiled.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # a long compile: the handler must cut it short
        return gm.forward

    monkeypatch.setattr(torch, "compile", lambda model, **kw: real(model, backend=backend, **kw))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted, match="SIGTERM while step 1 of 4 was compiling") as err:
        train(mcfg, tcfg, toy_source(), tmp_path / "ckpt", runtime=cpu_runtime)
    assert len(compiled) == 1 and time.monotonic() - compiled[0] < 4.5  # abandoned inside the compile, not after it
    assert err.value.exit_code == 143 and signal.getsignal(signal.SIGTERM) is before
    assert ckpt_folder.latest(tmp_path / "ckpt") is None and not (tmp_path / "metrics.jsonl").exists()
