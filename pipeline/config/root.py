"""`PipelineConfig`: the whole configuration of a run, one typed section per stage that reads it.

Each section's dataclass is owned by the package that uses it; this file only composes them. The
field order is the order of the sections in a written config.toml.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from arc_pipeline.arc.fields import added_later
from arc_pipeline.augment.build import BuildConfig
from arc_pipeline.config.sections import DataConfig, RunOptions
from arc_pipeline.solver.adapt import AdaptConfig
from arc_pipeline.solver.config import ModelConfig, TrainConfig
from arc_pipeline.solver.infer import PredictConfig
from arc_pipeline.solver.vote import VoteConfig


@dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = field(default_factory=DataConfig)  # [data]: which tasks train and which are answered
    run: RunOptions = field(default_factory=RunOptions)  # [run]: protocol, checkpoint, devices, budget, seed
    build: BuildConfig = field(default_factory=BuildConfig)  # [build]: augmentation and the dataset
    model: ModelConfig = field(default_factory=ModelConfig)  # [model]: the network (paper names)
    train: TrainConfig = field(default_factory=TrainConfig)  # [train]: the optimisation
    adapt: AdaptConfig = field(default_factory=AdaptConfig)  # [adapt]: fine-tuning on target demonstrations
    predict: PredictConfig = field(default_factory=PredictConfig)  # [predict]: inference and halting
    vote: VoteConfig = field(default_factory=VoteConfig)  # [vote]: how candidates are ranked into attempts

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"PipelineConfig.{name} must be a {cls.__name__}, not {type(getattr(self, name)).__name__}")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: section_dict(getattr(self, name)) for name in SECTIONS}


# section name -> its dataclass, read off the annotations above (one place to add a section)
SECTIONS: dict[str, type] = {f.name: typing.get_type_hints(PipelineConfig)[f.name]
                             for f in dataclasses.fields(PipelineConfig)}

def fingerprint_values(name: str, section: Any) -> dict[str, Any]:
    """A section's fields as a fingerprint input: every field, less those declared `added_later` while
    they hold their defaults (a run written before they existed still resumes; a section left with
    none set, like an untouched [vote], adds nothing). Tests pin the presets' fingerprints."""
    later = {f.name for f in dataclasses.fields(section) if added_later(f)}
    default = section_dict(type(section)())
    return {k: v for k, v in section_dict(section).items() if k not in later or v != default[k]}


def section_dict(obj: Any) -> dict[str, Any]:
    """A section's fields by name, in declaration order."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
