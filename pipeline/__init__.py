"""Click CLI, configs and presets, stages, run directory, terminal UI, benchmarks."""
