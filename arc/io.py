"""Atomic file writes: a crash never leaves a half-written artifact under its final name."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


from arc_pipeline.arc.errors import ArcError

TMP_SUFFIX = ".tmp"
FULL_BYTES = 1 << 20  # free space under which a failed write is taken for a full disk


def no_space(exc: BaseException, where: str | Path) -> bool:
    """True when `exc` came from a full disk (or quota) while writing under `where`: the errno, the
    message of libraries that wrap it (polars: "os error 28"), or (torch, numpy: no errno) the
    disk found full just after the failed write."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(exc) or "os error 28" in str(exc):
        return True
    if isinstance(exc, (OSError, RuntimeError)):
        try:
            return shutil.disk_usage(where).free < FULL_BYTES
        except OSError:
            return False
    return False


def disk_full(path: str | Path, exc: BaseException) -> ArcError:
    """The one-line error for a write that ran out of space, naming the file."""
    path = Path(path)
    return ArcError(f"{path}: no space left on the device while writing it ({type(exc).__name__}); free space "
                    f"(df -h {path.parent}) and rerun: nothing half-written is kept, and a run resumes where it stopped")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    A full disk is one ArcError naming `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's pid in the name: a later run removes it only once that process is gone (RunDir.guard)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as e:
        if no_space(e, path.parent):
            raise disk_full(path, e) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except ArcError:
        raise
    except Exception as e:
        if no_space(e, path.parent):
            raise disk_full(path, e) from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, *, indent: int | None = None) -> None:
    write_text(path, json.dumps(obj, indent=indent, separators=None if indent else (",", ":")))
