"""The run-facts box: steps trained of planned and why training stopped (a budget stop), model, nearest
preset and what changed, protocol, device, seed, speed; a title that names the target and the run."""

import html
from pathlib import Path

from arc_pipeline.report.facts import config_diff, nearest_preset, run_name


def test_facts_box_after_a_budget_stop(tmp_path, tiny_report_run):
    from arc_pipeline.config import load_config, write_config
    from arc_pipeline.manifest import Manifest
    from arc_pipeline.report import gather, render

    run = tiny_report_run(tmp_path / "kaggle-2025" / "run")
    write_config(load_config("smoke", sets=["train.lr=0.002"]), run / "config.toml")
    m = Manifest(run)
    m.start("train", "f")
    m.finish("train", [], summary={"step": 2975, "planned": 20000, "resumed_from": 0, "stopped": "time_budget",
                                   "seconds": 500.0, "examples_per_s": 381.0, "device": "NVIDIA L4 x 4 processes"})
    page = render(gather(run))
    box = page.split("<dl id='facts'>")[1].split("</dl>")[0]
    facts = dict(zip([html.unescape(x.split("</dt>")[0]) for x in box.split("<dt>")[1:]],
                     [html.unescape(x.split("</dd>")[0]) for x in box.split("<dd>")[1:]]))
    assert facts["steps trained"] == "2,975 of 20,000 planned (15%); stopped by the time budget"
    assert facts["speed"] == "5.95 steps/s over 500 s (381 examples/s at the end)"
    assert facts["model"].endswith("hidden 64, 4 heads, 2 layers, n 1, T 2, N_sup 4")
    assert facts["preset"] == "smoke with 1 key(s) changed: train.lr"
    assert facts["protocol"].startswith("joint (the target tasks' demonstrations are trained on")
    assert facts["device"] == "NVIDIA L4 x 4 processes" and facts["seed"] == "0"
    assert facts["target"] == "arc1/evaluation: 3 tasks, 3 test outputs"
    assert "<title>arc1/evaluation (joint, preset smoke): kaggle-2025/run</title>" in page


def test_facts_of_a_run_without_its_files_say_what_is_known(tmp_path, tiny_report_run):
    from arc_pipeline.report import gather

    data = gather(tiny_report_run(tmp_path / "run"))
    assert dict(data.facts) == {"training": "unknown (no manifest.json)", "target": "3 tasks, 3 test outputs"}
    assert data.title == f"3 target tasks: {tmp_path.name}/run" and "run: run" not in data.title


def test_nearest_preset_and_config_diff():
    from arc_pipeline.config import load_config

    assert nearest_preset(load_config("gpu")) == ("gpu", [])
    name, changed = nearest_preset(load_config("smoke", sets=["model.hidden=96"]))
    assert name == "smoke" and changed == ["model.hidden"]
    diff = dict(config_diff([{"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 3, "z": 0}}]))
    assert diff == {"a.y": [2, 3], "a.z": [None, 0]}
    assert run_name(Path("/x/smoke")) == "smoke"
