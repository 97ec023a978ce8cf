"""The reference TRM's config names (its all_config.yaml and hydra overrides such as `arch.H_cycles=3`)
and the key each one is here, so an unknown key a user brings from the reference says which key it is.

Only the hint reads this table; importing a reference checkpoint maps `arch` in `solver.reference.model_config`
(tests/pipeline/test_config_names.py checks the two agree on the fixture's all_config.yaml).
"""

from __future__ import annotations

# reference name (without "arch.") -> our key, with a note where the meaning differs
REFERENCE_NAMES: dict[str, str] = {
    "H_cycles": "model.n_recursions (T, recursions per supervision step)",
    "L_cycles": "model.n_latent (n, z updates per recursion)",
    "L_layers": "model.layers",
    "H_layers": "no key: TRM has one network (H_layers is HRM's); its depth is model.layers",
    "hidden_size": "model.hidden",
    "num_heads": "model.heads",
    "expansion": "model.expansion",
    "halt_max_steps": "model.max_steps (N_sup)",
    "halt_exploration_prob": "model.halt_exploration",
    "puzzle_emb_ndim": "model.puzzle_emb_len (positions prepended; the table is model.hidden wide here, and "
                       "ndim = 0 is puzzle_emb_len = 0)",
    "puzzle_emb_len": "model.puzzle_emb_len",
    "pos_encodings": "model.pos_encoding",
    "mlp_t": 'model.mixer ("mlp" for mlp_t = true)',
    "rope_theta": "model.rope_theta",
    "rms_norm_eps": "model.rms_eps",
    "forward_dtype": "train.dtype",
    "no_ACT_continue": "no key: halting always reads the halt logit alone (the reference's no_ACT_continue = true)",
    "global_batch_size": "train.global_batch",
    "epochs": "train.epochs",
    "lr": "train.lr",
    "lr_min_ratio": "train.lr_min_ratio",
    "lr_warmup_steps": "train.lr_warmup",
    "weight_decay": "train.weight_decay",
    "beta1": "train.betas (a pair: [beta1, beta2])",
    "beta2": "train.betas (a pair: [beta1, beta2])",
    "puzzle_emb_lr": "train.puzzle_lr",
    "puzzle_emb_weight_decay": "train.puzzle_weight_decay",
    "ema": "train.ema (0 disables the EMA)",
    "ema_rate": "train.ema",
    "seed": "run.seed (it seeds build, train and predict)",
    "eval_interval": "train.eval_every (in steps here; the reference counts epochs)",
    "checkpoint_every_eval": "train.checkpoint_every (in steps)",
    "data_paths": "data.train",
    "data_paths_test": "data.target",
    "load_checkpoint": "run.checkpoint",
    "checkpoint_path": "the run directory (--run-dir)",
    "run_name": "the run directory (--run-dir)",
    "project_name": "the run directory (--run-dir)",
}


def reference_hint(*names: str) -> str:
    """'; NAME is the reference TRM's name: here it is KEY' for the first of `names` the reference uses
    (hydra's `+` and `arch.` prefixes ignored), else ''."""
    for name in names:
        bare = name.lstrip("+").removeprefix("arch.")
        if bare in REFERENCE_NAMES:
            return f"; {bare} is the reference TRM's name: here it is {REFERENCE_NAMES[bare]}"
    return ""
