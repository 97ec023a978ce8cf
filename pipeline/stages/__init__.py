"""Pipeline stages: each a function run(cfg, run_dir) -> result."""
