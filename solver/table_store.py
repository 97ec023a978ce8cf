"""The puzzle table of a host-table run on disk: a base (the whole table, in shards) plus a chain
of deltas (the rows changed since the previous checkpoint), so a checkpoint writes only what
changed; a new base when the chain grows past COMPACT_AT of the base (docs/puzzle-table.md).

Layout, beside the step directories (one store serves every step that references it):
    ckpt_dir/table/base_<step>_<tag>/shard_<k>.npy   rows [k*R, (k+1)*R), float32, R = record["shard_rows"]
    ckpt_dir/table/delta_<step>_<tag>.ids.npy        sorted distinct row ids (int64)
    ckpt_dir/table/delta_<step>_<tag>.rows.npy       those rows' values at <step> (float32)
A step's meta.json holds its `record`: the table's shape, the base, the deltas in order, every
file's [size, sha256] and the float64 sum of the counted rows (their mean starts new puzzles in
adaptation without reading the table). Every file is written under a temporary name and renamed.
`problem` checks sizes (cheap: it runs whenever a checkpoint is looked up); reading a whole table
checks the digests; `StoredRows` (inference) reads only the rows asked for.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arc_pipeline.arc.errors import ArcError

TRAINED = "role=train"  # the rows whose sum a host table keeps: the puzzle map's role 'train' (adaptation's mean)
TABLE_DIR = "table"
SHARD_BYTES = 2**31  # ~2 GiB per base shard: parallel writes and reads, no file too large for any filesystem
COMPACT_AT = 0.25  # a new base once the chain's deltas hold this fraction of the base's bytes
WRITERS = 8  # threads writing or reading shards (hashing and file I/O release the GIL)
_CHUNK = 2**26


def shard_rows(hidden: int) -> int:
    return max(1, SHARD_BYTES // (4 * hidden))


class _Hashing:
    """A file wrapper that hashes what is written through it (np.save writes through `write`)."""

    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def write(self, b) -> int:
        self.h.update(b)
        return self.f.write(b)


def _write_npy(path: Path, array: np.ndarray) -> list:
    """Write `array` as .npy atomically (temp name, fsync, rename); returns [size, sha256 prefix]."""
    tmp = path.with_name(f".tmp_{path.name}")
    with open(tmp, "wb") as f:
        w = _Hashing(f)
        np.lib.format.write_array(w, np.ascontiguousarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return [path.stat().st_size, w.h.hexdigest()[:32]]


def _read_npy_into(path: Path, out: np.ndarray, want: list | None) -> None:
    """Read a float32 .npy into `out` (same shape) in chunks, checking [size, digest] when given."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if tuple(shape) != out.shape or fortran or dtype != out.dtype:
            raise ArcError(f"{path}: holds {dtype} {tuple(shape)}, expected {out.dtype} {out.shape}; the stored table "
                           "does not match its checkpoint's record (delete that step so an intact one is used)")
        head = f.tell()
        f.seek(0)
        h.update(f.read(head))
        flat = out.reshape(-1).view(np.uint8)
        for lo in range(0, flat.size, _CHUNK):
            n = f.readinto(memoryview(flat[lo : lo + _CHUNK]))
            h.update(flat[lo : lo + n])
            if n < min(_CHUNK, flat.size - lo):
                raise ArcError(f"{path}: truncated; delete that step so an intact one is used")
    if want is not None and h.hexdigest()[:32] != want[1]:
        raise ArcError(f"{path}: not as written (digest differs); delete that step so an intact one is used")


def role_train_ids(puzzle_map) -> np.ndarray | None:
    """The puzzle ids a map marks role 'train' (None when it has no role column)."""
    if puzzle_map is None or "role" not in puzzle_map.columns:
        return None
    import polars as pl

    return puzzle_map.filter(pl.col("role") == "train")["puzzle_id"].to_numpy().astype(np.int64)


# ---- writing ---------------------------------------------------------------------------------------


def save(ckpt_dir: Path, step: int, table: torch.Tensor, changed: np.ndarray, previous: dict | None,
         row_sum: np.ndarray, counted: dict) -> dict:
    """Store the table at `step`: a delta of the rows `changed` since `previous` (the record of the
    checkpoint it continues), or a new base when there is none, its shape differs, or the chain
    would pass COMPACT_AT of the base. Returns the record for the step's meta.json."""
    store = Path(ckpt_dir) / TABLE_DIR
    store.mkdir(parents=True, exist_ok=True)
    rows, hidden = table.shape
    base_bytes = rows * hidden * 4
    chained = sum(previous["files"][n][0] for d in previous["deltas"] for n in _delta_files(d)) if previous else 0
    delta_bytes = len(changed) * (hidden * 4 + 8)
    fresh = previous is None or (previous["rows"], previous["hidden"]) != (rows, hidden)
    record = {"rows": rows, "hidden": hidden, "row_sum": [float(v) for v in row_sum], "counted": counted}
    if fresh or chained + delta_bytes > COMPACT_AT * base_bytes:
        record.update(_write_base(store, step, table), deltas=[])
        return record
    name = f"delta_{step:08d}_{uuid.uuid4().hex[:8]}"  # unique: a step saved twice never overwrites a delta in use
    files = dict(previous["files"])
    ids = np.asarray(changed, dtype=np.int64)
    files[f"{name}.ids.npy"] = _write_npy(store / f"{name}.ids.npy", ids)
    files[f"{name}.rows.npy"] = _write_npy(store / f"{name}.rows.npy", table[torch.from_numpy(ids)].numpy())
    record.update(base=previous["base"], shard_rows=previous["shard_rows"], deltas=[*previous["deltas"], name], files=files)
    return record


def _delta_files(name: str) -> tuple[str, str]:
    return f"{name}.ids.npy", f"{name}.rows.npy"


def _write_base(store: Path, step: int, table: torch.Tensor) -> dict:
    rows, hidden = table.shape
    per = shard_rows(hidden)
    name = f"base_{step:08d}_{uuid.uuid4().hex[:8]}"
    tmp = store / f".tmp_{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    data = table.numpy()
    starts = list(range(0, rows, per))
    with ThreadPoolExecutor(min(WRITERS, len(starts))) as pool:
        sums = list(pool.map(lambda lo: _write_npy(tmp / f"shard_{lo // per:05d}.npy", data[lo : lo + per]), starts))
    final = store / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    files = {f"{name}/shard_{lo // per:05d}.npy": s for lo, s in zip(starts, sums)}
    return {"base": name, "shard_rows": per, "files": files}


# ---- checking and reading -----------------------------------------------------------------------------


def _malformed(record: Any) -> str | None:
    """What is wrong with a record's shape (a damaged or hostile meta.json), or None."""
    try:
        ints = [record["rows"], record["hidden"], record["shard_rows"]]
        files, deltas, base = record["files"], record["deltas"], record["base"]
        ok = (all(isinstance(v, int) and v > 0 for v in ints) and isinstance(files, dict) and isinstance(deltas, list)
              and isinstance(base, str) and all(isinstance(d, str) for d in deltas)
              and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) for v in files.values())
              and all(isinstance(n, str) and ".." not in n and not n.startswith("/") for n in files)
              and all(n in files for d in deltas for n in _delta_files(d)) and len(record["row_sum"]) == record["hidden"])
    except (KeyError, TypeError):
        ok = False
    return None if ok else "record in meta.json is malformed"


def problem(ckpt_dir: Path, record: dict) -> str | None:
    """Why the stored table a record names is unusable (a malformed record, a file missing or of another
    size), or None."""
    why = _malformed(record)
    if why is not None:
        return why
    store = Path(ckpt_dir) / TABLE_DIR
    for name, (size, _) in record["files"].items():
        f = store / name
        if not f.is_file():
            return f"{TABLE_DIR}/{name} is missing"
        if f.stat().st_size != size:
            return f"{TABLE_DIR}/{name} is not as written (size differs)"
    return None


def _shards(record: dict) -> list[tuple[int, str]]:
    return sorted((int(Path(n).stem.split("_")[1]) * record["shard_rows"], n) for n in record["files"]
                  if n.startswith(record["base"] + "/"))


def read_into(ckpt_dir: Path, record: dict, out: torch.Tensor) -> None:
    """The whole stored table into `out` (a CPU float32 tensor of its shape), digests checked."""
    store = Path(ckpt_dir) / TABLE_DIR
    if tuple(out.shape) != (record["rows"], record["hidden"]):
        raise ValueError(f"stored table is {record['rows']}x{record['hidden']}, destination {tuple(out.shape)}")
    data = out.numpy()
    shards = _shards(record)
    per = record["shard_rows"]
    with ThreadPoolExecutor(max(1, min(WRITERS, len(shards)))) as pool:
        list(pool.map(lambda s: _read_npy_into(store / s[1], data[s[0] : s[0] + per], record["files"][s[1]]), shards))
    for d in record["deltas"]:
        ids_name, rows_name = _delta_files(d)
        ids = _load_checked(store / ids_name, record["files"][ids_name])
        rows = _load_checked(store / rows_name, record["files"][rows_name])
        data[ids] = rows


def _load_checked(path: Path, want: list) -> np.ndarray:
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) != want[0] or hashlib.sha256(blob).hexdigest()[:32] != want[1]:
        raise ArcError(f"{path}: not as written (size or digest differs); delete that step so an intact one is used")
    return np.load(path, allow_pickle=False)


def read_all(ckpt_dir: Path, record: dict) -> torch.Tensor:
    out = torch.empty(record["rows"], record["hidden"])
    read_into(ckpt_dir, record, out)
    return out


def files(record: dict) -> set[str]:
    """The store's files a record references (paths inside ckpt_dir/table)."""
    return set(record.get("files", {}))


def prune(ckpt_dir: Path, records: list[dict]) -> None:
    """Delete the store's files and bases no record references (and debris of crashed writes)."""
    store = Path(ckpt_dir) / TABLE_DIR
    if not store.is_dir():
        return
    keep = set().union(*(files(r) for r in records)) if records else set()
    bases = {n.split("/")[0] for n in keep}
    for p in store.iterdir():
        if p.is_dir():
            if p.name not in bases:
                shutil.rmtree(p)
        elif p.name not in keep:
            p.unlink()


class StoredRows:
    """A stored table read on demand (inference): `rows[ids]` reads only those rows from the mapped
    base shards, then the deltas, newest last. Tensor-like where the model needs it (shape, dtype, device)."""

    def __init__(self, ckpt_dir: Path, record: dict):
        self.store, self.record = Path(ckpt_dir) / TABLE_DIR, record
        self.shape = (record["rows"], record["hidden"])
        self.dtype, self.device = torch.float32, torch.device("cpu")
        self._shards: dict[int, np.ndarray] = {}
        self._names = dict(_shards(record))
        self._deltas: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _shard(self, start: int) -> np.ndarray:
        if start not in self._shards:
            self._shards[start] = np.load(self.store / self._names[start], mmap_mode="r")
        return self._shards[start]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows `ids` (int64 array) as a float32 array."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.shape[0]):
            raise IndexError(f"row ids must be in [0, {self.shape[0]}); got {ids.min()}..{ids.max()}")
        out = np.empty((len(ids), self.shape[1]), dtype=np.float32)
        per = self.record["shard_rows"]
        which = ids // per
        for s in np.unique(which):
            at = which == s
            out[at] = self._shard(int(s) * per)[ids[at] - s * per]
        if self._deltas is None:
            self._deltas = [(np.load(self.store / a), np.load(self.store / b, mmap_mode="r"))
                            for a, b in map(_delta_files, self.record["deltas"])]
        for d_ids, d_rows in self._deltas:
            pos = np.searchsorted(d_ids, ids).clip(max=max(len(d_ids) - 1, 0))
            hit = (d_ids[pos] == ids) if len(d_ids) else np.zeros(len(ids), dtype=bool)
            out[hit] = d_rows[pos[hit]]
        return out

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            index = np.arange(*index.indices(self.shape[0]))
        elif isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        scalar = np.ndim(index) == 0
        out = torch.from_numpy(self.rows(np.atleast_1d(index)))
        return out[0] if scalar else out

    def mean_of_counted(self, rule: str, count: int) -> torch.Tensor | None:
        """The mean of the rows training counted under `rule` when `count` rows were counted, from the stored
        sum (no row read); None when the record counted another set."""
        c = self.record.get("counted") or {}
        if c.get("rule") != rule or c.get("rows") != count or count == 0:
            return None
        return torch.tensor(np.asarray(self.record["row_sum"]) / count, dtype=torch.float32)
