"""The run's configuration: one typed, frozen section per stage composed into `PipelineConfig`,
loaded from a preset, TOML files and `--set section.key=value` overrides (in that order), checked
as a whole at load, and written back as TOML.

- `root`: `PipelineConfig` and its sections (each section's dataclass lives in the package that uses it;
  [data] and [run] in `sections`).
- `presets`: shipped presets and config files as layers; `extends = "NAME"` resolved.
- `load`: layering, `--set`, keys that follow others (`FOLLOWS`), `override`, `resolve`.
- `values`: a TOML value or `--set` text as a field's type; `parse_duration`.
- `rules`: the relations between fields (heads divide hidden, ...), checked at load after each field's
  own check; a field's type, help and check are declared with the field (`arc.fields.option`).
- `write`: the resolved config as TOML (run_dir/config.toml).
An unknown section or key is an ArcError that lists the valid ones.
"""

from arc_pipeline.config.load import FOLLOWS, load_config, override, read_config, resolve, validated
from arc_pipeline.config.presets import default_preset, preset_header, preset_names, preset_summary, preset_text
from arc_pipeline.config.root import SECTIONS, PipelineConfig, section_dict
from arc_pipeline.config.sections import DataConfig, RunOptions, TrainSource, train_source
from arc_pipeline.config.values import coerce, parse_duration
from arc_pipeline.config.write import to_toml, write_config

__all__ = [
    "FOLLOWS", "SECTIONS", "DataConfig", "PipelineConfig", "RunOptions", "TrainSource", "coerce", "default_preset",
    "load_config", "override", "parse_duration", "preset_header", "preset_names", "preset_summary", "preset_text",
    "read_config", "resolve", "section_dict", "to_toml", "train_source", "validated", "write_config",
]
