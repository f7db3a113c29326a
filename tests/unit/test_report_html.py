"""report.html: one self-contained page with every table and plot; report.md says the same."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from orchestration.plots import TITLES
from orchestration.report import COMPUTED_TABLES, write_report
from tests.unit.test_plots import PNG, full_tables

HEADINGS = (
    "Execution quality by regime",
    "Realized spreads by regime",
    "Time to execution and economics by regime",
    "Differences vs pfof",
    "Execution quality by order type",
    "Execution quality by order size",
    "Rule 605 as amended in 2024: summary report",
    "Routing: Rule 606(a)(1)",
    "Routing by executing destination",
    "Economics by regime",
    "Who gained what",
    "Auctions",
    "Rule 605 as amended in 2024: detailed report",
    "Definitions",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(
        out,
        scenario="default",
        seed=3,
        run_dir="runs/x",
        processes=[],
        tables=full_tables(),
        n_boot=50,
        regime_order=["pfof", "auction"],
    )
    return out


def test_report_html_is_self_contained(report: Path):
    html = (report / "report.html").read_text(encoding="utf-8")

    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["'](?!data:)""", html)  # nothing fetched from outside
    assert "<script" not in html and "<link" not in html


def test_report_html_embeds_every_plot_as_png(report: Path):
    html = (report / "report.html").read_text(encoding="utf-8")

    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(TITLES)
    assert all(base64.b64decode(data).startswith(PNG) for data in images)


def test_report_html_and_markdown_have_every_heading(report: Path):
    html = (report / "report.html").read_text(encoding="utf-8")
    markdown = (report / "report.md").read_text(encoding="utf-8")

    for heading in HEADINGS:
        assert heading in html and heading in markdown, heading
    assert markdown.count("](plots/") == len(TITLES)


def test_report_writes_every_computed_table(report: Path):
    for name in COMPUTED_TABLES:
        assert (report / f"{name}.parquet").exists(), name


def test_report_realized_spread_partly_beyond_run_end_shows_its_coverage(report: Path):
    markdown = (report / "report.md").read_text(encoding="utf-8")

    section = markdown.split("## Realized spreads by regime")[1].split("##")[0]
    pfof = next(line for line in section.splitlines() if line.startswith("| pfof"))
    assert "(80.0% of shares)" in pfof  # the 1 s horizon ends after the run for some fills
    dropped = "“Realized spread 30s, $/share”, “Realized spread 30s, bps”"  # 30 s: none
    assert f"_Columns left out, with no data: {dropped}" in section
