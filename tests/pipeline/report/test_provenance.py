"""The report's provenance (issue 24): score.json's protocol and cost blocks extend the facts box, the
score's "Protocol" section and the budget's stage table; RUN/evaluation/checkpoints.json is drawn as the
"Checkpoints" section (curve and table); a run without them draws none of it."""

import html
import json
import re

from arc_pipeline.report import gather, render


def _with_blocks(run, smoke_config):
    """The tiny run with a manifest (predict 36 s, submit 2 s), score.json carrying the protocol and
    cost blocks as the score stage makes them (H100, $2 per device-hour set), and an evaluation."""
    import dataclasses

    from arc_pipeline.manifest import Manifest
    from arc_pipeline.protocol import cost_block, protocol_block

    m = Manifest(run)
    for stage, seconds in (("predict", 36.0), ("submit", 2.0)):
        m.start(stage, "fp")
        m.finish(stage, [], summary={"checkpoint_path": "checkpoints/step_00000006", "predictions": 10, "of": 12,
                                     "passes": ["ema"]} if stage == "predict" else {}).seconds = seconds
    m.save()
    cfg = dataclasses.replace(smoke_config, run=dataclasses.replace(smoke_config.run, device_price=2.0))
    step = run / "checkpoints" / "step_00000006"
    step.mkdir(parents=True)
    (step / "meta.json").write_text(json.dumps({"step": 6, "val": {"exact": 0.25}}))
    score = json.loads((run / "score.json").read_text())
    score.update(protocol=protocol_block(cfg, run), cost=cost_block(cfg, run, 3, device=("H100", 1)))
    score["protocol"]["augmentations_voted"].update(per_test_input=8.0, built_per_test_input=8.0)  # as a mean reads
    (run / "score.json").write_text(json.dumps(score))
    row = lambda step, weights, p2, exact: {  # noqa: E731
        "step": step, "weights": weights, "pass1_task": p2 / 2, "pass2_task": p2, "pass1_output": p2 / 2,
        "pass2_output": p2, "held_out_exact": exact, "held_out_tokens": 0.5}
    (run / "evaluation").mkdir()
    (run / "evaluation" / "checkpoints.json").write_text(json.dumps({
        "rule": "held-out exact, then held-out token accuracy, then the later step",
        "rows": [row(3, "ema", 0.0, 0.0), row(3, "live", 0.0, 0.0), row(6, "ema", 1 / 3, 0.25), row(6, "live", 0.0, 0.0)],
        "best": row(6, "ema", 1 / 3, 0.25)}))
    return score, cfg


def test_page_shows_protocol_cost_and_every_evaluated_checkpoint(tmp_path, tiny_report_run, smoke_config):
    run = tiny_report_run(tmp_path / "run")
    score, cfg = _with_blocks(run, smoke_config)
    data = gather(run, cfg)
    facts = dict(data.facts)
    # extends the facts box, which already names protocol and device, rather than repeating them
    assert facts["predicted with"] == "checkpoints/step_00000006 (step 6, ema weights, held-out exact 0.2500)"
    usd = score["cost"]["usd_per_task"]
    assert usd == round(38 / 3600 * 2.0 / 3, 6)
    assert facts["cost"].startswith("$0.00704 per task") and "H100 x 1 at $2 per device-hour (set by" in facts["cost"]
    page = render(data)
    protocol = re.search(r"<table id='protocol'>(.*?)</table>", page, re.S).group(1)
    keys = re.findall(r"data-k='(\w+)'", protocol)
    assert keys == ["evaluation_demonstrations_trained", "augmentations_voted", "halting", "ranking", "metrics"]
    assert "yes (3 pairs of 3 tasks)" in protocol  # joint (smoke): the target's demonstrations are trained on
    assert "8 per test input, of 8 built" in protocol  # counts as people write them, not 8.0
    assert "pass_at_k.per_task" in protocol and html.escape(score["protocol"]["halting"]["rule"]) in protocol
    # the budget's stage table gains device-seconds and $ per task from the cost block
    stages = re.search(r"<table id='stages'>(.*?)</table>", page, re.S).group(1)
    assert "<th>device-seconds</th><th>$ per task</th>" in stages
    predict = re.search(r"<tr><td>predict</td>(.*?)</tr>", stages).group(1)
    assert "<td class='num'>36.0</td><td class='num'>$0.00667</td>" in predict  # 36 s / 3600 x $2 / 3 tasks
    assert "id='cost'" in page and "set by run.device_price" in page
    # the checkpoints: a curve (one line per weight set and measure) and the table, best marked
    ck = page[page.index("<h2>Checkpoints</h2>"):]
    assert ck.index("<svg") < ck.index("<table id='checkpoints'")
    for name in ("target pass@2 (ema)", "target pass@2 (live)", "held-out exact (ema)", "held-out tokens (live)"):
        assert name in ck
    body = re.search(r"<table id='checkpoints'.*?<tbody>(.*?)</tbody>", ck, re.S).group(1)
    cells = [re.findall(r"<td class='num'>(.*?)</td>", r) for r in body.split("</tr>") if r]
    assert [c[:2] for c in cells] == [["3", "ema"], ["3", "live"], ["6", "ema"], ["6", "live"]]
    assert [c[-1] for c in cells] == ["", "", "*", ""] and cells[2][3] == "0.3333"


def test_an_assumed_price_is_flagged_and_a_run_without_blocks_draws_none(tmp_path, tiny_report_run, smoke_config):
    from arc_pipeline.protocol import PRICES, cost_block

    run = tiny_report_run(tmp_path / "run")
    page = render(gather(run, None))  # score.json without blocks, no config to make them from, no evaluation
    for absent in ("<table id='protocol'>", "id='cost'", "<h2>Checkpoints</h2>", "device-seconds"):
        assert absent not in page
    score = json.loads((run / "score.json").read_text())
    score["cost"] = cost_block(smoke_config, run, 3, device=("A100", 1))
    (run / "score.json").write_text(json.dumps(score))
    page = render(gather(run, None))
    assert f"<span class='bad'>${PRICES['A100']:g} per device-hour (an ASSUMED rate)</span>" in page
    (run / "evaluation").mkdir()
    (run / "evaluation" / "checkpoints.json").write_text("{not json")  # a torn file: no section, no crash
    assert "<h2>Checkpoints</h2>" not in render(gather(run, None))
