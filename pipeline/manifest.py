"""run_dir/manifest.json: per stage its status, input fingerprint, outputs (with the size and
digest of every file) and timings.

A stage is skipped when its recorded fingerprint equals the one it would run with, its status is
`done` and every file it recorded is still there with the size and digest it was written with.
A stage whose inputs changed upstream is marked `stale` (its outputs removed) before any work, so
a failed rerun never leaves old results marked done. The file is rewritten atomically after every
change, so a kill at any moment leaves either the old or the new manifest.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import write_json
from arc_pipeline.rundir import MANIFEST, RunDir


@dataclass
class StageRecord:
    status: str = "pending"  # pending | running | done | failed | stale
    fingerprint: str = ""
    outputs: list[str] = field(default_factory=list)  # paths relative to the run directory
    start: float = 0.0  # unix seconds
    end: float = 0.0
    seconds: float = 0.0
    # the seconds of earlier attempts of this stage with the same inputs that failed or were stopped
    # (SIGTERM, Ctrl-C) before this one resumed their work; an attempt killed outright left no end
    earlier_seconds: float = 0.0
    note: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    digests: dict[str, list] = field(default_factory=dict)  # file (relative) -> [size, sha256 prefix]
    # while a rebuild runs: the digests it must reproduce for the stages after it to stay done
    expected: dict[str, list] = field(default_factory=dict)


class Manifest:
    """The manifest of one run directory; every `record` call persists it."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / MANIFEST
        self.stages: dict[str, StageRecord] = {}
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                stages = raw.get("stages", {}) if isinstance(raw, dict) else None
                if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
                    raise TypeError(f"'stages' must map stage names to records, got {type(stages).__name__}")
                self.stages = {k: StageRecord(**v) for k, v in stages.items()}
            except (ValueError, TypeError) as e:  # ValueError: bad JSON or UTF-8
                raise ArcError(f"{self.path}: unreadable manifest ({e}); delete it to rerun every stage") from None
            except OSError as e:
                raise ArcError(f"{self.path}: cannot read the manifest ({e.strerror})") from None

    def get(self, stage: str) -> StageRecord:
        return self.stages.get(stage, StageRecord())

    def timeline(self, leave_out: tuple[str, ...] = ()) -> list[tuple[str, str, float, str]]:
        """(stage, status, seconds, note) of each recorded stage, in the order they first ran (the
        pipeline's: a stage runs after those it reads from)."""
        return [(s, r.status, r.seconds, r.note) for s, r in self.stages.items() if s not in leave_out]

    def why_not_current(self, stage: str, fingerprint: str) -> str | None:
        """None when `stage` finished with this fingerprint and its outputs are as it wrote them;
        else why not ("new", "inputs changed", "stale ...", "outputs missing ...", "outputs changed ...")."""
        rec = self.stages.get(stage)
        if rec is None or rec.status == "pending":
            return "new"
        if rec.fingerprint != fingerprint:
            return "inputs changed"
        if rec.status == "stale":
            return f"stale ({rec.note})" if rec.note else "stale"
        if rec.status != "done":
            return rec.status
        missing = [o for o in rec.outputs if not (self.run_dir / o).exists()]
        if missing:
            return f"outputs missing: {', '.join(missing)}"
        changed = RunDir(self.run_dir).changed(rec.digests)
        if changed:
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            return f"outputs changed: {'; '.join(changed[:3])}{more}"
        return None

    def start(self, stage: str, fingerprint: str, *, expected: dict | None = None) -> None:
        prev = self.stages.get(stage)
        resumed = prev is not None and prev.fingerprint == fingerprint and prev.status == "failed"
        earlier = round(prev.earlier_seconds + prev.seconds, 3) if resumed else 0.0
        self.stages[stage] = StageRecord(status="running", fingerprint=fingerprint, start=time.time(),
                                         expected=dict(expected or {}), earlier_seconds=earlier)
        self.save()

    def finish(self, stage: str, outputs: list[str], *, note: str = "", summary: dict | None = None,
               status: str = "done") -> StageRecord:
        rec = self.stages[stage]
        rec.status, rec.outputs, rec.note = status, list(outputs), note
        rec.summary = _jsonable(summary or {})
        rec.digests = RunDir(self.run_dir).digests(rec.outputs)
        rec.expected = {}
        rec.end = time.time()
        rec.seconds = round(rec.end - rec.start, 3)
        self.save()
        return rec

    def fail(self, stage: str, note: str) -> None:
        rec = self.stages.setdefault(stage, StageRecord())
        rec.status, rec.note, rec.end = "failed", note, time.time()
        rec.seconds = round(rec.end - rec.start, 3) if rec.start else 0.0
        self.save()

    def mark_stale(self, stage: str, why: str) -> None:
        """The stage's results no longer follow from the config (kept fingerprint, status `stale`)."""
        rec = self.stages.get(stage)
        if rec is None or rec.status == "stale":
            return
        rec.status, rec.note, rec.outputs, rec.digests = "stale", why, [], {}
        self.save()

    def save(self) -> None:
        write_json(self.path, {"stages": {k: asdict(v) for k, v in self.stages.items()}}, indent=2)


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (config sections, upstream fingerprints, file stats)."""
    blob = json.dumps(_jsonable(list(parts)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and x != x:
        return "nan"
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    return str(x)
