"""report.html reads top down: the answer first, plain words, every column kept in print."""

from __future__ import annotations

import json

import pytest

from orchestration.report import COMPARED_METRICS, write_report
from orchestration.report_headline import HEADLINE_TITLE
from orchestration.report_labels import METRICS, SNAKE_CASE
from tests.report_parse import Page, read_report
from tests.unit.test_plots import full_tables


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Page, dict]:
    out = tmp_path_factory.mktemp("layout")
    write_report(
        out,
        scenario="default",
        seed=3,
        run_dir="runs/x",
        processes=[{"name": "broker", "role": "broker", "pid": 4242}],
        tables=full_tables(),
        n_boot=50,
        regime_order=["pfof", "auction"],
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return read_report((out / "report.html").read_text(encoding="utf-8")), summary


def test_report_first_section_after_title_is_the_headline_table(written):
    page, summary = written

    assert page.first_after_title == "section"
    headline = page.sections[0]
    assert headline.title == HEADLINE_TITLE and headline.css == "headline"
    table = headline.tables[0]
    assert table.headers[:2] == ["Measure", "Regimes"]
    assert "Difference (other - first)" in table.headers
    assert table.column("Measure") == [METRICS[m][0] for m in COMPARED_METRICS]
    assert set(table.column("Regimes")) == {"auction - pfof"}
    for row, comparison in zip(table.rows, summary["comparisons"], strict=True):
        interval = row[table.headers.index("95% interval, orders in the run")]
        reading = row[table.headers.index("Reading")]
        if comparison["ci_low"] is None:
            assert reading.startswith("not computable")
            continue
        assert " to " in interval
        excludes = not comparison["ci_low"] <= 0 <= comparison["ci_high"]
        assert ("excludes zero" in reading) == excludes
        assert ("no difference detected" in reading) == (not excludes)
        assert "over orders in this run" in reading  # one run: says what the interval covers


def test_report_headline_is_followed_by_the_rule605_summary(written):
    page, _ = written

    headline = page.sections[0]
    assert headline.headings == ["Rule 605 summary at a glance"]
    assert len(headline.tables) == 2
    assert "Effective spread, bps" in headline.tables[1].headers


def test_report_run_details_are_an_appendix_at_the_end(written):
    page, _ = written

    assert page.sections[-1].title == "Appendix: the run"
    html_before = " ".join(p for s in page.sections[:-1] for p in s.paragraphs)
    assert "pid 4242" not in html_before


def test_report_no_table_header_is_snake_case(written):
    page, _ = written

    headers = [h for s in page.sections for t in s.tables for h in t.headers]
    assert headers
    assert [h for h in headers if SNAKE_CASE.search(h)] == []


def test_report_columns_without_data_are_dropped_and_named(written):
    page, _ = written

    realized = page.section("Realized spreads by regime")
    assert not any(
        h.startswith("Realized spread 30s") for h in realized.tables[0].headers
    )  # run of 8 s
    note = next(p for p in realized.paragraphs if p.startswith("Columns left out"))
    assert (
        "“Realized spread 30s, $/share”, “Realized spread 30s, bps”" in note
        and "the run is too short" in note
    )


def test_report_tables_wrap_and_print_keeps_every_column(written):
    page, _ = written

    assert "overflow-x" not in page.style  # no sideways scrolling
    assert "@media print" in page.style
    printed = page.style.split("@media print", 1)[1]
    assert "thead{display:table-header-group}" in printed and "break-before:page" in printed
