"""DDP on CPU (gloo): two ranks with half the batch each end where one process with the whole
batch ends, and the puzzle table is identical on both ranks (the reference sampling rule over a
grouped source: the ranks share one stream of whole variants)."""

from __future__ import annotations

import pytest
import torch

from arc_pipeline.solver.device import setup_runtime
from arc_pipeline.solver.train import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 4


def _configs(toy_configs, micro_batch: int = 0):
    # max_steps 2 over 4 steps: every slot halts and is refilled from the shared stream on the way
    mcfg, tcfg = toy_configs(global_batch=8, puzzle_lr=0.05, halt_exploration=0.5, lr=1e-3, micro_batch=micro_batch)
    return mcfg.__class__(**{**mcfg.__dict__, "max_steps": 2}), tcfg


def _record_grads(tr: Trainer) -> list[list[torch.Tensor]]:
    """Keep the dense gradients each optimizer step sees (the optimizers are scale-invariant,
    so only the gradients themselves show whether the loss is reduced as sum / global batch)."""
    seen: list[list[torch.Tensor]] = []
    real = tr.optimizer.step

    def step(*a, **k):
        seen.append([p.grad.detach().clone() for p in tr.model.parameters()])
        return real(*a, **k)

    tr.optimizer.step = step
    return seen


def _worker(rank: int, world: int, out: str, configs, source) -> None:
    rt = setup_runtime("cpu", "float32")
    tr = Trainer(*configs, source, rt)
    grads = _record_grads(tr)
    for _ in range(STEPS):
        tr.step()
    state = {k: v.detach().clone() for k, v in tr.model.state_dict().items()}
    torch.save({"state": state, "grads": grads[-1], "inputs": tr.carry["inputs"], "metrics": torch.tensor(list(tr.take_metrics().values()), dtype=torch.float64)},
               f"{out}/rank{rank}.pt")


# 2: each rank accumulates two chunks and DDP reduces only in the last (slow: a second pair of processes)
@pytest.mark.parametrize("micro_batch", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_two_gloo_ranks_match_one_process_with_the_combined_batch(tmp_path, micro_batch, cpu_runtime, grouped_toy_source,
                                                                  toy_configs, gloo_ranks):
    gloo_ranks(_worker, 2, str(tmp_path), _configs(toy_configs, micro_batch), grouped_toy_source())
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    single = Trainer(*_configs(toy_configs), grouped_toy_source(), cpu_runtime)
    grads = _record_grads(single)
    for _ in range(STEPS):
        single.step()
    ref = single.model.state_dict()

    # rank r holds global slots r*4 .. r*4+3: the same examples as the single process's slots
    assert torch.equal(torch.cat([r["inputs"] for r in ranks]), single.carry["inputs"])
    table = "puzzle_emb.table"
    assert torch.equal(ranks[0]["state"][table], ranks[1]["state"][table])
    assert torch.allclose(ranks[0]["state"][table], ref[table], atol=1e-6)
    assert not torch.equal(ref[table], torch.zeros_like(ref[table]))  # the rows did train
    for r in ranks:
        for g, want in zip(r["grads"], grads[-1]):
            assert torch.allclose(g, want, rtol=1e-4, atol=1e-7)
    for name, want in ref.items():
        for r in ranks:
            assert torch.allclose(r["state"][name], want, rtol=1e-4, atol=1e-5), name
    assert torch.allclose(ranks[0]["metrics"], torch.tensor(list(single.take_metrics().values()), dtype=torch.float64), rtol=1e-5)


@pytest.mark.parametrize("world", [1])
def test_setup_runtime_without_torchrun_is_single_process(world, monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    rt = setup_runtime("cpu")
    assert (rt.rank, rt.world_size, rt.is_main, rt.distributed) == (0, world, True, False)
