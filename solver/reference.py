"""Importing checkpoints written by the reference TRM code (`pretrain.py`) into ours.

A reference checkpoint is `step_N`: `torch.save` of the compiled model's state dict (keys
`_orig_mod.model.inner.*`, or `model.inner.*` without torch.compile; an EMA run saves its EMA copy
under the same keys), beside the run's `all_config.yaml`. The dataset's `identifiers.json` names
every puzzle row. What differs from ours (tests/data/reference_trm/README.md has the evidence):
- names: embed_tokens -> tokens, H_init/L_init -> y_init/z_init, puzzle_emb.weights ->
  puzzle_emb.table, L_level.layers.i.{self_attn.qkv_proj, self_attn.o_proj, mlp.gate_up_proj,
  mlp.down_proj} -> blocks.i.{mixer.qkv, mixer.out, mlp.gate_up, mlp.down};
- q_head has two rows (halt, continue); with no_ACT_continue (the reference's default) only the
  halt row decides, so it becomes our one-output halt_head;
- RoPE: the reference rotates channel j with j + head_dim/2 (rotate_half), ours rotates pairs
  (2i, 2i+1), so the q and k rows of qkv_proj are interleaved head by head (q.k is unchanged);
- config: hidden_size, num_heads, expansion, L_layers, L_cycles (n), H_cycles (T), halt_max_steps
  (N_sup), puzzle_emb_len; the sequence length is not in the checkpoint (RoPE tables are not
  saved): it is the dataset's canvas squared (30 x 30 for the reference's ARC builds).
Variants we cannot verify against the reference (mlp_t, learned positions, the continue-halting
loss, puzzle vectors wider than hidden) are refused rather than guessed.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.solver.config import ModelConfig

PREFIXES = ("_orig_mod.model.inner.", "model.inner.")
CONFIG_FILE = "all_config.yaml"


# --- the subset of YAML that `yaml.dump(config.model_dump())` writes ----------------------------


def _scalar(text: str) -> Any:
    t = text.strip()
    if t in ("", "~", "null", "Null", "NULL"):
        return None
    if t in ("true", "True", "TRUE"):
        return True
    if t in ("false", "False", "FALSE"):
        return False
    if t == "[]":
        return []
    if t == "{}":
        return {}
    if len(t) >= 2 and t[0] == t[-1] == "'":
        return t[1:-1].replace("''", "'")
    if len(t) >= 2 and t[0] == t[-1] == '"':
        return t[1:-1].encode().decode("unicode_escape")
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?", t):  # YAML 1.1 (PyYAML): a float has a dot
        return float(t)
    if t in (".inf", "+.inf"):
        return float("inf")
    if t == "-.inf":
        return float("-inf")
    if t in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return t


def read_yaml(text: str, origin: str = CONFIG_FILE) -> Any:
    """Block mappings, block sequences (of scalars or mappings) and plain or quoted scalars: what
    PyYAML's default dump of a config writes. Anything else (anchors, flow collections with items,
    multi-line strings) is an ArcError naming the line, rather than a silent misread."""
    lines = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#") or raw.strip() == "---":
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ArcError(f"{origin}: line {n}: tab indentation is not YAML")
        lines.append((n, len(raw) - len(raw.lstrip()), raw.strip()))
    pos = 0

    def fail(n: int, what: str) -> ArcError:
        return ArcError(f"{origin}: line {n}: {what} is not supported by this reader; pass the reference's own all_config.yaml")

    def scalar(text: str, n: int) -> Any:
        try:
            return _scalar(text)
        except (UnicodeDecodeError, ValueError) as e:  # e.g. a bad \x escape in a double-quoted string
            raise ArcError(f"{origin}: line {n}: {text.strip()[:80]!r} is not a valid YAML scalar ({e})") from None

    def value_or_block(rest: str, n: int, indent: int) -> Any:
        if rest:
            if rest[0] in "&*!|>" or (rest[0] in "[{" and rest not in ("[]", "{}")):
                raise fail(n, f"value {rest!r}")
            return scalar(rest, n)
        if pos < len(lines) and (lines[pos][1] > indent or (lines[pos][1] == indent and lines[pos][2].startswith("- "))):
            return block(lines[pos][1])
        return None

    def block(indent: int) -> Any:
        nonlocal pos
        is_list = lines[pos][2] == "-" or lines[pos][2].startswith("- ")
        out: Any = [] if is_list else {}
        while pos < len(lines) and lines[pos][1] == indent:
            n, _, body = lines[pos]
            if is_list != (body == "-" or body.startswith("- ")):
                if is_list:  # PyYAML writes a mapping's list at the key's own indentation: back to the key's level
                    break
                raise fail(n, "mixing a list and a mapping at one indentation")
            pos += 1
            if is_list:
                item = body[1:].strip()
                if item.startswith("- ") or (":" in item and not item.startswith(("'", '"'))):
                    # a mapping item: its first key sits on the dash line, the rest two columns in
                    lines.insert(pos, (n, indent + 2, item))
                    out.append(block(indent + 2))
                else:
                    out.append(value_or_block(item, n, indent))
                continue
            key, sep, rest = body.partition(":")
            if not sep or (rest and not rest.startswith(" ")):
                raise fail(n, f"line {body!r}")
            k = scalar(key, n)
            try:
                out[k] = value_or_block(rest.strip(), n, indent)
            except TypeError:  # an unhashable key
                raise fail(n, f"key {key!r}") from None
        if pos < len(lines) and lines[pos][1] > indent:
            raise fail(lines[pos][0], "unexpected indentation")
        if not out and not is_list:
            raise fail(lines[pos - 1][0] if pos else 0, "an empty block")
        return out

    if not lines:
        return {}
    result = block(lines[0][1])
    if pos < len(lines):
        raise fail(lines[pos][0], "text after the document")
    return result


# --- config and weights --------------------------------------------------------------------------


def read_config(step_file: Path) -> dict:
    """The reference's all_config.yaml beside `step_file` (its `arch` section is required)."""
    path = step_file.parent / CONFIG_FILE
    if not path.is_file():
        raise ArcError(f"{path} not found: the reference writes {CONFIG_FILE} beside its step_N files; copy it there")
    return read_arch_config(path, f"the reference's own {CONFIG_FILE}", f"is this the reference's {CONFIG_FILE}?")


def read_arch_config(path: Path, own: str, question: str) -> dict:
    """A YAML config with an `arch` section (every importer's), read as UTF-8; a fault is an ArcError
    naming `path`: `own` says what to pass instead, `question` what a config without `arch` may be."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ArcError(f"{path}: cannot read it as UTF-8 text ({e}); pass {own}") from None
    cfg = read_yaml(text, str(path))
    if not isinstance(cfg, dict) or not isinstance(cfg.get("arch"), dict):
        raise ArcError(f"{path}: no 'arch' section; {question}")
    return cfg


def arch_number(raw: Any, key: str, kind: type, origin: str, *, low: float = 1) -> Any:
    """`raw` (arch.key) as `kind`, at least `low` (ints) or finite and at least `low` (floats), or an
    ArcError naming it (every importer's numbers)."""
    try:
        v = kind(raw)
        if isinstance(raw, bool) or (kind is int and v != raw) or not math.isfinite(v) or v < low:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        want = f"an integer >= {low:g}" if kind is int else f"a finite number >= {low:g}"
        raise ArcError(f"{origin}: arch.{key} = {raw!r}; valid: {want}") from None
    return v


def model_config(arch: dict, *, seq_len: int, num_puzzles: int, vocab_size: int, origin: str) -> ModelConfig:
    """Our ModelConfig for a reference `arch` section; unsupported variants are an ArcError."""

    def need(key: str) -> Any:
        if key not in arch:
            raise ArcError(f"{origin}: arch.{key} is missing; pass the reference's own {CONFIG_FILE}")
        return arch[key]

    def number(key: str, kind: type, default: Any = None, *, low: float = 1) -> Any:
        return arch_number(need(key) if default is None else arch.get(key, default), key, kind, origin, low=low)

    name = str(arch.get("name", ""))
    if "trm" not in name.split("@")[0]:
        raise ArcError(f"{origin}: arch.name {name!r} is not the TRM (recursive_reasoning.trm@...); only TRM checkpoints import")
    refuse = [(arch.get("mlp_t", False), "arch.mlp_t = true (the sequence-MLP variant)"),
              (arch.get("pos_encodings", "rope") != "rope", f"arch.pos_encodings = {arch.get('pos_encodings')!r}"),
              (not arch.get("no_ACT_continue", True), "arch.no_ACT_continue = false (halting on q_halt > q_continue)")]
    for bad, what in refuse:
        if bad:
            raise ArcError(f"{origin}: {what} is not supported: only the reference's ARC configuration "
                           f"(attention, RoPE, halt row only) is verified against its code")
    hidden, heads = number("hidden_size", int), number("num_heads", int)
    if hidden % heads or (hidden // heads) % 2:
        raise ArcError(f"{origin}: arch.hidden_size = {hidden} and arch.num_heads = {heads}: the heads must divide "
                       "the hidden size into an even head size (RoPE); pass the reference's own config")
    ndim = number("puzzle_emb_ndim", int, hidden, low=0)
    if ndim not in (0, hidden):
        raise ArcError(f"{origin}: arch.puzzle_emb_ndim = {ndim} differs from hidden_size = {hidden}; not supported")
    emb_len = number("puzzle_emb_len", int, 0, low=0) or (-(ndim // -hidden) if ndim else 0)
    return ModelConfig(
        vocab_size=vocab_size, seq_len=seq_len, num_puzzles=num_puzzles, hidden=hidden, heads=heads,
        expansion=number("expansion", float, low=1e-9), layers=number("L_layers", int),
        n_latent=number("L_cycles", int), n_recursions=number("H_cycles", int),
        max_steps=number("halt_max_steps", int), mixer="attention",
        pos_encoding="rope", puzzle_emb_len=emb_len if ndim else 0, rope_theta=number("rope_theta", float, 10000.0, low=1e-9),
        rms_eps=number("rms_norm_eps", float, 1e-5, low=1e-30),
        halt_exploration=number("halt_exploration_prob", float, 0.1, low=0),
    )


def rope_order(heads: int, head_dim: int) -> torch.Tensor:
    """Row gather for one q or k block: new[h*d + c] = old[h*d + c//2 + (c%2)*d/2] (rotate_half -> pairs)."""
    c = torch.arange(head_dim)
    within = c // 2 + (c % 2) * (head_dim // 2)
    return (torch.arange(heads)[:, None] * head_dim + within[None, :]).reshape(-1)


def strip_prefix(sd: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    for prefix in PREFIXES:
        if any(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    raise ArcError(f"{origin}: no key starts with {' or '.join(PREFIXES)}; is this a reference step_N checkpoint?")


class Taker:
    """Tensors out of a reference state dict by name, fp32 and shape-checked, remembering which were taken
    (what is left over is refused: a weight dropped silently is a model not reproduced)."""

    def __init__(self, ref: dict[str, torch.Tensor], origin: str):
        self.ref, self.origin, self.used = ref, origin, set()

    def __call__(self, key: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        self.used.add(key)
        if key not in self.ref:
            raise ArcError(f"{self.origin}: key {key!r} is missing from the checkpoint")
        t = self.ref[key].detach().float()
        if shape is not None and tuple(t.shape) != shape:
            raise ArcError(f"{self.origin}: {key} has shape {tuple(t.shape)}, the config implies {shape}")
        return t

    def heads_and_tables(self, cfg: ModelConfig) -> dict[str, torch.Tensor]:
        """Token embedding, output head, the q_head's halt row (row 0; with no_ACT_continue only it
        decides) and the puzzle table: named alike by the reference TRM and URM."""
        h = cfg.hidden
        q_w, q_b = self("q_head.weight", (2, h)), self("q_head.bias", (2,))
        out = {"tokens.weight": self("embed_tokens.embedding_weight", (cfg.vocab_size, h)),
               "lm_head.weight": self("lm_head.weight", (cfg.vocab_size, h)),
               "halt_head.weight": q_w[:1].clone(), "halt_head.bias": q_b[:1].clone()}
        if cfg.puzzle_emb_len:
            out["puzzle_emb.table"] = self("puzzle_emb.weights", (cfg.num_puzzles, h))
        return out

    def attention(self, src: str, dst: str, cfg: ModelConfig) -> dict[str, torch.Tensor]:
        """One block's attention: q and k rows reordered head by head (rotate_half -> pairs), v as is."""
        h = cfg.hidden
        qk = rope_order(cfg.heads, h // cfg.heads)
        order = torch.cat([qk, qk + h, torch.arange(2 * h, 3 * h)])
        return {dst + "mixer.qkv.weight": self(src + "self_attn.qkv_proj.weight", (3 * h, h))[order].clone(),
                dst + "mixer.out.weight": self(src + "self_attn.o_proj.weight", (h, h))}

    def leftover(self, what: str) -> None:
        unknown = sorted(set(self.ref) - self.used)
        if unknown:
            raise ArcError(f"{self.origin}: {len(unknown)} tensor(s) this importer does not know, e.g. {unknown[0]!r}; "
                           f"only {what} imports")


def convert_state(ref: dict[str, torch.Tensor], cfg: ModelConfig, origin: str) -> dict[str, torch.Tensor]:
    """Our TRM state dict from the reference's (prefix already stripped)."""
    take = Taker(ref, origin)
    out = take.heads_and_tables(cfg) | {"y_init": take("H_init", (cfg.hidden,)), "z_init": take("L_init", (cfg.hidden,))}
    for i in range(cfg.layers):
        src, dst = f"L_level.layers.{i}.", f"blocks.{i}."
        out |= take.attention(src, dst, cfg)
        out[dst + "mlp.gate_up.weight"] = take(src + "mlp.gate_up_proj.weight")
        out[dst + "mlp.down.weight"] = take(src + "mlp.down_proj.weight")
    extra = sorted(k for k in ref if k.startswith("L_level.layers.") and int(k.split(".")[2]) >= cfg.layers)
    if extra:
        raise ArcError(f"{origin}: {extra[0]} exists but arch.L_layers = {cfg.layers}; the config does not match the weights")
    take.leftover("the reference TRM (attention, RoPE; LoRA merged)")
    return out


@dataclass(frozen=True)
class Imported:
    checkpoint: Path  # our step directory
    model_config: ModelConfig
    step: int
    puzzles: int  # trained rows (identifiers without the blank)
    tasks: int


def import_checkpoint(step_file: str | Path, identifiers: str | Path, out_dir: str | Path, *, canvas: int = 30) -> Imported:
    """Convert a reference step file (+ its all_config.yaml and the dataset's identifiers.json) into
    our checkpoint folder `out_dir` (a step directory, `latest`, puzzle_map.parquet in our records).
    LoRA adapters (Trelis's fork: `*._lora_A` / `*._lora_B` beside a weight, scaled by arch.lora_alpha /
    arch.lora_rank) are merged into the weights they adapt."""
    step_file = Path(step_file)
    check_out_dir(out_dir)
    config = read_config(step_file)
    names, pmap = read_rows(identifiers)
    ref = strip_prefix(tensors_only(load_state(step_file), step_file), str(step_file))
    ref = merge_lora(ref, config["arch"], str(step_file))
    rows = check_rows(ref.get("puzzle_emb.weights"), names, identifiers)
    vocab = int(ref["embed_tokens.embedding_weight"].shape[0]) if "embed_tokens.embedding_weight" in ref else 12
    mcfg = model_config(config["arch"], seq_len=canvas * canvas, num_puzzles=rows, vocab_size=vocab,
                        origin=str(step_file.parent / CONFIG_FILE))
    return save_imported(step_file, convert_state(ref, mcfg, str(step_file)), mcfg, pmap, identifiers, out_dir,
                         canvas=canvas, source_config=config, fmt="trm")


# --- shared by every importer (solver.reference_urm too) ------------------------------------------


def load_state(step_file: Path) -> dict:
    """The tensors of a checkpoint file, loaded with weights_only (nothing arbitrary is unpickled)."""
    if not step_file.is_file():
        raise ArcError(f"{step_file}: no such file; pass the checkpoint file (step_N or step_N.pt)")
    try:
        raw = torch.load(step_file, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a file that is not a plain tensor pickle
        raise ArcError(f"{step_file}: cannot be loaded as a tensor-only state dict ({type(e).__name__}: {e})") from None
    if not isinstance(raw, dict):
        raise ArcError(f"{step_file}: holds a {type(raw).__name__}, not a state dict")
    return raw


def check_out_dir(out_dir: str | Path) -> None:
    """Refuse an --out folder that already holds checkpoints (or is a file): an import writes a new
    folder and never replaces or deletes steps it did not write."""
    from arc_pipeline.solver import ckpt_folder

    out_dir = Path(out_dir)
    there = ([p.name for p in ckpt_folder.steps(out_dir)] + [n for n in ckpt_folder.POINTERS if (out_dir / n).exists()]
             if out_dir.is_dir() else [])
    if there or (out_dir.exists() and not out_dir.is_dir()):
        held = f"already holds checkpoints ({', '.join(there[:4])})" if there else "is not a folder"
        raise ArcError(f"--out {out_dir} {held}; import-reference writes a new checkpoint folder and never replaces "
                       "or deletes steps it did not write: pass a new or empty folder")


def tensors_only(state: dict, step_file: Path) -> dict:
    """`state` when every value is a tensor, else an ArcError naming the first that is not."""
    odd = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if odd is not None:
        raise ArcError(f"{step_file}: {str(odd)[:200]!r} holds a {type(state[odd]).__name__}, not a tensor; "
                       "pass the checkpoint file that training wrote")
    return state


def read_rows(identifiers: str | Path):
    """(names, our puzzle map) from a reference dataset's identifiers.json."""
    from arc_pipeline.augment.reference import puzzle_map, read_identifiers

    names = read_identifiers(identifiers)
    return names, puzzle_map(names, str(identifiers))


def check_rows(table: torch.Tensor | None, names: list, identifiers) -> int:
    rows = int(table.shape[0]) if table is not None else len(names)
    if rows != len(names):
        raise ArcError(f"{identifiers}: {len(names)} names but the checkpoint's puzzle table has {rows} rows; "
                       f"pass the identifiers.json of the dataset this checkpoint was trained on")
    return rows


LORA = ("._lora_A", "._lora_B")


def merge_lora(ref: dict[str, torch.Tensor], arch: dict, origin: str) -> dict[str, torch.Tensor]:
    """`ref` with every LoRA pair folded into its weight: W + (alpha / rank) B A (Trelis's CastedLinear
    adds x A^T B^T times that scale to x W^T, so the merged linear computes the same)."""
    pairs = sorted({k[: -len(LORA[0])] for k in ref if k.endswith(LORA)})
    if not pairs:
        return ref
    rank = int(arch.get("lora_rank", 0) or 0)
    if rank <= 0:
        raise ArcError(f"{origin}: the checkpoint holds LoRA adapters ({pairs[0]}._lora_A, ...) but arch.lora_rank "
                       f"is {arch.get('lora_rank')!r}; pass the all_config.yaml of the run that wrote it")
    alpha = arch.get("lora_alpha")
    scale = float(alpha if alpha is not None else rank) / rank
    out = {k: v for k, v in ref.items() if not k.endswith(LORA)}
    for base in pairs:
        a, b, w = ref.get(base + LORA[0]), ref.get(base + LORA[1]), ref.get(base + ".weight")
        if a is None or b is None or w is None:
            raise ArcError(f"{origin}: {base} has an incomplete LoRA pair or no weight to merge it into")
        if tuple(b.shape) != (w.shape[0], a.shape[0]) or a.shape[1] != w.shape[1]:
            raise ArcError(f"{origin}: {base}: LoRA shapes {tuple(a.shape)}, {tuple(b.shape)} do not fit weight "
                           f"{tuple(w.shape)}")
        out[base + ".weight"] = (w.double() + scale * (b.double() @ a.double())).float()  # one rounding
    return out


def save_imported(step_file: Path, state: dict[str, torch.Tensor], mcfg: ModelConfig, pmap, identifiers, out_dir,
                  *, canvas: int, source_config: dict, fmt: str, step: int | None = None) -> Imported:
    """Our checkpoint folder from a converted state dict (model built and shape-checked first)."""
    from arc_pipeline.solver import checkpoint as ckpt

    model = ckpt.model_from_state(mcfg, state, origin=step_file)
    if step is None:
        m = re.search(r"(\d+)(?:\.pt)?$", step_file.name)
        step = int(m.group(1)) if m else 0
    meta = {"dataset_fingerprint": "", "model_config": asdict(mcfg), "canvas": canvas,
            "imported": {"format": fmt, "source": str(step_file.resolve()), "sha256": _sha256(step_file),
                         "identifiers": str(Path(identifiers).resolve()), "reference_config": source_config}}
    out = ckpt.save(out_dir, step, model=model, meta=meta, puzzle_map=pmap, keep=1)
    return Imported(out, mcfg, step, pmap.height, pmap["task_id"].n_unique())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
