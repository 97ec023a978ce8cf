"""Host-device synchronisations per training step, counted on the CPU.

How: a `TorchFunctionMode` sees every tensor method and torch function the trainer calls. The calls
that make a GPU wait for its queue before the host can go on are the ones that read device values
on the host: `.item()`, `.tolist()`, `bool()`/`int()`/`float()` of a tensor, `.cpu()`, `.numpy()`,
`nonzero`/`argwhere`/`masked_select`/`unique`, and indexing with a boolean mask (a hidden nonzero).
On the CPU these cost nothing, but they are the same calls, so counting them here counts the syncs a
GPU would see (the trainer keeps host-side work in numpy: every torch tensor it reads is a device
tensor). The GPU check script measures the real thing with `torch.cuda.set_sync_debug_mode`.
A training step makes exactly one: the read of which slots halted (with the ranks' stop flags),
`Runtime.read_later` in solver/device.py, started before the optimizer's kernels are queued.
"""

from __future__ import annotations

import traceback
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import arc_pipeline
from arc_pipeline.solver.device import setup_runtime
from arc_pipeline.solver.train import Trainer, train

pytestmark = pytest.mark.usefixtures("one_thread")

READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy", "nonzero", "argwhere",
         "masked_select", "unique", "_unique2", "unique_consecutive", "unique_dim"}
INDEXING = {"__getitem__", "__setitem__", "index_put_", "index_put"}
ROOT = Path(arc_pipeline.__file__).resolve().parent.parent  # the repository (package-dir layout)
PACKAGES = ("arc", "augment", "pipeline", "solver", "submissions")
SANCTIONED = "solver/device.py:HostRead.numpy (numpy)"


def _has_bool_index(index) -> bool:
    items = index if isinstance(index, (tuple, list)) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


def _site() -> str:
    """The innermost project frame of the current call, as path:function."""
    for frame in reversed(traceback.extract_stack()[:-2]):  # less this function and the mode's handler
        path = Path(frame.filename).resolve()
        if path.is_relative_to(ROOT) and path.relative_to(ROOT).parts[0] in PACKAGES:
            qual = "HostRead.numpy" if frame.name == "numpy" and path.name == "device.py" else frame.name
            return f"{path.relative_to(ROOT).as_posix()}:{qual}"
    return "outside the project"


class _Reads(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.sites: Counter[str] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in READS or (name in INDEXING and len(args) > 1 and _has_bool_index(args[1])):
            self.sites[f"{_site()} ({name})"] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def count_host_reads():
    mode = _Reads()
    with mode:
        yield mode.sites


def _configs(toy_configs, **kw):
    mcfg, tcfg = toy_configs(global_batch=8, halt_exploration=0.5, puzzle_lr=0.05, **kw)
    return mcfg.__class__(**{**mcfg.__dict__, "max_steps": 2}), tcfg  # slots halt and refill every other step


def _per_step(sites: Counter, steps: int) -> dict[str, float]:
    return {k: v / steps for k, v in sites.items()}


@pytest.mark.parametrize("kw", [{}, {"micro_batch": 2}, {"exploration": "per_example"}])
def test_a_training_step_reads_the_device_once(kw, cpu_runtime, grouped_toy_source, toy_configs):
    tr = Trainer(*_configs(toy_configs, **kw), grouped_toy_source(), cpu_runtime)
    tr.step()  # the first step reads the initial mask itself
    with count_host_reads() as sites:
        for _ in range(6):
            tr.step()
    assert _per_step(sites, 6) == {SANCTIONED: 1.0}, sites


def test_the_training_loop_adds_no_read_between_logs(tmp_path, cpu_runtime, grouped_toy_source, toy_configs):
    """train(): stop flags ride on the step's read; metrics are read at log steps only."""
    mcfg, tcfg = _configs(toy_configs, steps=9, log_every=100, eval_every=0, checkpoint_every=0)
    with count_host_reads() as sites:
        train(mcfg, tcfg, grouped_toy_source(), tmp_path / "ckpt", runtime=cpu_runtime)
    assert sites[SANCTIONED] == 9  # one per step: the first reads the initial mask
    others = {k: v for k, v in sites.items() if k != SANCTIONED}
    assert sum(others.values()) <= 12, others  # the final log row, checkpoint and finite checks: once each, not per step


def _worker(rank: int, world: int, out: str, configs, source) -> None:
    tr = Trainer(*configs, source, setup_runtime("cpu", "float32"))
    tr.stop_flags = lambda: (False, rank == 1 and tr.step_count == 4)  # rank 1 alone sees a SIGTERM at step 5
    tr.step()
    tr.agreed_flags()  # as the training loop does after every step
    agreed = []
    with count_host_reads() as sites:
        for _ in range(6):
            tr.step()
            agreed.append(tr.agreed_flags())
    torch.save({"sites": dict(sites), "agreed": agreed}, f"{out}/rank{rank}.pt")


@pytest.mark.slow  # two spawned ranks; the default tier's DDP path is tests/solver/test_ddp.py
def test_two_ranks_read_once_per_step_and_agree_on_stopping(tmp_path, grouped_toy_source, toy_configs, gloo_ranks):
    gloo_ranks(_worker, 2, str(tmp_path), _configs(toy_configs), grouped_toy_source())
    for rank in range(2):
        r = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        assert _per_step(Counter(r["sites"]), 6) == {SANCTIONED: 1.0}, r["sites"]
        # every rank learns rank 1's flag at the same step, from the same read
        assert [a[1] for a in r["agreed"]] == [False, False, False, True, False, False], r["agreed"]
