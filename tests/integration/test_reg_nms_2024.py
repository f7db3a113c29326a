"""The 2024 Reg NMS amendments on real processes: a tick-constrained stock quotes in half
pennies, odd-lot quotations stay out of the NBBO (but in the best displayed price published
beside it), and nothing trades through it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from config.scenario import scenario_from_dict
from orchestration.reg_nms import reg_nms_summary
from orchestration.rule605 import rule605_orders
from tests.helpers import run_stream


def test_2024_rules_half_penny_quotes_round_lot_nbbo_no_trade_through(tmp_path: Path) -> None:
    scenario = scenario_from_dict(
        {
            "name": "reg-nms-2024-live",
            "seed": 24,
            "rules": {"reg_nms": "2024"},
            # $20 with market makers 1.5 bps either side: a quoted spread near $0.006, well
            # under the release's $0.015, so the stock is tick-constrained.
            "symbols": [{"symbol": "TGT", "price": "20.00", "tick_constrained": True}],
            "venues": [
                {"name": "lit-a", "taker_fee": "0.0010", "maker_rebate": "0.0008"},
                {"name": "lit-b", "taker_fee": "0.0008", "maker_rebate": "0.0005"},
            ],
            "wholesalers": [{"name": "wh-a"}],
            "broker": {"regimes": ["pfof", "auction"]},
            "agents": {
                "market_makers": {"half_spread_bps": 1.5, "size": 300},
                "noise": {"traders": 6, "rate_per_s": 20.0, "sizes": [25, 60, 100]},
            },
        }
    )
    tables = asyncio.run(asyncio.wait_for(run_stream(scenario, tmp_path, 40, 40.0, 3), 180))

    quotes, nbbo = tables["quotes"], tables["nbbo"]
    prices = [int(p) for p in (*quotes["bid_px"].dropna(), *quotes["ask_px"].dropna())]
    assert prices and all(p % 5_000 == 0 for p in prices)  # on the $0.005 grid
    assert any(p % 10_000 == 5_000 for p in prices)  # and using it: half pennies shown
    # Round lot 100 at $20: the NBBO's size is never an odd lot (odd-lot tops left out).
    assert (nbbo.loc[nbbo["bid_px"].notna(), "bid_qty"] >= 100).all()
    assert (nbbo.loc[nbbo["ask_px"].notna(), "ask_qty"] >= 100).all()
    assert reg_nms_summary(tables)["trade_throughs"] == 0
    # Beside it, the best displayed price of any size (amended Rule 605): never worse than the
    # NBBO, and always a price some venue displayed.
    two_sided = nbbo[nbbo["bid_px"].notna() & nbbo["ask_px"].notna()]
    assert len(two_sided) and two_sided[["best_bid_px", "best_ask_px"]].notna().all().all()
    assert (two_sided["best_bid_px"] >= two_sided["bid_px"]).all()
    assert (two_sided["best_ask_px"] <= two_sided["ask_px"]).all()
    assert set(nbbo["best_bid_px"].dropna()) <= set(quotes["bid_px"].dropna())
    assert set(nbbo["best_ask_px"].dropna()) <= set(quotes["ask_px"].dropna())
    # The broker tapes it at receipt, so Rule 605 prices every priced share against it too.
    per_order = rule605_orders(tables["orders"], tables["fills"], nbbo)
    assert per_order["priced_shares"].sum() > 0
    assert per_order["best_priced_shares"].sum() == per_order["priced_shares"].sum()
