"""The ``flowlab`` command line as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import pid_alive

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"
FLOWLAB = [sys.executable, "-m", "orchestration.cli"]
SUMMARY_KEYS = {
    "orders",
    "terminal_orders",
    "filled_orders",
    "fill_rate",
    "filled_shares",
    "price_improvement_usd_per_share",
    "price_improvement_bps",
    "effective_spread_bps",
    "eq_ratio",
    "time_to_execution_ms_p50",
    "time_to_execution_ms_p99",
    "pfof_paid_usd",
    "retail_cost_vs_mid_usd",
}


def flowlab(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOWLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def watch_status(cwd: Path, timeout: float = 60.0) -> str:
    """Run ``flowlab status --watch`` on a pseudo-terminal until it shows a table, then Ctrl-C."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*FLOWLAB, "status", "--watch"], cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while b"agents" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                seen += os.read(controller, 65536)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)  # a bound: a slow host took over 10 s to exit
        os.close(controller)
    assert code == 0
    return seen.decode(errors="replace")


def test_compare_with_orders_and_out_writes_summary_accounting_for_every_order(
    tmp_path: Path,
) -> None:
    out = tmp_path / "report"

    result = flowlab(
        "compare", "--orders", "400", "--rate", "200", "--out", str(out), "--no-live", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"scenario", "seed", "run_dir", "processes", "regimes"}
    assert summary["scenario"] == "default" and isinstance(summary["seed"], int)
    assert len(summary["processes"]) >= 10
    assert all({"name", "role", "pid"} <= set(p) for p in summary["processes"])
    regimes = summary["regimes"]
    assert set(regimes) == {"pfof", "auction"}
    for metrics in regimes.values():
        assert set(metrics) >= SUMMARY_KEYS
    # the default scenario's burn-in (1 s) leaves its first orders out of the regimes' figures
    burn_in = summary["burn_in"]
    assert burn_in["seconds"] == 1.0 and burn_in["orders_excluded"] > 0
    assert burn_in["orders_measured"] + burn_in["orders_excluded"] == 400
    assert sum(m["orders"] for m in regimes.values()) == burn_in["orders_measured"]
    assert sum(m["terminal_orders"] for m in regimes.values()) == burn_in["orders_measured"]
    for name in ("orders", "fills", "routes", "auctions", "nbbo", "latency", "pnl"):
        assert len(pd.read_parquet(out / f"{name}.parquet").columns) > 0
    assert len(pd.read_parquet(out / "orders.parquet")) == 400
    report = (out / "report.md").read_text()
    assert "pfof" in report and "auction" in report
    assert "pfof" in result.stdout and "auction" in result.stdout


def test_compare_unknown_regime_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = flowlab("compare", "--regimes", "pfof,barter", "--no-live", cwd=tmp_path)

    assert result.returncode == 2  # refused by the parser, as every bad option value
    assert "unknown regime 'barter'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_up_status_inject_down_drive_a_background_lab(tmp_path: Path) -> None:
    up = flowlab("up", "--scenario", str(TINY), cwd=tmp_path, timeout=120)
    assert up.returncode == 0, up.stderr
    current = (tmp_path / "runs" / "current").resolve()
    info = json.loads((current / "lab.json").read_text())
    try:
        status = flowlab("status", cwd=tmp_path, timeout=30)
        assert status.returncode == 0, status.stderr
        for name in ("broker", "lit-a", "recorder", "wh-a"):
            assert name in status.stdout

        assert "broker" in watch_status(tmp_path)

        second = flowlab("up", "--scenario", str(TINY), cwd=tmp_path, timeout=60)
        assert second.returncode == 1
        assert f"{current} (orchestrator pid {info['pid']})" in second.stderr
        listed = flowlab("status", "--all", cwd=tmp_path, timeout=30)
        assert listed.stdout.splitlines()[1].split()[:2] == ["running", str(info["pid"])]
        assert len(listed.stdout.splitlines()) == 2  # the second up started nothing

        inject = flowlab("inject", "--orders", "25", "--rate", "100", cwd=tmp_path, timeout=120)
        assert inject.returncode == 0, inject.stderr[-3000:]
        # the account (not the injector's INFO lines, which go to its log) and the 605 table
        assert "sent 25/25" in inject.stdout and "done: sent 25" in inject.stdout
        assert "Rule 605 summary" in inject.stdout and "pfof" in inject.stdout
        assert " INFO " not in inject.stderr
        assert list((current / "logs").glob("injector-*.log"))
        to_sor = flowlab("inject", "--to", "sor", "--orders", "4", "--rate", "100", cwd=tmp_path)
        assert to_sor.returncode == 0, to_sor.stderr[-3000:]
    finally:
        down = flowlab("down", cwd=tmp_path, timeout=120)
    assert down.returncode == 0, down.stderr
    assert f"report: {current / 'report.html'}" in down.stdout
    assert (current / "report.html").exists()
    assert not pid_alive(info["pid"])
    assert not [p["pid"] for p in info["processes"] if pid_alive(p["pid"])]

    report = flowlab("report", str(current), "--out", str(tmp_path / "rep"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    orders = pd.read_parquet(tmp_path / "rep" / "orders.parquet")
    assert len(orders) == 25 and (orders["status"] != "open").all()
    parents = pd.read_parquet(tmp_path / "rep" / "bestex.parquet")
    # The four parents injected into the SOR; a retail order a wholesaler declined reaches the
    # SOR too, as the broker's child ("<client id>~k").
    direct = parents[~parents["order_id"].str.contains("~")]
    assert len(direct) == 4, parents["order_id"].tolist()


def test_bench_load_runs_each_rate_through_a_real_lab_and_writes_every_figure(
    tmp_path: Path,
) -> None:
    """``flowlab bench --load`` at a small scale: two rates, each a fresh lab of the tiny
    scenario; load.json holds every figure, each process's memory and CPU among them."""
    result = flowlab(
        "bench",
        "--load",
        "--scenario",
        str(TINY),
        "--rates",
        "150,50",
        "--orders",
        "60",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "load.json").read_text())
    assert [p["rate_per_s"] for p in record["points"]] == [50, 150]  # lowest first
    for p in record["points"]:
        assert p["orders"] == p["accepted"] == p["terminal"] == 60, p
        assert set(p["regimes"]) == {"pfof", "auction"}
        for r in p["regimes"].values():
            assert r["terminal"] == r["orders"] > 0
            assert r["tte_p50_ms"] <= r["tte_p99_ms"]
        names = {s["name"] for s in p["services"]}
        assert {"broker", "wh-a", "auction", "recorder", "injector"} <= names
        for s in p["services"]:
            assert s["rss_peak_mib"] > 10 and 0 < s["pss_peak_mib"] <= s["rss_peak_mib"], s
            assert s["cpu_s"] > 0, s
        assert p["pss_total_mib"] == pytest.approx(sum(s["pss_peak_mib"] for s in p["services"]))
        broker = next(s for s in p["services"] if s["name"] == "broker")
        assert 0 < broker["cpu_inject_s"] < broker["cpu_s"]  # start-up not counted
        spent = sum(s["cpu_inject_s"] for s in p["services"])
        assert p["cpu_ms_per_order"] == pytest.approx(1_000 * spent / 60)
        assert p["messages_per_order"] > 5  # at least in and out of broker, wholesaler...
        assert p["sent_per_s"] > 0
    table = result.stdout.splitlines()
    assert table[1].split()[0] == "rate/s" and table[3].split()[0] == "50"
    assert any(line.startswith("highest rate that met the targets:") for line in table)
    assert not list(tmp_path.glob("runs")), "run dirs are not kept without --keep-runs"


def test_bench_quick_runs_every_part_and_writes_every_figure(tmp_path: Path) -> None:
    """``flowlab bench --quick``: every part runs (the lab's a real one, started and stopped),
    bench.json holds each part's figures and the table prints a row of each part."""
    result = flowlab("bench", "--quick", "--out", str(tmp_path / "out"), cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert record["quick"] is True and record["transport"].get("lab_error") is None
    assert record["codec"]["decode_ops_per_s"] > 0 and record["codec"]["encode_ratio"] > 0
    assert record["send"]["link_sends_per_s"] > 0 and record["send"]["asyncio_sends_per_s"] > 0
    assert record["receive"]["reader_cpu_us"] > 0 and record["receive"]["asyncio_cpu_us"] > 0
    assert record["book"]["ops_per_s"] > 0 and record["sor"]["optimal_us"] > 0
    assert record["bare"]["three"]["latency"]["p50_us"] > 0
    lab = record["lab"]
    assert lab["latency"]["p50_us"] >= record["machine_floor_us"] > 0
    assert lab["throughput"]["orders"] == lab["throughput"]["latency"]["n"] > 0
    assert lab["processes"] >= 14 and lab["start_s"] > 0 and not lab["exit_codes_nonzero"]
    for figure in (
        "codec: decode SubmitOrder",
        "send: a link's message",
        "book core",
        "SOR optimal",
        "bare 3-proc round trip p50",
        "lab round trip p50",
        "lab, 100 in flight",
        "lab start-up",
    ):
        assert figure in result.stdout, figure


def test_bench_load_options_need_load(tmp_path: Path) -> None:
    result = flowlab("bench", "--rates", "100", cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "--rates: only with --load or --scaling" in result.stderr
    result = flowlab("bench", "--load", "--factors", "1,2", cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "--factors: only with --scaling" in result.stderr
    result = flowlab("bench", "--scaling", "--dimensions", "venus", cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert "unknown dimension 'venus'" in result.stderr


def test_bench_scaling_grows_the_market_one_dimension_at_a_time(tmp_path: Path) -> None:
    """``flowlab bench --scaling`` at a small scale: the tiny scenario as it is, with its
    wholesalers doubled and with its symbols doubled, each a fresh lab fed the same stream;
    scaling.json holds each lab's load figures and what it was made of."""
    result = flowlab(
        "bench",
        "--scaling",
        "--scenario",
        str(TINY),
        "--dimensions",
        "wholesalers,symbols",
        "--factors",
        "2,1",
        "--rates",
        "50",
        "--orders",
        "40",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "out" / "scaling.json").read_text())
    made = [(s["dimension"], s["factor"], s["symbols"], s["wholesalers"]) for s in record["points"]]
    # tiny: one symbol, two lit venues, one wholesaler, no dark pool; x1 once, then each grown
    assert made == [("base", 1, 1, 1), ("wholesalers", 2, 1, 2), ("symbols", 2, 2, 1)]
    for s in record["points"]:
        p = s["point"]
        assert p["orders"] == p["accepted"] == p["terminal"] == 40, p
        assert p["state"] == "complete", p
        assert s["processes"] == 7 + 2 + s["wholesalers"]
        names = {x["name"] for x in p["services"]}  # every process that ran, the injector too
        assert len(names) == s["processes"] + 1, names
    wholesalers = {x["name"] for x in record["points"][1]["point"]["services"]}
    assert {"wh-a", "wh-a2"} <= wholesalers
    lines = result.stdout.splitlines()
    assert lines[1].split()[0] == "grown"
    assert [line.split()[0] for line in lines[3:6]] == ["x1", "wholesalers", "symbols"]
