"""The checkpoint folder (layout: solver/checkpoint.py): its step directories, whether each is intact
(meta.json's sizes and digests), the `latest` and `best` pointers that name them, and the `best` rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import table_store

STEP_PREFIX = "step_"


def step_dir_name(step: int) -> str:
    return f"{STEP_PREFIX}{step:08d}"


def pointer_target(ckpt_dir: Path, name: str) -> Path | None:
    """The step directory a pointer file names (a bare step_ name only), whether or not it is intact."""
    f = ckpt_dir / name
    if not f.is_file():
        return None
    try:
        target = f.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return ckpt_dir / target if target.startswith(STEP_PREFIX) and "/" not in target and "\\" not in target else None


_DIGESTS: dict[tuple, str] = {}


def file_digest(path: Path) -> str:
    """sha256 prefix of a file, memoised per process by (path, inode, size, mtime): a step directory
    checked at start is not read again when the same process resumes from it."""
    import hashlib

    st = path.stat()
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with open(path, "rb") as f:
            _DIGESTS[key] = hashlib.file_digest(f, "sha256").hexdigest()[:32]
    return _DIGESTS[key]


def problem(step_dir: str | Path) -> str | None:
    """Why a step directory is not a usable checkpoint (missing, unreadable meta, a file missing or not
    as written: `meta.json` lists every file's size and digest), or None when it is intact."""
    step_dir = Path(step_dir)
    try:
        meta = json.loads((step_dir / "meta.json").read_text())
    except FileNotFoundError:
        return f"{step_dir.name} does not exist" if not step_dir.exists() else f"{step_dir.name} has no meta.json"
    except (OSError, ValueError) as e:
        return f"{step_dir.name}/meta.json is unreadable ({e})"
    if not isinstance(meta, dict) or not (step_dir / "weights.pt").is_file():
        return f"{step_dir.name} has no weights.pt"
    for name, (size, digest) in (meta.get("files") or {}).items():
        f = step_dir / name
        if not f.is_file():
            return f"{step_dir.name}/{name} is missing"
        if f.stat().st_size != size or file_digest(f) != digest:
            return f"{step_dir.name}/{name} is not as written (size or digest differs)"
    if isinstance(meta.get("table"), dict):
        why = table_store.problem(step_dir.parent, meta["table"])
        if why is not None:
            return f"{step_dir.name}: its puzzle table's {why}"
    return None


def steps(ckpt_dir: str | Path) -> list[Path]:
    """Every step directory, newest first."""
    return sorted((p for p in Path(ckpt_dir).glob(f"{STEP_PREFIX}*") if p.is_dir()), reverse=True)


def find(ckpt_dir: str | Path, which: str = "latest") -> tuple[Path | None, str]:
    """(step directory, note): what the `latest` or `best` pointer names when that step is intact;
    else, for `latest`, the newest intact step, with a note saying why (best: None and a note)."""
    ckpt_dir = Path(ckpt_dir)
    target = pointer_target(ckpt_dir, which)
    why = problem(target) if target is not None else None
    if target is not None and why is None:
        return target, ""
    if which != "latest":
        return None, f"{ckpt_dir}/{which} names {target.name}, which is unusable ({why})" if target is not None else ""
    for step in steps(ckpt_dir):
        if step != target and problem(step) is None:
            said = (f"'latest' names {target.name}, which is unusable ({why})" if target is not None
                    else "no 'latest' pointer")
            return step, f"{ckpt_dir}: {said}; using the newest intact step {step.name}"
    return None, (f"{ckpt_dir}: 'latest' names {target.name}, which is unusable ({why}), and no other step is intact"
                  if target is not None else "")


def latest(ckpt_dir: str | Path) -> Path | None:
    """The newest intact step directory (the `latest` pointer's when intact), or None."""
    return find(ckpt_dir, "latest")[0]


def best(ckpt_dir: str | Path) -> Path | None:
    """The step directory with the best held-out score when it is intact, or None."""
    return find(ckpt_dir, "best")[0]


# The `best` rule: the higher held-out exact accuracy, then the higher held-out token accuracy, then the
# later step. The step makes every key distinct, so a tie never keeps an older step as `best` (with a
# strict ">" on exact alone, a run whose held-out exact stays 0 kept its first evaluated step forever).
BEST_RULE = "held-out exact accuracy, then held-out token accuracy, then the later step"


def best_key(val: Mapping[str, Any] | None, step: int) -> tuple[float, float, int]:
    """The sort key of the `best` rule for a held-out evaluation `val` (exact, token_accuracy) at `step`."""
    val = val or {}
    return (float(val.get("exact", -1.0)), float(val.get("token_accuracy", -1.0)), int(step))


def drop_broken(ckpt_dir: str | Path) -> list[str]:
    """Delete step directories that are not intact (a kill or corruption), and the temporary folders
    a killed save left; returns what was removed. One process at a time (under torchrun: rank 0)."""
    gone = []
    for tmp in sorted(Path(ckpt_dir).glob(f".tmp_{STEP_PREFIX}*")):
        if tmp.is_dir():
            shutil.rmtree(tmp)
    for step in steps(ckpt_dir):
        why = problem(step)
        if why is not None:
            shutil.rmtree(step)
            gone.append(why)
    return gone


POINTERS = ("latest", "best")


def follow(path: str | Path) -> Path:
    """`path` itself, or the step directory a pointer file (`latest`, `best`) names, so a pointer works
    wherever a checkpoint path does. A pointer whose step is unusable is an ArcError saying why (a
    broken `latest` falls back to the newest intact step, as `find` does)."""
    path = Path(path)
    if not path.is_file():
        return path
    if path.name not in POINTERS:
        raise ArcError(f"{path} is a file, not a checkpoint; pass a step_XXXXXXXX directory, a checkpoints folder, "
                       "or one of its pointers (checkpoints/latest, checkpoints/best)")
    found, note = find(path.parent, path.name)
    if found is None:
        raise ArcError(f"{path}: {note or 'names no step directory of ' + str(path.parent)}; pass a step_XXXXXXXX "
                       f"directory of {path.parent} instead")
    return found


def resolve(path: str | Path) -> Path:
    """A step directory, a checkpoint folder (its `latest`), or a pointer file (`latest`, `best`: its step)."""
    path = follow(path)
    if (path / "meta.json").is_file():
        return path
    found = latest(path)
    if found is None:
        raise ArcError(f"{path}: no checkpoint here (no meta.json and no 'latest' pointer); pass a step_XXXXXXXX directory or a checkpoints folder")
    return found


def read_meta(path: str | Path) -> dict[str, Any]:
    """A checkpoint's meta.json (a step directory or a checkpoint folder), or an ArcError naming the file."""
    f = resolve(path) / "meta.json"
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # ValueError: bad JSON, bad UTF-8, a number past Python's digit limit
        raise ArcError(f"{f}: unreadable checkpoint meta ({type(e).__name__}: {e}); the step is damaged: "
                       "use another step or write it again") from None
    if not isinstance(meta, dict):
        raise ArcError(f"{f}: checkpoint meta is a JSON {type(meta).__name__}, not an object; the step is damaged")
    return meta
