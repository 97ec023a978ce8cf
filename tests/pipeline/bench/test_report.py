"""bench report: a synthetic ARC-scale run and the page's build time; --out keeps the page."""


def test_bench_report_builds_a_synthetic_arc_scale_run_and_times_the_page(tmp_path):
    from arc_pipeline.bench.report import measure

    out = measure(augs=2, out=tmp_path / "page.html")
    assert out["tasks"] == 400 and out["predictions"] == 2 * 419 and out["page_bytes"] > 400 * 1000
    assert out["gather_s"] > 0 and out["render_s"] > 0
    page = (tmp_path / "page.html").read_text()
    assert len(page.encode()) == out["page_bytes"] and page.count("<a class='tile") == 419
    assert "400 target tasks: " in page and "run: run" not in page  # the title names the run's parent
    assert page.count("<details class='demos'>") == 400  # a long page folds the demonstrations
