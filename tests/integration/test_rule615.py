"""Proposed Rule 615 on real processes: the account attributes of a stream file travel with
each order to the report, and the orders the proposal exempts skip the auction.

A seeded, quiet market ($99.99 x $100.01 on lit-a, midpoint $100.00; no agents), so the
exemptions below are known by hand: 2,000 shares x $100.00 = $200,000 is a large order, a
buy limit at $100.00 is at the midpoint, 40 trades a day is not segmented.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from config.scenario import Scenario, scenario_from_dict
from orchestration.launcher import LabSupervisor
from orchestration.streams import validate_rows, write_stream
from orchestration.tape import build_tables


def quiet_scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "rule615",
            "seed": 6,
            "symbols": [{"symbol": "ACME", "price": "100.00"}],
            "venues": [
                {
                    "name": "lit-a",
                    "book": [
                        {"side": "sell", "price": "100.01", "qty": 50_000},
                        {"side": "buy", "price": "99.99", "qty": 50_000},
                    ],
                }
            ],
            "wholesalers": [{"name": "wh-a"}],
            "broker": {"regimes": ["auction"]},
            "agents": {"enabled": False},
        }
    )


def row(order_id: str, t_ms: int, qty: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "t_ns": t_ms * 1_000_000, "order_id": order_id, "symbol": "ACME", "side": "buy",
        "qty": qty, "order_type": "market", "regime": "auction",
    }  # fmt: skip
    return {**base, **extra}


ROWS = [
    row("seg", 0, 100),  # attributes not stated: a retail client, segmented: auctioned
    row("inst", 20, 100, natural_person="0"),  # not a natural person's account
    row("large", 40, 2_000),  # $200,000 at the midpoint: exempt
    row("active", 60, 100, natural_person="1", avg_daily_trades="40"),  # 40 a day: not segmented
    row("at-mid", 80, 100, order_type="limit", limit_price="100000000", tif="ioc"),
    row("small", 100, 100, natural_person="1", avg_daily_trades="39"),  # segmented: auctioned
]
EXPECTED = {  # order id -> (segmented, exemption)
    "seg": (True, ""),
    "inst": (False, "not-segmented"),
    "large": (True, "large-order"),
    "active": (False, "not-segmented"),
    "at-mid": (True, "limit-at-or-better-than-midpoint"),
    "small": (True, ""),
}


def test_segmented_flags_travel_to_the_report_and_exempt_orders_skip_the_auction(
    tmp_path: Path,
) -> None:
    scenario = quiet_scenario()
    validate_rows(ROWS, scenario)

    async def run() -> Path:
        lab = LabSupervisor(scenario, runs_root=tmp_path)
        try:
            await lab.start()
            done = await lab.inject(write_stream(ROWS, lab.run_dir / "stream.csv"), timeout_s=30)
            assert done.terminal == done.sent == len(ROWS)
        finally:
            codes = await lab.stop()
        assert all(code == 0 for code in codes.values()), codes
        return lab.run_dir

    run_dir = asyncio.run(asyncio.wait_for(run(), 120))
    from config.runconfig import load_run_config

    tables = build_tables(run_dir, load_run_config(run_dir / "config.toml"))
    orders = tables["orders"].set_index("order_id")
    routes = tables["routes"]
    auctioned = set(routes.loc[routes["destination"] == "auction", "order_id"])

    seen = {
        order_id: (
            bool(orders.loc[order_id, "segmented"]),
            orders.loc[order_id, "auction_exemption"],
        )
        for order_id in EXPECTED
    }
    assert seen == EXPECTED
    assert auctioned == {"seg", "small"}
    assert sorted(tables["auctions"]["qty"]) == [100, 100]
