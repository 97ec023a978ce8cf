"""Checkpoints that resume exactly and can be reused on a rebuilt dataset.

Layout of `ckpt_dir/`:
    step_00001000/   weights.pt (model, puzzle table included), ema.pt, optim.pt (dense optimizer),
                     state.pt (torch RNG), carry_rank{r}.pt (each rank's slots), puzzle_map.parquet,
                     meta.json (step, sampler position, configs, dataset fingerprint, metrics)
    latest, best     one-line text files naming a step directory
    table/           a host-held puzzle table (train.puzzle_table = "host"): not in weights.pt but a
                     base plus deltas of changed rows that the steps' meta.json records reference
                     (solver/table_store.py)
Tensors go through torch.save and come back with weights_only=True (nothing arbitrary is
unpickled); metadata is JSON. A step directory is written under a temporary name and renamed.
The puzzle table has no optimizer state: sign-SGD keeps none.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import polars as pl
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.arc.io import disk_full, no_space, write_json, write_text
from arc_pipeline.solver import ckpt_folder, table_store
from arc_pipeline.solver.ckpt_folder import STEP_PREFIX, step_dir_name
from arc_pipeline.solver.puzzle_match import match_rows, read_puzzle_map, remap_table

TABLE_KEY = "puzzle_emb.table"  # the puzzle table's key in weights.pt (a device-held table)


def _save(obj: Any, path: Path) -> None:
    try:
        with open(path, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except (OSError, RuntimeError) as e:  # torch reports a full disk as a RuntimeError without errno
        if no_space(e, path.parent):
            raise disk_full(path, e) from None
        raise


def _load(path: Path, device: torch.device | str = "cpu") -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # truncated or corrupt: torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise ArcError(f"{path}: unreadable checkpoint file ({type(e).__name__}: {str(e)[:200]}); delete that step "
                       "directory so the previous intact step is used") from None


def save(
    ckpt_dir: str | Path,
    step: int,
    *,
    model: torch.nn.Module,
    meta: Mapping[str, Any],
    ema: Any = None,
    optimizer: torch.optim.Optimizer | None = None,
    carry: Mapping[str, torch.Tensor] | None = None,
    puzzle_map: pl.DataFrame | None = None,
    rank: int = 0,
    world_size: int = 1,
    barrier=lambda: None,
    keep: int = 2,
    is_best: bool = False,
) -> Path:
    """Write step `step` atomically (every rank calls this; each writes its own carry). A host-held
    puzzle table is stored apart, as the rows changed since the last checkpoint (table_store).

    Each rank writes its carry into a temporary folder it makes itself; after a barrier rank 0 moves
    them into its own temporary step folder (a rank whose file it cannot find: the checkpoint folder
    is not shared by every node), records every file's digest and renames the folder into place."""
    ckpt_dir = Path(ckpt_dir)
    final = ckpt_dir / step_dir_name(step)
    tmp = ckpt_dir / f".tmp_{step_dir_name(step)}"
    host = getattr(getattr(model, "puzzle_emb", None), "host", None)
    changed = host.take_changed() if host is not None and host.writer else None  # every node's writer clears its own
    if carry is not None:
        mine = _rank_tmp(ckpt_dir, step, rank)
        if mine.exists():
            shutil.rmtree(mine)  # left by a crash mid-write
        mine.mkdir(parents=True)
        _save({k: v.detach().cpu() for k, v in carry.items()}, mine / f"carry_rank{rank}.pt")
    if rank == 0:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _save(model.state_dict(), tmp / "weights.pt")
        if ema is not None:
            _save(ema.state_dict(), tmp / "ema.pt")
        if optimizer is not None:
            _save(optimizer.state_dict(), tmp / "optim.pt")
        _save({"torch_rng": torch.get_rng_state()}, tmp / "state.pt")
        if puzzle_map is not None:
            puzzle_map.write_parquet(tmp / "puzzle_map.parquet")
    barrier()  # every carry is on disk before the directory becomes visible
    if rank == 0:
        if carry is not None:
            _gather_carries(ckpt_dir, step, tmp, world_size)
        files = {f.name: [f.stat().st_size, ckpt_folder.file_digest(f)] for f in sorted(tmp.iterdir()) if f.is_file()}
        meta = dict(meta, step=step, files=files)
        if host is not None:
            meta["table"] = table_store.save(ckpt_dir, step, host.tensor, changed, host.chain, host.row_sum,
                                             host.counted_record())
        write_json(tmp / "meta.json", meta, indent=1)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if host is not None:
            host.chain = meta["table"]
        write_text(ckpt_dir / "latest", final.name)
        if is_best:
            write_text(ckpt_dir / "best", final.name)
        _prune(ckpt_dir, keep)
    barrier()
    return final


def _rank_tmp(ckpt_dir: Path, step: int, rank: int) -> Path:
    return ckpt_dir / f".tmp_{step_dir_name(step)}.rank{rank}"


def _gather_carries(ckpt_dir: Path, step: int, tmp: Path, world_size: int) -> None:
    """Move every rank's carry file into rank 0's temporary step folder."""
    for r in range(world_size):
        src = _rank_tmp(ckpt_dir, step, r) / f"carry_rank{r}.pt"
        if not src.is_file():
            raise ArcError(f"{ckpt_dir}: rank {r} wrote its carry for step {step}, but rank 0 cannot see it at {src}; "
                           "the run directory must be one shared directory on every node")
        os.replace(src, tmp / src.name)
        shutil.rmtree(src.parent)


def _prune(ckpt_dir: Path, keep: int) -> None:
    """Delete step directories beyond the newest `keep`, never the ones the best or latest pointer
    names (read from the pointers, not verified: the steps are not hashed again at every save)."""
    steps = sorted(p for p in ckpt_dir.glob(f"{STEP_PREFIX}*") if p.is_dir())
    protected = {p for p in (ckpt_folder.pointer_target(ckpt_dir, name) for name in ckpt_folder.POINTERS) if p is not None}
    for p in steps[: max(0, len(steps) - max(keep, 1))]:
        if p not in protected:
            shutil.rmtree(p)
    records = []
    for p in ckpt_dir.glob(f"{STEP_PREFIX}*"):
        try:
            record = json.loads((p / "meta.json").read_text()).get("table")
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            records.append(record)
    table_store.prune(ckpt_dir, records)


def _check_build(path: Path, theirs: str, ours: str) -> None:
    if theirs != ours:
        raise ArcError(
            f"checkpoint {path} was trained on dataset {theirs or '(none)'} but this run's dataset is "
            f"{ours or '(none)'}; rebuild the matching dataset, point to a fresh checkpoint folder, "
            f"or initialise from it with remapping (init_from) so puzzle rows are matched by task and augmentation"
        )


def load(
    path: str | Path,
    *,
    model: torch.nn.Module,
    ema: Any = None,
    optimizer: torch.optim.Optimizer | None = None,
    fingerprint: str = "",
    puzzle_map: pl.DataFrame | None = None,
    remap: bool = False,
    remap_keys: tuple[str, ...] | None = None,
    rank: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Restore a checkpoint into `model` (and `ema`, `optimizer` when given); returns its meta
    plus `carry` (this rank's slots, or None) and `remapped` (rows matched, or None).

    A checkpoint from another dataset build (fingerprint) is refused unless `remap`: then the
    puzzle table is rebuilt by matching mapping keys, new rows at the mean of the trained rows,
    and the EMA and optimizer state are not restored (they belong to the old table's run)."""
    path = ckpt_folder.resolve(path)
    meta = ckpt_folder.read_meta(path)
    old_fp = meta.get("dataset_fingerprint", "")
    weights = _load(path / "weights.pt", device)
    emb = model.puzzle_emb
    stored = meta.get("table") if isinstance(meta.get("table"), dict) else None  # a host-held table, stored apart
    table = weights.pop(TABLE_KEY, None)
    if table is None and stored is None:
        raise ArcError(f"checkpoint {path} holds no puzzle table (neither in weights.pt nor stored apart)")
    have_rows, want_rows = (table.shape[0] if table is not None else stored["rows"]), emb.num_puzzles
    same_build = old_fp == fingerprint
    if not remap:
        _check_build(path, old_fp, fingerprint)
    old_map = None
    if not same_build:
        old_map = read_puzzle_map(path)
        if old_map is None or puzzle_map is None:
            raise ArcError(f"checkpoint {path}: remapping puzzle rows needs the puzzle-id mapping of both the checkpoint "
                           f"({'present' if old_map is not None else 'missing'}) and this run "
                           f"({'present' if puzzle_map is not None else 'missing'})")
    elif have_rows != want_rows:
        raise ArcError(f"checkpoint {path} has {have_rows} puzzle rows but the model has {want_rows}; "
                       f"the model config does not match the dataset the checkpoint was trained on")

    def restore(out: torch.Tensor | None = None) -> tuple[torch.Tensor, int | None]:
        """The checkpoint's table as this model wants it (rows remapped from another build), into `out`."""
        if old_map is None and table is None and out is not None:
            table_store.read_into(path.parent, stored, out)
            return out, None
        old = table if table is not None else table_store.read_all(path.parent, stored)
        if old_map is not None:
            return remap_table(old, old_map, puzzle_map, want_rows, remap_keys, out)
        return (old if out is None else out.copy_(old)), None

    remapped = None
    if emb.on_device:
        weights[TABLE_KEY], remapped = restore()
    elif emb.host is not None:  # the node's writer fills the shared table; its sum comes along when it counts the same rows
        same = old_map is None and table is None
        row_sum = stored["row_sum"] if same and stored.get("counted") == emb.host.counted_record() else None
        emb.host.fill(lambda out: restore(out), row_sum)
        emb.host.chain = stored if same else None
        if old_map is not None:  # the writer remapped; every rank reports the count
            old_ids = match_rows(puzzle_map, old_map, remap_keys)
            new_ids = puzzle_map["puzzle_id"].cast(pl.Int64).to_numpy()
            remapped = int(((old_ids >= 0) & (old_ids < have_rows) & (new_ids < want_rows)).sum())
    else:
        raise ValueError("this model reads its puzzle rows from a checkpoint; it cannot be loaded into")
    model.load_state_dict(weights)
    if same_build:
        if ema is not None and (path / "ema.pt").is_file():
            ema.load_state_dict(_load(path / "ema.pt", device))
        if optimizer is not None and (path / "optim.pt").is_file():
            optimizer.load_state_dict(_load(path / "optim.pt", device))
        state = _load(path / "state.pt")
        torch.set_rng_state(state["torch_rng"])
    carry_file = path / f"carry_rank{rank}.pt"
    carry = _load(carry_file, device) if same_build and carry_file.is_file() else None
    return dict(meta, carry=carry, remapped=remapped)


# --- a checkpoint as a model ---------------------------------------------------------------------


def model_config(meta: Mapping[str, Any], origin: str | Path = "checkpoint"):
    """The `ModelConfig` a checkpoint's meta records (JSON lists back to tuples)."""
    from dataclasses import fields

    from arc_pipeline.solver.config import ModelConfig

    given = meta.get("model_config")
    if not isinstance(given, Mapping):
        raise ArcError(f"{origin}: meta.json has no model_config; it is not a model checkpoint (train one with "
                       "`arc-pipeline train`, or import a reference one with `arc-pipeline import-reference`)")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ArcError(f"{origin}: model_config has keys this code does not know ({', '.join(unknown)}); "
                       f"it was written by a newer version: use that version (known keys: {', '.join(sorted(known))})")
    try:
        return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    except (TypeError, ValueError) as e:
        raise ArcError(f"{origin}: model_config is not a valid model ({e}); the checkpoint is damaged") from None


def model_from_state(cfg, state: Mapping[str, torch.Tensor], *, origin: str | Path, device: torch.device | str = "cpu",
                     rows: Any = None):
    """A TRM of `cfg` holding `state`, in eval mode; a tensor whose shape the config does not imply is
    an ArcError naming it (the config beside the weights is not theirs). `rows`: a table kept off the
    device in place of state's (a `table_store.StoredRows`)."""
    from arc_pipeline.solver.model import TRM

    if not isinstance(state, Mapping):
        raise ArcError(f"{origin}: holds a {type(state).__name__}, not a state dict of tensors")
    odd = next((k for k, t in state.items() if not isinstance(t, torch.Tensor)), None)
    if odd is not None:
        raise ArcError(f"{origin}: {odd!r} holds a {type(state[odd]).__name__}, not a tensor; these are not model weights")
    try:
        model = TRM(cfg, puzzle_table="device" if rows is None else "host")
    except (ValueError, TypeError, ZeroDivisionError, RuntimeError) as e:  # sizes no model can have
        raise ArcError(f"{origin}: the model config cannot build a model ({type(e).__name__}: {e})") from None
    if rows is not None:
        model.puzzle_emb.attach(rows)
    ours = model.state_dict()
    for key, t in state.items():
        if key in ours and tuple(t.shape) != tuple(ours[key].shape):
            raise ArcError(f"{origin}: {key} has shape {tuple(t.shape)} but the model config implies "
                           f"{tuple(ours[key].shape)}; the config beside these weights is not theirs")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # missing or unexpected keys
        raise ArcError(f"{origin}: the weights do not fit the model config ({str(e).splitlines()[0]})") from None
    return model.to(device).eval()


def build_model(
    checkpoint: str | Path,
    *,
    device: torch.device | str = "cpu",
    use_ema: bool = True,
    fingerprint: str | None = None,
):
    """The one way a checkpoint becomes a model: the TRM its meta describes, its weights, and its EMA
    weights in place of the live ones when `use_ema` and the checkpoint has them; eval mode.

    `checkpoint`: a step directory or a checkpoint folder (its `latest`). `fingerprint`: the dataset
    build the checkpoint must belong to (ArcError otherwise); None trusts the checkpoint's own.
    Unlike `load` (resuming training), the global torch RNG is left alone. A puzzle table stored apart
    (a host-table run) stays on disk: the model reads only the rows it is asked for (`StoredRows`)."""
    from arc_pipeline.solver.ema import EMA

    path = ckpt_folder.resolve(checkpoint)
    meta = ckpt_folder.read_meta(path)
    if fingerprint is not None:
        _check_build(path, meta.get("dataset_fingerprint", ""), fingerprint)
    stored = meta.get("table") if isinstance(meta.get("table"), dict) else None
    rows = table_store.StoredRows(path.parent, stored) if stored is not None else None
    model = model_from_state(model_config(meta, path), _load(path / "weights.pt", device), origin=path / "weights.pt",
                             device=device, rows=rows)
    if use_ema and (path / "ema.pt").is_file():
        ema = EMA(model)
        ema.load_state_dict(_load(path / "ema.pt", device))
        ema.copy_to(model)
    return model
