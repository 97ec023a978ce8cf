"""Device and dtype resolution, and the rule that only solver/device.py names CUDA."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver import device

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_runtime_is_float32_and_autocast_is_a_no_op():
    rt = device.Runtime(device.resolve_device("cpu"), device.resolve_dtype("auto", torch.device("cpu")))
    assert rt.dtype == torch.float32 and not rt.is_gpu
    with rt.autocast():
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
    assert torch.equal(rt.all_gather(torch.arange(3)), torch.arange(3))  # single process: itself


def test_explicit_dtypes_and_typos():
    cpu = torch.device("cpu")
    assert device.resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(ArcError, match="valid: auto, float32, bfloat16"):
        device.resolve_dtype("fp16", cpu)


def test_bf16_autocast_on_cpu_when_asked():
    rt = device.Runtime(torch.device("cpu"), torch.bfloat16)
    with rt.autocast():
        out = torch.nn.Linear(4, 4)(torch.ones(1, 4))
    assert out.dtype == torch.bfloat16


@pytest.mark.skipif(device.gpu_available(), reason="a GPU is visible")
def test_asking_for_a_gpu_without_one_is_a_user_error():
    with pytest.raises(ArcError, match="train.device=cpu"):
        device.resolve_device("cuda")
    assert device.resolve_device("auto").type == "cpu"


def test_only_the_device_module_names_cuda():
    pattern = re.compile(r"""["']cuda|torch\.cuda|\.cuda\(""")
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("arc", "augment", "solver", "pipeline", "submissions")
        for p in (ROOT / pkg).rglob("*.py")
        if p != ROOT / "solver" / "device.py" and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_bf16_only_where_the_gpu_has_it(monkeypatch):
    """auto -> float32 with a note on a GPU without native bf16; asking for bf16 there is refused."""
    gpu = torch.device("cuda", 0)  # never touched: support and name are stubbed
    monkeypatch.setattr(device, "gpu_name", lambda d: "Tesla T4")
    monkeypatch.setattr(device, "bf16_supported", lambda d: False)
    dtype, note = device.choose_dtype("auto", gpu)
    assert dtype == torch.float32 and "Tesla T4 has no native bf16" in note
    with pytest.raises(ArcError, match="train.dtype=auto"):
        device.choose_dtype("bfloat16", gpu)
    assert device.choose_dtype("float32", gpu) == (torch.float32, "")
    monkeypatch.setattr(device, "bf16_supported", lambda d: True)
    assert device.choose_dtype("auto", gpu) == (torch.bfloat16, "")
    assert device.choose_dtype("auto", torch.device("cpu")) == (torch.float32, "")


def test_cpu_reports_no_gpu_memory():
    rt = device.Runtime(torch.device("cpu"), torch.float32)
    rt.reset_peak_memory()
    assert rt.peak_memory() == 0 and rt.memory_capacity() == 0 and rt.device_name() == "cpu"


def test_freed_cpu_memory_is_reused_without_page_faults():
    resource = pytest.importorskip("resource")
    if not device.keep_freed_memory():
        pytest.skip("not glibc")

    def touch() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(16 * 2**20).fill_(1.0)  # 64 MiB, freed at once
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    # a fresh 64 MiB faults 16,384 pages every time; kept memory is reused once the heap has room
    # around the small objects that land between the big blocks (a few rounds)
    faults = [touch() for _ in range(16)]
    assert sum(faults[-4:]) < 16384, faults


def test_system_malloc_when_asked(monkeypatch):
    monkeypatch.setenv("ARC_CPU_MALLOC", "system")
    assert device.keep_freed_memory() is False
