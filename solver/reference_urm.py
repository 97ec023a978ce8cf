"""Importing checkpoints of the Universal Reasoning Model (UbiquantAI/URM, arXiv 2512.14693) into ours.

URM's `pretrain.py` writes `step_N.pt` = {step, model_state_dict, optimizer_states, rng_state[,
cuda_rng_state]} (the EMA copy's weights when trained with ema), its config as `all_config.yaml` or
hydra's `.hydra/config.yaml` beside the file, and its dataset builder the same `identifiers.json` as
the reference TRM's (name|||t<dihedral>|||<colour map>). The model maps onto our URM options
(tests/data/reference_urm/PROVENANCE.md has the evidence):
- one state h (our y, `model.recursion = "urm"`), a recursion = L_cycles calls h <- layers(h + x):
  n_latent = L_cycles, n_recursions = H_cycles, max_steps = loops; the first H_cycles - 1 cycles run
  without gradients (`model.grad_calls = 0`); init_hidden -> y_init;
- ConvSwiGLU feed-forward: gate_up_proj, a depthwise `dwconv` (kernel from its weight, bias; URM
  keeps it in bf16, we read it in fp32) and down_proj -> `model.conv_kernel`;
- attention, q_head (halt row), RoPE (rotate_half, so q/k rows are interleaved) and the puzzle
  table as in the reference TRM; one prepended position (puzzle_emb_ndim = hidden_size). URM always
  uses RoPE and evaluates all `loops` steps (the halting head is read in training only).
"""

from __future__ import annotations

from pathlib import Path

import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.config import ModelConfig
from arc_pipeline.solver.reference import (CONFIG_FILE, Taker, arch_number, check_out_dir, check_rows, load_state,
                                           read_arch_config, read_rows, save_imported, strip_prefix, tensors_only)

CONFIG_FILES = (CONFIG_FILE, "config.yaml", ".hydra/config.yaml")


def read_config(step_file: Path) -> dict:
    """URM's config beside `step_file`: all_config.yaml, config.yaml or .hydra/config.yaml (an `arch` section)."""
    for name in CONFIG_FILES:
        path = step_file.parent / name
        if path.is_file():
            return read_arch_config(path, "the URM run's own config", "is this the config of a URM run?")
    raise ArcError(f"{step_file.parent}: none of {', '.join(CONFIG_FILES)} found; URM's config (its `arch` section: "
                   "loops, H_cycles, L_cycles, num_layers, hidden_size, num_heads, expansion) must sit beside the step file")


def _value(arch: dict, key: str, origin: str):
    """arch[key], with a hydra `${.other}` reference (e.g. puzzle_emb_ndim: ${.hidden_size}) followed."""
    if key not in arch:
        raise ArcError(f"{origin}: arch.{key} is missing; pass the URM run's own config")
    v = arch[key]
    if isinstance(v, str) and v.startswith("${.") and v.endswith("}"):
        return _value(arch, v[3:-1], origin)
    return v


def model_config(arch: dict, *, seq_len: int, num_puzzles: int, vocab_size: int, conv_kernel: int,
                 origin: str) -> ModelConfig:
    """Our ModelConfig (URM options) for a URM `arch` section."""
    name = str(arch.get("name", ""))
    if not name.startswith("urm."):
        raise ArcError(f"{origin}: arch.name {name!r} is not URM (urm.urm@URM); import TRM checkpoints with --format trm")

    def number(key: str, kind: type, default=None, *, low: float = 1):
        raw = _value(arch, key, origin) if default is None or key in arch else default
        return arch_number(raw, key, kind, origin, low=low)

    hidden = number("hidden_size", int)
    ndim = number("puzzle_emb_ndim", int, 0, low=0)
    if ndim not in (0, hidden):
        raise ArcError(f"{origin}: arch.puzzle_emb_ndim = {ndim} differs from hidden_size = {hidden}; not supported")
    return ModelConfig(
        vocab_size=vocab_size, seq_len=seq_len, num_puzzles=num_puzzles, hidden=hidden,
        heads=number("num_heads", int), expansion=number("expansion", float, low=1e-9),
        layers=number("num_layers", int), n_latent=number("L_cycles", int),
        n_recursions=number("H_cycles", int), max_steps=number("loops", int),
        mixer="attention", pos_encoding="rope", puzzle_emb_len=1 if ndim else 0,
        rope_theta=number("rope_theta", float, 10000.0, low=1e-9), rms_eps=number("rms_norm_eps", float, 1e-5, low=1e-30),
        halt_exploration=0.1,  # URM draws exploration at 0.1, fixed in its code
        recursion="urm", grad_calls=0, conv_kernel=conv_kernel,
    )


def convert_state(ref: dict[str, torch.Tensor], cfg: ModelConfig, origin: str) -> dict[str, torch.Tensor]:
    """Our TRM state dict (URM options) from URM's (prefix already stripped)."""
    take = Taker(ref, origin)
    start = take("init_hidden", (cfg.hidden,))
    out = take.heads_and_tables(cfg) | {"y_init": start, "z_init": start.clone()}  # z is carried unused under "urm"
    for i in range(cfg.layers):
        src, dst = f"layers.{i}.", f"blocks.{i}."
        out |= take.attention(src, dst, cfg)
        out[dst + "mlp.gate_up.weight"] = take(src + "mlp.gate_up_proj.weight")
        out[dst + "mlp.conv.weight"] = take(src + "mlp.dwconv.weight")
        out[dst + "mlp.conv.bias"] = take(src + "mlp.dwconv.bias")
        out[dst + "mlp.down.weight"] = take(src + "mlp.down_proj.weight")
    take.leftover(f"URM with its own config (arch.num_layers = {cfg.layers}?)")
    return out


def import_checkpoint(step_file: str | Path, identifiers: str | Path, out_dir: str | Path, *, canvas: int = 30):
    """Convert a URM `step_N.pt` (+ its config and the dataset's identifiers.json) into our checkpoint folder."""
    step_file = Path(step_file)
    check_out_dir(out_dir)
    raw = load_state(step_file)
    state = raw.get("model_state_dict") if "model_state_dict" in raw else raw  # early URM files: weights only
    if not isinstance(state, dict):
        raise ArcError(f"{step_file}: model_state_dict is a {type(state).__name__}, not a state dict")
    config = read_config(step_file)
    names, pmap = read_rows(identifiers)
    ref = strip_prefix(tensors_only(state, step_file), str(step_file))
    rows = check_rows(ref.get("puzzle_emb.weights"), names, identifiers)
    conv = ref.get("layers.0.mlp.dwconv.weight")
    if conv is None:
        raise ArcError(f"{step_file}: no layers.0.mlp.dwconv.weight: not a URM checkpoint (ConvSwiGLU); try --format trm")
    vocab = int(ref["embed_tokens.embedding_weight"].shape[0]) if "embed_tokens.embedding_weight" in ref else 12
    mcfg = model_config(config["arch"], seq_len=canvas * canvas, num_puzzles=rows, vocab_size=vocab,
                        conv_kernel=int(conv.shape[-1]), origin=f"{step_file.parent} config")
    step = raw.get("step") if isinstance(raw.get("step"), int) else None
    return save_imported(step_file, convert_state(ref, mcfg, str(step_file)), mcfg, pmap, identifiers, out_dir,
                         canvas=canvas, source_config=config, fmt="urm", step=step)
