"""Distributed stages under torchrun, on one node or many, and the signals that must reach them.

One node (`run.nnodes = 1`): `torchrun --standalone`, `run.devices` processes. Many nodes: every
node runs the same command on one shared run directory, with its own `run.node_rank`. Node 0 runs
the pipeline (the lock, the manifest, the single-process stages) and launches torchrun for each
distributed stage with c10d rendezvous at `run.rdzv_endpoint`, hosting the rendezvous store. Every
other node *follows* (`follow`): it launches torchrun in a loop; its workers join node 0's
rendezvous and learn from node 0's workers which stage to run (`handshake`, which also checks that
every rank sees the same run directory). When node 0 is done it says so with the exit status:
a file in the run directory for followers that have heard from it this session, a last rendezvous
for those that have not (everything was cached).

Every torchrun runs in a process group of its own. SIGTERM or SIGINT to the command goes on to that
group; the command waits for torchrun and its workers to exit (so the run's lock is held until they
have), then raises `Signalled` (exit status 128 + the signal: 143 for SIGTERM). torchrun's own window
between passing on a SIGTERM and killing its workers is widened to `SHUTDOWN_GRACE_S`, so the
preemption checkpoint is written within the scheduler's window, not torchrun's 30 s.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import write_json, write_text

DEADLINE_ENV = "ARC_PIPELINE_DEADLINE"  # how torchrun'd stages learn the run's deadline
SHUTDOWN_GRACE_S = 600  # torchrun's SIGTERM-to-SIGKILL window for its workers (its default is 30 s)
END_JOIN_TIMEOUT_S = 120  # how long node 0 waits for the followers at a last, end-only rendezvous
RDZV_ID = "arc-pipeline"  # one rendezvous at a time per endpoint: node 0's torchrun hosts a fresh store
DIST_DIR = ".dist"  # in the run directory: the shared-directory check and node 0's end records


class Signalled(ArcError):
    """The command got SIGTERM or SIGINT while torchrun ran; passed on, waited for, exit 128 + signal."""

    def __init__(self, signum: int, what: str):
        name = signal.Signals(signum).name
        super().__init__(f"{name} during {what}: passed on to every process and waited for them; rerun the same "
                         "command to resume from the last checkpoint")
        self.exit_code = 128 + signum


def world_size(cfg) -> int:
    """Processes in all: `run.devices` per node times `run.nnodes`."""
    return cfg.run.devices * cfg.run.nnodes


def distributed(cfg) -> bool:
    return world_size(cfg) > 1


def follower(cfg) -> bool:
    """True on every node but node 0 of a multi-node run."""
    return cfg.run.nnodes > 1 and cfg.run.node_rank > 0


def check_devices(cfg) -> None:
    """`run.devices` processes fit this node: at most one per visible GPU when training on GPUs."""
    from arc_pipeline.solver.device import processes_fit

    why = processes_fit(cfg.train.device, cfg.run.devices)
    if why:
        raise ArcError(why)


def _torchrun(cfg, *, host: bool, join_timeout: float) -> list[str]:
    r = cfg.run
    argv = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={r.devices}", "--max_restarts=0"]
    if r.nnodes == 1:
        return argv + ["--standalone"]
    return argv + [f"--nnodes={r.nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={r.rdzv_endpoint}",
                   f"--rdzv_id={RDZV_ID}", f"--rdzv_conf=is_host={int(host)},join_timeout={max(int(join_timeout), 1)}"]


def _env(deadline: float | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", str(SHUTDOWN_GRACE_S))  # torch >= 2.8 reads it
    if deadline is not None:
        env[DEADLINE_ENV] = repr(deadline)
    return env


def inherited_deadline() -> float | None:
    """The run's deadline (unix seconds) the launching command passed on in `DEADLINE_ENV`; None when none did."""
    text = os.environ.get(DEADLINE_ENV)
    return float(text) if text else None


def run_group(argv: list[str], env: dict[str, str], what: str, *, stop=None, poll_s: float = 1.0) -> int:
    """Run `argv` in a process group of its own and return its exit status. SIGTERM/SIGINT to this
    process go on to the whole group and are waited out, then raise `Signalled`. `stop()`, asked
    every `poll_s`, may end the group early (SIGTERM; its status is returned)."""
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    got: list[int] = []

    def forward(signum, frame) -> None:  # noqa: ANN001 - signal's signature
        got.append(signum)
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                rc = proc.wait(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                if stop is not None and not got and stop():
                    os.killpg(proc.pid, signal.SIGTERM)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if got:
        raise Signalled(got[0], what)
    return rc


# ---- node 0 ----------------------------------------------------------------------------------------


class _Session:
    """Node 0's side of one `execute`: an id the followers learn, what was launched, the end record."""

    def __init__(self, cfg, run_dir: Path):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.id = uuid.uuid4().hex[:16]
        self.launched = 0
        # what earlier sessions left (node 0 holds the run's lock: none of them is live)
        for old in (*(self.run_dir / DIST_DIR).glob("end-*.json"), *(self.run_dir / DIST_DIR).glob("result-*.json")):
            old.unlink(missing_ok=True)

    def end(self, code: int) -> str:
        """Tell the followers the session is over with `code`; returns a note when some may not have heard."""
        folder = self.run_dir / DIST_DIR
        folder.mkdir(exist_ok=True)
        write_json(folder / f"end-{self.id}.json", {"code": code, "host": socket.gethostname(), "time": time.time()})
        if self.launched or code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
            return ""  # they know this session's id from a stage (or got the signal too): the file reaches them
        argv = _torchrun(self.cfg, host=True, join_timeout=END_JOIN_TIMEOUT_S) + _worker(self.run_dir, self.id) + \
            ["--end", str(code)]
        try:
            rc = run_group(argv, _env(), "the end rendezvous")
        except Signalled:
            rc = 1
        return "" if rc == 0 else (f"the other {self.cfg.run.nnodes - 1} node(s) did not join the end rendezvous within "
                                   f"{END_JOIN_TIMEOUT_S} s; stop their `arc-pipeline` commands by hand if they still wait")


_SESSION: _Session | None = None


@contextmanager
def session(cfg, run_dir: Path, ctx) -> Iterator[None]:
    """Around node 0's `execute` of a multi-node run: the followers learn the end and its status."""
    global _SESSION
    if cfg.run.nnodes <= 1:
        yield
        return
    _SESSION = _Session(cfg, run_dir)
    code = 1
    try:
        yield
        code = 0
    except BaseException as e:
        code = getattr(e, "exit_code", 130 if isinstance(e, KeyboardInterrupt) else 1)
        raise
    finally:
        note = _SESSION.end(code)
        _SESSION = None
        if note:
            ctx.note(note)


def _worker(run_dir: Path, session_id: str) -> list[str]:
    return ["-m", "arc_pipeline.worker", "--run-dir", str(run_dir), "--session", session_id]


def launch(stage: str, cfg, run_dir: Path, sets: list[str], ctx) -> Any:
    """Run one stage under torchrun, `run.devices` processes here (and on every follower node); the
    caller keeps the manifest."""
    from arc_pipeline.stages.contract import StageResult
    from arc_pipeline.stages import BY_NAME

    check_devices(cfg)
    sid = _SESSION.id if _SESSION is not None else uuid.uuid4().hex[:16]
    argv = _torchrun(cfg, host=True, join_timeout=_seconds(cfg.run.rdzv_timeout)) + _worker(run_dir, sid) + \
        ["--stage", stage] + [a for s in sets for a in ("--set", s)]
    world = world_size(cfg)
    where = f"{cfg.run.nnodes} nodes x {cfg.run.devices}" if cfg.run.nnodes > 1 else str(cfg.run.devices)
    rc = run_group(argv, _env(ctx.deadline), f"{stage} under torchrun")
    if _SESSION is not None:
        _SESSION.launched += 1
    if rc != 0:
        raise ArcError(f"{stage} under torchrun ({where} processes) exited with {rc}; see the output above, fix, and "
                       f"rerun `arc-pipeline run --run-dir {run_dir}` to resume")
    told = _read(_result_file(run_dir, sid, stage)) or {}  # rank 0's StageResult (notes, the stage's summary)
    _result_file(run_dir, sid, stage).unlink(missing_ok=True)
    written = [rel for rel in BY_NAME[stage].writes if (run_dir / rel).exists()]
    summary = {**told.get("summary", {}), "devices": world}
    if cfg.run.nnodes > 1:
        summary["nnodes"] = cfg.run.nnodes
    return StageResult(written, summary, note=told.get("note", ""))


def _result_file(run_dir: Path, session_id: str, stage: str) -> Path:
    return Path(run_dir) / DIST_DIR / f"result-{session_id}-{stage}.json"


def write_result(run_dir: Path, session_id: str, stage: str, result) -> None:
    """Rank 0's StageResult for the command that launched the stage (its manifest record)."""
    if result is None:
        return
    path = _result_file(run_dir, session_id, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"outputs": list(result.outputs), "summary": result.summary, "note": result.note},
                                default=str))


def _seconds(text: str) -> float:
    from arc_pipeline.config import parse_duration

    return parse_duration(text) or 1800.0


# ---- the other nodes -----------------------------------------------------------------------------------


def follow(cfg, run_dir: Path, ctx) -> int:
    """Node `run.node_rank` > 0: run every distributed stage node 0 launches, until node 0 ends the
    session; returns node 0's exit status. Gives up (ArcError) when node 0 launches nothing for
    `run.rdzv_timeout`."""
    check_devices(cfg)
    run_dir = Path(run_dir)
    patience = _seconds(cfg.run.rdzv_timeout)
    heard, since = None, time.time()
    ctx.note(f"node {cfg.run.node_rank} of {cfg.run.nnodes}: following node 0 at {cfg.run.rdzv_endpoint} "
             f"({cfg.run.devices} process(es) here)")
    while True:
        if heard is not None and (code := _ended(run_dir, heard)) is not None:
            return code
        left = patience - (time.time() - since)
        if left <= 0:
            raise ArcError(f"node {cfg.run.node_rank}: node 0 launched no distributed stage at {cfg.run.rdzv_endpoint} "
                           f"within {cfg.run.rdzv_timeout} (run.rdzv_timeout); is it running, is the endpoint its "
                           f"address, and is {run_dir} the same directory on every node?")
        fd, result = tempfile.mkstemp(prefix="arc-follow-", suffix=".json")
        os.close(fd)
        try:
            argv = _torchrun(cfg, host=False, join_timeout=left) + \
                ["-m", "arc_pipeline.worker", "--run-dir", str(run_dir), "--result", result]

            def gone() -> bool:  # node 0 ended while we wait for a stage that will not come
                return heard is not None and _read(result) is None and _ended(run_dir, heard) is not None

            rc = run_group(argv, _env(), "a distributed stage of node 0", stop=gone)
            got = _read(result)
        finally:
            Path(result).unlink(missing_ok=True)
        if got is None:  # no rendezvous (node 0 is between stages, or not up yet): try again
            time.sleep(1.0)
            continue
        heard, since = got["session"], time.time()
        if got.get("end") is not None:
            return int(got["end"])
        ctx.note(f"{got['stage']}: {'done' if rc == 0 else f'exited with {rc}'} on node {cfg.run.node_rank}")


def _read(path: str | Path) -> dict | None:
    try:
        text = Path(path).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _ended(run_dir: Path, session_id: str) -> int | None:
    got = _read(run_dir / DIST_DIR / f"end-{session_id}.json")
    return None if got is None else int(got.get("code", 1))


# ---- in every worker ---------------------------------------------------------------------------


def handshake(run_dir: Path, payload: dict | None) -> dict:
    """In every rank, right after joining the process group: the stage to run (from the lowest rank
    that was told, node 0's), and the check that every rank sees the same run directory: that rank
    writes a fresh nonce into it, and every rank must read the same nonce back. An ArcError names
    the hosts that do not."""
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    told: list[Any] = [None] * world
    dist.all_gather_object(told, payload is not None)
    if not any(told):
        raise ArcError("no rank was told which stage to run (every node is following; one must be node 0)")
    src = told.index(True)
    box = [dict(payload or {}, nonce=uuid.uuid4().hex) if rank == src else None]
    dist.broadcast_object_list(box, src=src)
    got = box[0]
    probe = Path(run_dir) / DIST_DIR / f"nonce-{got['nonce']}"
    if rank == src:
        probe.parent.mkdir(parents=True, exist_ok=True)
        write_json(probe, {"nonce": got["nonce"], "host": socket.gethostname()})
    dist.barrier()
    seen = _read(probe) or {}
    ok = seen.get("nonce") == got["nonce"]
    answers: list[Any] = [None] * world
    dist.all_gather_object(answers, (ok, socket.gethostname(), str(Path(run_dir).resolve())))
    dist.barrier()
    if rank == src:
        probe.unlink(missing_ok=True)
    blind = sorted({f"{host} ({path})" for seen_ok, host, path in answers if not seen_ok})
    if blind:
        writer = answers[src][1]
        raise ArcError(f"the run directory is not shared: rank {src} on {writer} wrote {probe.name} into it, but "
                       f"{', '.join(blind)} cannot read it; every node must run on one shared directory (a network "
                       "file system mounted on every node), given as --run-dir on each")
    return got
