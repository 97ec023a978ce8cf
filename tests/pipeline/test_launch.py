"""Launching distributed stages (pipeline.launch): torchrun's command line on one node and many, the
signal path (a real SIGTERM passed on to a process group, waited for, exit 143), the device checks,
the [run] settings for many nodes, and the run-directory handshake between two gloo ranks."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.config import load_config, override
from arc_pipeline import launch


def _cfg(*sets):
    return load_config("smoke", sets=list(sets))


def test_one_node_is_standalone_and_many_nodes_meet_at_node_0():
    one = launch._torchrun(_cfg("run.devices=2", "train.global_batch=64"), host=True, join_timeout=60)
    assert "--standalone" in one and "--nproc_per_node=2" in one and not any("rdzv" in a for a in one)
    cfg = _cfg("run.devices=2", "run.nnodes=3", "run.node_rank=0", 'run.rdzv_endpoint="n0:29500"', "train.global_batch=60")
    host = launch._torchrun(cfg, host=True, join_timeout=900)
    assert "--standalone" not in host and "--nnodes=3" in host and "--rdzv_backend=c10d" in host
    assert "--rdzv_endpoint=n0:29500" in host and "--rdzv_conf=is_host=1,join_timeout=900" in host
    other = launch._torchrun(cfg, host=False, join_timeout=30)
    assert "--rdzv_conf=is_host=0,join_timeout=30" in other  # node 0 alone hosts the rendezvous store
    assert launch.world_size(cfg) == 6 and launch.distributed(cfg)
    assert launch._env()["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == str(launch.SHUTDOWN_GRACE_S)  # room for the checkpoint


def test_many_nodes_need_an_endpoint_and_a_node_rank_in_range():
    with pytest.raises(ArcError, match="rdzv_endpoint"):
        _cfg("run.nnodes=2")
    with pytest.raises(ArcError, match="node_rank = 2 with run.nnodes = 2"):
        _cfg("run.nnodes=2", "run.node_rank=2", 'run.rdzv_endpoint="n0:29500"')
    # the global batch is split over every process of every node
    with pytest.raises(ArcError, match="run.devices 2 x run.nnodes 3 = 6 processes"):
        _cfg("run.devices=2", "run.nnodes=3", 'run.rdzv_endpoint="n0:29500"', "train.global_batch=64")
    cfg = _cfg("run.devices=2", "run.nnodes=2", "run.node_rank=1", 'run.rdzv_endpoint="n0:29500"', "train.global_batch=64")
    assert launch.follower(cfg) and not launch.follower(override(cfg, ["run.node_rank=0"]))


def test_device_checks_refuse_one_numbered_gpu_for_many_processes_and_more_processes_than_gpus(monkeypatch):
    from arc_pipeline.solver.device import processes_fit, resolve_device

    assert processes_fit("cpu", 8, gpus=0) == "" and processes_fit("auto", 4, gpus=0) == ""  # CPU processes
    assert processes_fit("auto", 4, gpus=4) == "" and processes_fit("cuda", 2, gpus=4) == ""
    assert "every process on GPU 0" in processes_fit("cuda:0", 4, gpus=4)
    assert processes_fit("cuda:1", 1, gpus=4) == ""  # one process may pick its GPU
    assert "4 processes on this node but 2 GPU(s)" in processes_fit("auto", 4, gpus=2)
    assert "no CUDA device" in processes_fit("cuda", 1, gpus=0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # what torchrun sets: a numbered GPU is refused before use
    with pytest.raises(ArcError, match="every process on GPU 0"):
        resolve_device("cuda:0", local_rank=2)


_CHILD = """
import signal, sys, time, pathlib
out = pathlib.Path(sys.argv[1])
def bye(signum, frame):
    time.sleep(1.0)  # a checkpoint being written: the parent must wait for it
    out.write_text(str(signum))
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
out.with_suffix(".up").write_text("up")
while True:
    time.sleep(0.05)
"""


def test_a_sigterm_to_the_command_reaches_the_process_group_and_is_waited_for(tmp_path):
    marker = tmp_path / "child.txt"
    argv = [sys.executable, "-c", _CHILD, str(marker)]

    def send_when_up():
        for _ in range(400):
            if marker.with_suffix(".up").exists():
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` or a container stop does to the command

    threading.Thread(target=send_when_up, daemon=True).start()
    before = signal.getsignal(signal.SIGTERM)
    t0 = time.time()
    with pytest.raises(launch.Signalled) as err:
        launch.run_group(argv, dict(os.environ), "a test stage", poll_s=0.05)
    assert err.value.exit_code == 143 and "SIGTERM during a test stage" in str(err.value)
    assert marker.read_text() == str(int(signal.SIGTERM))  # the child got it and finished its work first
    assert time.time() - t0 >= 1.0
    assert signal.getsignal(signal.SIGTERM) is before


def _handshake_worker(rank: int, world: int, dirs: list[str], out: str) -> None:
    import json
    from pathlib import Path

    from arc_pipeline.solver.device import join_process_group

    join_process_group()
    result = {}
    told = {"stage": "train", "sets": ["train.steps=3"], "session": "s1"} if rank == 0 else None
    result["shared"] = launch.handshake(Path(dirs[0]), told)  # rank 1 is told by rank 0
    try:
        launch.handshake(Path(dirs[rank]), told)  # rank 1 looks at a directory of its own
        result["unshared"] = "no error"
    except ArcError as e:
        result["unshared"] = str(e)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))


def test_handshake_hands_node_0s_stage_to_every_rank_and_refuses_a_run_directory_not_shared(tmp_path, gloo_ranks):
    import json

    dirs = [str(tmp_path / "shared"), str(tmp_path / "elsewhere")]
    gloo_ranks(_handshake_worker, 2, dirs, str(tmp_path))
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert r1["shared"]["stage"] == "train" and r1["shared"]["sets"] == ["train.steps=3"] and r1["shared"]["session"] == "s1"
    assert r0["shared"]["nonce"] == r1["shared"]["nonce"]
    for r in (r0, r1):  # every rank fails alike, naming who cannot see the file
        assert "not shared" in r["unshared"] and "elsewhere" in r["unshared"] and "shared directory" in r["unshared"]
    assert not any((tmp_path / "shared" / launch.DIST_DIR).glob("nonce-*"))  # the probe is cleaned up
