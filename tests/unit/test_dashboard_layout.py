"""The dashboard fits a default 80x24 terminal without cutting a number, goes side by side on a
wide one, collapses process health to one line while all is well, and shows each regime's
running difference from the first with its interval, coloured by whether it is better."""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from rich.console import Console

from orchestration.live import HEADINGS, Dashboard, print_markdown_table, print_regime_table
from orchestration.live_sources import RunningMetrics, running_differences, share_weighted_mean
from protocol.common import Side
from protocol.marketdata import NBBO
from tests.unit.test_metrics_live import ASK, BID, filled, received  # $10.00 x $10.02


@dataclass
class Proc:
    """What the dashboard reads of a launcher process."""

    name: str
    role: str
    state: str = "running"
    last_seen_ns: int = 0
    exit_code: int | None = None
    counters: dict[str, int] = field(default_factory=dict)


class Quotes:
    """Stands in for the SIP watcher: the latest NBBO per symbol."""

    def __init__(self, quotes: list[NBBO]) -> None:
        self.latest = {q.symbol: q for q in quotes}

    def poll(self) -> None:
        return None

    def close(self) -> None:
        return None


def trade(metrics: RunningMetrics, regime: str, n: int, improvement_micros: list[int]) -> None:
    """``n`` buys of 12,345 shares each, filled at the ask less the given improvements."""
    for i in range(n):
        order_id = f"{regime}-{i}"
        price = ASK - improvement_micros[i % len(improvement_micros)]
        metrics.apply(received(order_id, Side.BUY, 12_345, regime))
        metrics.apply(filled(order_id, Side.BUY, 12_345, price, leaves=0, exec_ms=3))


def dashboard(console: Console, *, wrong: bool = False, stopped: bool = False) -> Dashboard:
    board = Dashboard(400, "flowlab compare: scenario 'default', regimes pfof, auction", console)
    for regime, improvements in (
        ("pfof", [1_000, 3_000]),
        ("auction", [4_000, 6_000]),
        ("pfof-capped", [500, 1_000]),
    ):
        trade(board.metrics, regime, 40, improvements)
    now = time.time_ns()  # heartbeats just in
    procs = [Proc(f"lit-{c}", "venue", last_seen_ns=now) for c in "abc"]
    procs += [Proc(n, n, last_seen_ns=now) for n in ("broker", "sip", "recorder", "auction")]
    procs += [Proc(f"wh-{c}", "wholesaler", last_seen_ns=now) for c in "abc"]
    procs += [Proc(n, n, last_seen_ns=now) for n in ("sor", "value", "agents", "dark-a")]
    if wrong:
        procs[1] = Proc("lit-b", "venue", state="exited", exit_code=1, last_seen_ns=now)
    if stopped:  # the lab stopped: every process exited 0, its last heartbeat long ago
        procs = [Proc(p.name, p.role, "exited", now - 60 * 10**9, exit_code=0) for p in procs]
    board.lab = SimpleNamespace(procs={p.name: p for p in procs})
    board._nbbo = Quotes(  # type: ignore[assignment]
        [
            NBBO(
                symbol=s,
                seq=123_456,
                bid_px=BID,
                bid_qty=12_300,
                bid_venue="lit-a",
                ask_px=ASK,
                ask_qty=45_600,
                ask_venue="lit-b",
            )
            for s in ("ACME", "BOLT", "CRUX")
        ]
    )
    return board


def rendered(width: int, height: int = 24, *, wrong: bool = False, stopped: bool = False) -> str:
    console = Console(width=width, height=height, record=True, force_terminal=True)
    board = dashboard(console, wrong=wrong, stopped=stopped)
    board.health.heartbeat = lambda proc: None  # type: ignore[method-assign]
    console.print(board.render())
    return console.export_text()


@pytest.fixture
def narrow() -> str:
    return rendered(80)


def test_dashboard_80x24_fits_the_screen(narrow: str) -> None:
    lines = narrow.rstrip("\n").split("\n")

    assert len(lines) <= 24, narrow
    assert max(len(line) for line in lines) <= 80


def test_dashboard_80x24_cuts_no_number(narrow: str) -> None:
    metrics = dashboard(Console(width=80)).metrics
    shown = [row[i] for row in metrics.rows() for i in (0, 1, 3, 4, 5)]  # regime ... eff bps

    assert "…" not in narrow
    for cell in shown:  # every cell of the columns an 80-column screen keeps, whole
        assert re.search(rf"(?<![\w.,]){re.escape(cell)}(?![\w.,])", narrow), cell
    assert "10.0000" in narrow and "10.0200" in narrow  # the NBBO's bid and ask


def test_dashboard_80x24_title_once_and_health_one_line(narrow: str) -> None:
    assert narrow.count("flowlab compare") == 1
    assert "scenario 'default'" not in narrow  # printed once above the view, not in it
    assert f"{HEADINGS[2]}: 14/14 running" in narrow
    assert "lit-a" not in narrow  # no per-process rows while all is well


def test_dashboard_health_lists_only_what_is_wrong() -> None:
    text = rendered(80, wrong=True)

    assert f"{HEADINGS[2]}: 13/14 running" in text
    assert "lit-b" in text and "exited" in text
    assert "lit-a" not in text


def test_dashboard_lab_stopped_cleanly_says_so_in_one_line() -> None:
    text = rendered(80, stopped=True)

    assert f"{HEADINGS[2]}: 14/14 stopped cleanly\n" in text
    assert "heartbeat" not in text and "exited" not in text


def test_dashboard_wide_terminal_puts_market_beside_metrics() -> None:
    text = rendered(200, 50)

    same_line = [line for line in text.split("\n") if HEADINGS[0] in line and HEADINGS[1] in line]
    assert same_line
    assert "cost vs mid $" in text and "seq" in text  # nothing dropped when there is room


def test_dashboard_differences_coloured_by_better_or_worse() -> None:
    console = Console(width=80, force_terminal=True)
    table = dashboard(console)._differences_table(80)

    assert table is not None
    regimes = [str(cell) for cell in table.columns[0]._cells]
    styles = dict(zip(regimes, (c.style for c in table.columns[1]._cells), strict=True))
    # auction improves more than pfof, beyond noise: green; pfof-capped less: red
    assert styles == {"auction": "green", "pfof-capped": "red"}


def test_share_weighted_mean_by_hand() -> None:
    # orders (x $/share, q shares): (0.01, 100), (0.03, 300)
    mean, variance = share_weighted_mean([(0.01 * 100, 100), (0.03 * 300, 300)])

    # mean = (1 + 9) / 400 = 0.025; variance = n/(n-1) * sum (q/Q)^2 (x - mean)^2
    #      = 2 * (0.25^2 * 0.015^2 + 0.75^2 * 0.005^2) = 2 * (1.40625e-5 + 1.40625e-5)
    assert mean == pytest.approx(0.025)
    assert variance == pytest.approx(5.625e-5)


def test_running_differences_price_improvement_by_hand() -> None:
    metrics = RunningMetrics()
    trade(metrics, "pfof", 2, [1_000, 3_000])  # $0.001 and $0.003 a share, equal sizes
    trade(metrics, "auction", 2, [4_000, 6_000])  # $0.004 and $0.006

    found = {d.metric: d for d in running_differences(metrics)}
    improvement = found["price_improvement_usd_per_share"]

    # means 0.002 and 0.005; each variance 2 * 2 * (0.5^2 * 0.001^2) = 1e-6
    half = 1.96 * (2e-6) ** 0.5
    assert (improvement.regime, improvement.baseline) == ("auction", "pfof")
    assert improvement.difference == pytest.approx(0.003)
    assert (improvement.low, improvement.high) == pytest.approx((0.003 - half, 0.003 + half))
    assert improvement.better is True
    assert found["effective_spread_bps"].better is True  # a narrower spread: better too


class Terminal(io.StringIO):
    """A captured stdout that says it is a terminal, 80 columns wide."""

    def isatty(self) -> bool:
        return True


def test_final_regime_table_on_80_columns_splits_never_cuts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    values = {
        "orders": 12_345,
        "filled_orders": 12_000,
        "fill_rate": 0.987654,
        "price_improvement_usd_per_share": 0.012345,
        "price_improvement_bps": 12.3456,
        "effective_spread_bps": -1.2345,
        "eq_ratio": 0.123456,
        "time_to_execution_ms_p50": 1_234.5678,
        "time_to_execution_ms_p99": 98_765.4321,
        "pfof_paid_usd": 123_456.789,
        "retail_cost_vs_mid_usd": -98_765.4321,
    }
    summary = {"regimes": {"pfof-capped": values, "auction": values}}
    out = Terminal()

    print_regime_table(summary, out)

    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    lines = text.rstrip("\n").split("\n")
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    for cell in ("12,345", "12,000", "98.8%", "0.0123", "-1.23", "98,765.43", "-98,765.43"):
        assert cell in text, cell
    assert text.count("pfof-capped") >= 2  # the table came in blocks, each naming its rows


def test_markdown_table_on_80_columns_split_in_whole_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    head = "| strategy | " + " | ".join(f"metric {i} bps" for i in range(12)) + " |"
    rows = [
        f"| {name} | " + " | ".join(f"{-1234.5 - i:,.2f}" for i in range(12)) + " |"
        for name in ("greedy", "direct:lit-a")
    ]
    markdown = "\n".join([head, "|" + "---|" * 13, *rows])
    out = Terminal()

    print_markdown_table(markdown, "Best execution per parent", out)

    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert max(len(line) for line in text.rstrip("\n").split("\n")) <= 80
    assert "…" not in text
    for i in range(12):
        assert f"metric {i} bps" in text and f"{-1234.5 - i:,.2f}" in text
    assert text.count("direct:lit-a") >= 2  # split, each block naming its rows


def test_markdown_table_not_a_terminal_printed_as_is() -> None:
    out = io.StringIO()
    markdown = "| a | b |\n|---|---|\n| 1 | 2 |"

    print_markdown_table(markdown, "t", out)

    assert out.getvalue() == markdown + "\n"
