"""bench report: a synthetic ARC-scale run and the page's build time."""


def test_bench_report_builds_a_synthetic_arc_scale_run_and_times_the_page():
    from arc_pipeline.bench.report import measure

    out = measure(augs=2)
    assert out["tasks"] == 400 and out["predictions"] == 2 * 419 and out["page_bytes"] > 400 * 1000
    assert out["gather_s"] > 0 and out["render_s"] > 0
