"""Every checkpoint format `arc-pipeline import-reference` reads, behind one call.

| format | written by | file | module |
|---|---|---|---|
| trm | SamsungSAILMontreal/TinyRecursiveModels `pretrain.py` (and TrelisResearch's fork: LoRA adapters merged) | `step_N`: a state dict | `solver.reference` |
| urm | UbiquantAI/URM `pretrain.py` | `step_N.pt`: {step, model_state_dict, optimizer_states, rng_state} | `solver.reference_urm` |

Each is checked against a fixture made by running that project's own code (tests/data/reference_*/).
"""

from __future__ import annotations

from pathlib import Path

from arc_pipeline.arc.errors import ArcError

FORMATS = ("trm", "urm")


def detect(step_file: str | Path) -> str:
    """The format of a checkpoint file: URM's dict with a model_state_dict holding ConvSwiGLU convolutions, else trm."""
    from arc_pipeline.solver.reference import load_state

    raw = load_state(Path(step_file))
    state = raw.get("model_state_dict", raw)
    if isinstance(state, dict) and any(k.endswith("mlp.dwconv.weight") for k in state):
        return "urm"
    return "trm"


def import_checkpoint(step_file: str | Path, identifiers: str | Path, out_dir: str | Path, *, canvas: int = 30,
                      fmt: str = "auto"):
    """Convert a checkpoint of `fmt` (or the detected one) into our checkpoint folder `out_dir`."""
    fmt = detect(step_file) if fmt == "auto" else fmt
    if fmt == "trm":
        from arc_pipeline.solver.reference import import_checkpoint as convert
    elif fmt == "urm":
        from arc_pipeline.solver.reference_urm import import_checkpoint as convert
    else:
        raise ArcError(f"format {fmt!r}: valid formats are auto, {', '.join(FORMATS)}")
    return convert(step_file, identifiers, out_dir, canvas=canvas)
