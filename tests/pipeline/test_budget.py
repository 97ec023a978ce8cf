"""The time budget: a valid submission.json exists from ingest on, and a budgeted run stops
training in time and still ends with a validated submission."""

import json
import time

import pytest

from arc_pipeline.config import load_config
from arc_pipeline.stages import StageResult
from arc_pipeline.stages.runner import execute


def test_fallback_submission_is_valid_even_when_training_dies(tmp_path, tiny_config):
    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    cfg = load_config(files=[tiny_config])

    def build(cfg, run_dir, ctx):
        (run_dir / "dataset").mkdir()
        return StageResult(["dataset"])

    def train(cfg, run_dir, ctx):
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError):
        execute(cfg, tmp_path / "run", impl={"build": build, "train": train})
    target = load(str(tmp_path / "run" / "tasks" / "target.json"))
    sub = tmp_path / "run" / "submission.json"
    assert validate(sub, target) == []
    entries = json.loads(sub.read_text())
    first = next(iter(target))
    assert entries[first.id][0]["attempt_1"] == first.test[0].input.tolist()  # the fallback guess


@pytest.mark.integration
@pytest.mark.slow
def test_budgeted_run_stops_training_and_submits_in_time(tmp_path, tiny_run):
    from arc_pipeline.arc.load import load
    from arc_pipeline.submissions.validate import validate

    run_dir = tmp_path / "run"
    t0 = time.time()
    result = tiny_run(run_dir, "--time-budget", "30s", "--set", "train.steps=1000000",
                                       "--set", "run.reserve=0.4", "--set", "train.checkpoint_every=50")
    took = time.time() - t0
    assert result.exit_code == 0, result.output
    manifest = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert manifest["train"]["summary"]["stopped"] == "time_budget"
    assert took < 30 + 10  # report and imports may run a little past; training and prediction did not
    assert validate(run_dir / "submission.json", load(str(run_dir / "tasks" / "target.json"))) == []
