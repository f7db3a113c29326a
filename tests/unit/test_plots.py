"""The report's figures draw from small fixed tables, and skip what has no data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.plots import TITLES, render_plots
from orchestration.report import compute_tables
from tests.unit.test_learning import markups_table, scorecards
from tests.unit.test_metrics import MS, sample_fills, sample_orders
from tests.unit.test_metrics_605 import sample_nbbo

PNG = b"\x89PNG\r\n\x1a\n"


def full_tables() -> dict[str, pd.DataFrame]:
    orders, fills = sample_orders(), sample_fills()
    latency = pd.DataFrame(
        {"order_id": ["o1", "o3"], "hop": ["client->broker"] * 2, "ns": [MS, 2 * MS]}
    )
    values = pd.DataFrame(
        {"symbol": ["XYZ", "XYZ"], "ts_ns": [0, 5_000 * MS], "value": [10_010_000, 10_000_000]}
    )
    return {
        "orders": orders,
        "fills": fills,
        "nbbo": sample_nbbo(),
        "latency": latency,
        "values": values,
        "markups": markups_table(),
        "scorecards": scorecards(),
    }


def test_render_plots_draws_every_figure_as_png(tmp_path: Path):
    tables = full_tables()

    images = render_plots(tables, compute_tables(tables, n_boot=10), tmp_path)

    assert set(images) == set(TITLES)
    for name, data in images.items():
        assert data.startswith(PNG)
        assert (tmp_path / "plots" / f"{name}.png").read_bytes() == data


def test_render_plots_without_market_tables_skips_market_figure(tmp_path: Path):
    tables = {"orders": sample_orders(), "fills": sample_fills()}

    images = render_plots(tables, compute_tables(tables, n_boot=10), tmp_path)

    assert "market_and_fills" not in images
    assert {"price_improvement", "time_to_execution_cdf", "revenue_vs_cost"} <= set(images)


def test_render_plots_no_fills_draws_nothing_that_needs_fills(tmp_path: Path):
    orders = sample_orders()
    tables = {"orders": orders, "fills": sample_fills().iloc[:0]}

    images = render_plots(tables, compute_tables(tables, n_boot=10), tmp_path)

    assert "price_improvement" not in images and "time_to_execution_cdf" not in images


def test_render_plots_learning_figures_only_with_their_tables(tmp_path: Path):
    tables = {"orders": sample_orders(), "fills": sample_fills()}
    old = {**tables, "scorecards": scorecards().assign(flow_share=0.0)}  # before flow shares

    for case in (tables, old):
        images = render_plots(case, compute_tables(case, n_boot=10), tmp_path)
        assert "markups" not in images and "flow_shares" not in images
