"""The run directory as one object: where every artifact lives, who may write it (one run at a time),
and whether what it holds is still what the stages wrote (sizes and digests).

Layout (paths relative to the run directory; stages ask `RunDir` rather than each other; which stage
reads and writes what is declared by the stage, `STAGE` in pipeline/stages/<name>.py):
    config.toml  manifest.json  run.lock
    tasks/train.json  tasks/target.json  tasks/tasks.parquet          ingest
    (Sudoku/maze runs: tasks/train.csv  tasks/target.csv, no submission.json; see pipeline/stages/boards.py)
    dataset/                                                          build
    checkpoints/  metrics.jsonl                                       train
    adapt/                                                            adapt
    predictions.parquet  predictions_raw.parquet                      predict
    submission.json                                                   submit
    score.json  scores.parquet                                        score
    report.html  report/                                              report
    evaluation/checkpoints.json  checkpoints.md  curve.svg            `arc-pipeline evaluate` (no stage)

The lock is an advisory `flock` on run.lock: the kernel drops it when its holder dies, so a lock
left by a killed run is simply taken over (with a note naming the old holder); the file names the
live holder (pid, host, start, command) for the message a second run gets.

Under the lock, `RunDir.guard` refuses symbolic links anywhere in the directory (a write would land
in the link's target) and hard links on the files written in place (run.lock, metrics.jsonl), and
removes the temporary files of writes that were killed: only names our writers make, and only once
their writer is gone (its pid in the name is not running) or, for names without a pid, after
`STALE_S` untouched.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

from arc_pipeline.arc.errors import ArcError

CONFIG = "config.toml"
MANIFEST = "manifest.json"
LOCK = "run.lock"
TASKS = "tasks"
TRAIN_JSON = "tasks/train.json"
TARGET_JSON = "tasks/target.json"
TASKS_PARQUET = "tasks/tasks.parquet"
TRAIN_STORE = "tasks/train"  # the training tasks packed for a memory-mapped build (arc.store)
TARGET_SKIPPED = "tasks/target_skipped.json"  # invalid target tasks left out (--skip-invalid): a guess per test input
TRAIN_CSV = "tasks/train.csv"  # Sudoku and maze runs
TARGET_CSV = "tasks/target.csv"
DATASET = "dataset"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
ADAPT = "adapt"
PREDICTIONS = "predictions.parquet"
PREDICTIONS_RAW = "predictions_raw.parquet"  # solver.raw.RAW_FILE
SUBMISSION = "submission.json"
SCORE_JSON = "score.json"
SCORES_PARQUET = "scores.parquet"
REPORT_HTML = "report.html"
REPORT_DIR = "report"
EVALUATION = "evaluation"  # `arc-pipeline evaluate`: every saved checkpoint scored (pipeline.evaluation)
EVALUATION_JSON = "evaluation/checkpoints.json"
IN_PLACE = (LOCK, METRICS)  # files written in place (truncated, appended), not renamed into place

# temporary names our writers make: arc.io.atomic_path (.NAME.PID.RANDOM.tmp), the dataset build
# (.dataset.tmp-PID, .dataset.old-PID: NAME a run-dir folder), the write probe (.write_probe.PID), a checkpoint step being
# written (.tmp_step_XXXXXXXX, and each rank's .tmp_step_XXXXXXXX.rankR: no pid)
_TEMP_WITH_PID = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]{8}\.tmp$|^\.(?:dataset|adapt|checkpoints|tasks|report)\.(?:tmp|old)-(\d+)$"
                            r"|^\.write_probe\.(\d+)$")
_TEMP_NO_PID = re.compile(r"^\.tmp_step_\d+(?:\.rank\d+)?$")  # rank 0's step folder, or one rank's carry folder
STALE_S = 600.0  # a pid-less temp untouched this long has no live writer (steps are written in seconds)

class RunDir:
    """One run directory: artifact paths, the lock, writability and digests of what it holds."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __truediv__(self, rel: str) -> Path:
        return self.root / rel

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # ---- layout
    config = property(lambda self: self.root / CONFIG)
    manifest = property(lambda self: self.root / MANIFEST)
    lock_file = property(lambda self: self.root / LOCK)
    train_json = property(lambda self: self.root / TRAIN_JSON)
    target_json = property(lambda self: self.root / TARGET_JSON)
    tasks_parquet = property(lambda self: self.root / TASKS_PARQUET)
    train_store = property(lambda self: self.root / TRAIN_STORE)
    dataset = property(lambda self: self.root / DATASET)
    checkpoints = property(lambda self: self.root / CHECKPOINTS)
    metrics = property(lambda self: self.root / METRICS)
    adapt = property(lambda self: self.root / ADAPT)
    predictions = property(lambda self: self.root / PREDICTIONS)
    submission = property(lambda self: self.root / SUBMISSION)
    score_json = property(lambda self: self.root / SCORE_JSON)
    scores_parquet = property(lambda self: self.root / SCORES_PARQUET)
    report_html = property(lambda self: self.root / REPORT_HTML)

    predictions_raw = property(lambda self: self.root / PREDICTIONS_RAW)

    # ---- reading what earlier stages wrote
    def tasks(self) -> tuple[dict, dict]:
        """The (train, target) tasks a finished ingest wrote: task id -> `arc.task.Task`. The training
        tasks come from the memory-mapped store (tasks/train/) when ingest wrote one, read lazily."""
        from arc_pipeline.arc.load import load

        for path in (self.train_json, self.target_json):
            if not path.exists():
                raise ArcError(f"{path} is missing; run `arc-pipeline ingest --run-dir {self.root}` first")
        if self.train_store.is_dir():
            from arc_pipeline.arc.store import TaskStore

            train = TaskStore(self.train_store)
        else:  # a run directory from before the store
            with open(self.train_json, "rb") as f:
                empty = f.read(8).strip() in (b"{}", b"")
            train = {} if empty else dict(load(str(self.train_json)).tasks)
        return train, dict(load(str(self.target_json)).tasks)

    def skipped_targets(self) -> dict[str, list]:
        """Target tasks ingest left out as invalid: id -> a fallback grid per test input (submit answers them)."""
        path = self.root / TARGET_SKIPPED
        if not path.is_file():
            return {}
        from arc_pipeline.arc.validate import read_json

        raw = read_json(path, fix=f"run `arc-pipeline ingest --run-dir {self.root} --force`")
        return raw if isinstance(raw, dict) else {}

    def model_config(self, model):
        """(`model` ([model]) with the sizes the dataset dictates: sequence, vocabulary, puzzle rows; the build's meta)."""
        import dataclasses

        from arc_pipeline.augment.dataset import read_meta

        meta = read_meta(self.dataset)
        return dataclasses.replace(model, seq_len=int(meta["seq_len"]), vocab_size=int(meta["vocab_size"]),
                                   num_puzzles=int(meta["num_puzzles"])), meta

    def checkpoint(self, run, on_note: Callable[[str], None] | None = None) -> Path | None:
        """The checkpoint to predict with under [run] (`run.protocol`, `run.checkpoint`): adapt/
        (pretrain-adapt) or checkpoints/ (else run.checkpoint); its `best` when that beats the latest on
        held-out exact accuracy, else its latest. None when there is none. `on_note` hears of each broken
        pointer or step passed over for an intact one."""
        path = self._checkpoint(run)
        if path is not None and on_note is not None and (path.parent / "latest").is_file():
            from arc_pipeline.solver import ckpt_folder

            for which in ("latest", "best"):
                if note := ckpt_folder.find(path.parent, which)[1]:
                    on_note(note)
        return path

    def _checkpoint(self, run) -> Path | None:
        from arc_pipeline.solver import ckpt_folder

        if run.protocol == "pretrain-adapt":
            from arc_pipeline.solver.adapt import INIT

            folder = self.adapt
            if ckpt_folder.latest(folder) is None and ckpt_folder.latest(folder / INIT) is not None:
                # adaptation failed before its first checkpoint: the pre-trained model, remapped to
                # this build but not adapted, still beats the identity fallback
                return ckpt_folder.latest(folder / INIT)
        elif self.checkpoints.exists() or not run.checkpoint:
            folder = self.checkpoints
        else:
            folder = ckpt_folder.follow(run.checkpoint)  # a pointer file (checkpoints/best) names its step
        if (folder / "meta.json").is_file():
            return folder
        best, latest = ckpt_folder.best(folder), ckpt_folder.latest(folder)
        if best is None or latest is None:
            return best or latest

        def exact(path: Path) -> float:
            return float((ckpt_folder.read_meta(path).get("val") or {}).get("exact", -1.0))

        # an earlier step only when its held-out exact accuracy beats the latest's; on a tie the latest
        # (the reference predicts with its final checkpoint; the token-accuracy term that orders `best`
        # was not measured to pick a better step to predict with: docs/evaluating.md)
        return best if exact(best) > exact(latest) else latest

    def examples_per_s(self) -> float:
        """The last training speed metrics.jsonl logged (0 when none)."""
        rate = 0.0
        if self.metrics.is_file():
            for line in self.metrics.read_text().splitlines():
                try:
                    rate = float(json.loads(line).get("examples_per_s", rate))
                except (ValueError, AttributeError):
                    continue
        return rate

    # ---- writability and the lock
    def writable(self) -> bool:
        """True when files can be created here (the directory is made if missing)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write_probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
            return True
        except OSError:
            return False

    def lock(self, command: str = "") -> "RunLock":
        return RunLock(self.lock_file, command or " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]))

    def guard(self) -> list[str]:
        """Under the lock, before any stage: refuse links (ArcError naming them), remove the temp files
        of killed writes. Returns notes (what was removed)."""
        links, temps = [], []
        for top, dirs, files in os.walk(self.root):
            here = Path(top)
            for name in [*dirs, *files]:
                p = here / name
                if p.is_symlink():
                    links.append(p)
                elif _stale_temp(p, name):
                    temps.append(p)
            dirs[:] = [d for d in dirs if not (here / d).is_symlink() and here / d not in temps]
        if links:
            shown = ", ".join(f"{p.relative_to(self.root)} -> {os.readlink(p)}" for p in links[:3])
            raise ArcError(f"{self.root}: {len(links)} symbolic link(s) inside ({shown}{' ...' if len(links) > 3 else ''}); "
                           "a run writes and deletes files here, which would reach the link's target: replace each "
                           "link with a copy of what it points to (cp -L), or use another --run-dir")
        for rel in IN_PLACE:
            p = self.root / rel
            if p.is_file() and p.stat().st_nlink > 1:
                raise ArcError(f"{p} has {p.stat().st_nlink - 1} other hard link(s); a run writes it in place, which "
                               f"would change every copy: replace it with a copy (cp {rel} x && mv x {rel})")
        notes = []
        for p in temps:
            try:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                notes.append(str(p.relative_to(self.root)))
            except FileNotFoundError:
                continue
        return [f"removed {len(notes)} temporary file(s) left by killed writes: {', '.join(notes[:3])}"
                + (" ..." if len(notes) > 3 else "")] if notes else []

    # ---- digests
    def digests(self, rels: list[str] | tuple[str, ...]) -> dict[str, list]:
        """{file path relative to the run directory: [size, sha256 prefix]} for every file under `rels`."""
        out: dict[str, list] = {}
        for rel in rels:
            for f in _files(self.root / rel):
                out[f.relative_to(self.root).as_posix()] = list(file_digest(f))
        return out

    def changed(self, recorded: dict[str, list]) -> list[str]:
        """What differs from `recorded` digests, one phrase per file (empty: all intact)."""
        problems = []
        for rel, (size, digest) in sorted(recorded.items()):
            f = self.root / rel
            if not f.is_file():
                problems.append(f"{rel} is missing")
                continue
            now_size, now_digest = file_digest(f)
            if now_size != size:
                problems.append(f"{rel} has {now_size} bytes, {size} were written")
            elif now_digest != digest:
                problems.append(f"{rel} changed (digest {now_digest} != {digest})")
        return problems


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's live process (or not a pid we can ask about): leave it
    return True


def _stale_temp(p: Path, name: str) -> bool:
    """True for a temp name our writers make whose writer is gone (see the module's docstring)."""
    m = _TEMP_WITH_PID.match(name)
    if m:
        pid = int(next(g for g in m.groups() if g is not None))
        return pid != os.getpid() and not _alive(pid)
    if _TEMP_NO_PID.match(name):
        newest = max([p.lstat().st_mtime, *(f.lstat().st_mtime for f in p.rglob("*"))]) if p.is_dir() else p.lstat().st_mtime
        return time.time() - newest > STALE_S
    return False


def _files(p: Path) -> Iterator[Path]:
    if p.is_file():
        yield p
    elif p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file() and not any(part.startswith(".tmp") for part in f.relative_to(p).parts):
                yield f


_DIGESTS: dict[tuple, tuple[int, str]] = {}


def file_digest(f: Path) -> tuple[int, str]:
    """(size, sha256 hex prefix) of a file; memoised per process by (path, inode, size, mtime)."""
    st = f.stat()
    key = (str(f), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with open(f, "rb") as fh:
            _DIGESTS[key] = (st.st_size, hashlib.file_digest(fh, "sha256").hexdigest()[:32])
    return _DIGESTS[key]


class RunLock:
    """An exclusive, non-blocking lock on one run directory (context manager)."""

    def __init__(self, path: Path, command: str = ""):
        self.path, self.command = Path(path), command
        self.fd: int | None = None
        self.previous: dict | None = None  # what a dead holder left behind, when we took it over

    def acquire(self) -> "RunLock":
        import fcntl

        try:  # never through a link: the lock file is truncated and written in place
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ArcError(f"{self.path} is a symbolic link (to {os.readlink(self.path)}); a run writes its lock "
                               "file in place: remove the link") from None
            raise ArcError(f"{self.path.parent}: cannot lock the run directory ({e.strerror}); "
                           "make it writable or pass another --run-dir") from None
        if os.fstat(fd).st_nlink > 1:
            os.close(fd)
            raise ArcError(f"{self.path} has other hard links; a run writes its lock file in place: remove it "
                           "(rm run.lock) and rerun")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise ArcError(f"{self.path.parent} is in use by another run ({describe(holder)}); wait for it to end, "
                           "or pass another --run-dir") from None
        self.previous = _read_holder(fd) or None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "start": time.time(), "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        import fcntl

        try:
            os.ftruncate(self.fd, 0)  # empty = nobody holds it (a killed holder leaves its name instead)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    try:
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw) if raw.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    """'pid 123 on host h, started 2026-01-01 10:00:00 UTC: arc-pipeline run ...'"""
    if not holder:
        return "holder unknown"
    start = holder.get("start")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(start)) if isinstance(start, (int, float)) else "?"
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {when}"
    return text + (f": {holder['command']}" if holder.get("command") else "")
