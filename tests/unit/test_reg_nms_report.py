"""Trade-throughs and stale-NBBO executions counted from a hand-written tape's tables."""

from __future__ import annotations

import pandas as pd

from orchestration.reg_nms import reg_nms_summary

BID, ASK = 10_000_000, 10_010_000  # $10.00 x $10.01


def fill(service: str, exec_id: str, side: str, price: int, bid: int | None, ask: int | None,
         exec_ns: int, liquidity: str = "taker") -> dict:  # fmt: skip
    return {"service": service, "exec_id": exec_id, "symbol": "XYZ", "side": side,
            "price": price, "exec_ns": exec_ns, "exec_nbbo_bid": bid, "exec_nbbo_ask": ask,
            "liquidity": liquidity}  # fmt: skip


def tables(rows: list[dict]) -> dict[str, pd.DataFrame]:
    fills = pd.DataFrame(rows).astype({"exec_nbbo_bid": "Int64", "exec_nbbo_ask": "Int64"})
    # The SIP published $10.00 x $10.01 at t=100, then $10.00 x $10.005 at t=200.
    nbbo = pd.DataFrame(
        {
            "symbol": ["XYZ", "XYZ"],
            "ts_ns": [100, 200],
            "bid_px": [BID, BID],
            "ask_px": [ASK, ASK - 5_000],
        }
    )
    auctions = pd.DataFrame({"through_nbbo": [0, 2, 1]})
    return {"destination_fills": fills, "nbbo": nbbo, "auctions": auctions}


def test_reg_nms_summary_counts_each_kind_once_per_execution() -> None:
    rows = [
        # within both: a clean execution; its two sides (buyer and seller) count once
        fill("lit-a", "e1", "buy", ASK, BID, ASK, 150),
        fill("lit-a", "e1", "sell", ASK, BID, ASK, 150),
        # a buy above the ask its centre checked: a trade-through
        fill("wh-a", "e2", "buy", ASK + 1_000, BID, ASK, 150),
        # at the ask the centre knew ($10.01), above the SIP's newer $10.005: stale
        fill("auction", "e3", "buy", ASK, BID, ASK, 250),
        # a sell at $10.00 checked against nothing: an intermarket sweep, unchecked
        fill("lit-b", "e4", "sell", BID, None, None, 250),
        # an auction buy at $9.999, below the bid: its responder sold below a protected bid
        fill("auction", "e5", "buy", BID - 1_000, BID, ASK, 150, "auction"),
        # the same price on a lit book (only possible while crossed): not counted
        fill("lit-c", "e6", "buy", BID - 1_000, BID, ASK, 150, "taker"),
        # a resting buy at $10.02 filled on lit-a while the away ask was $10.01: lit-a's own
        # protected bid crossed it (Rule 611(b)(4)); the incoming sell at $10.02 is within
        fill("lit-a", "e7", "buy", ASK + 1_000, BID, ASK, 150, "maker"),
        fill("lit-a", "e7", "sell", ASK + 1_000, BID, ASK, 150, "taker"),
        # a taker buying at that price would be a trade-through
        fill("lit-b", "e8", "buy", ASK + 1_000, BID, ASK, 150, "taker"),
    ]
    summary = reg_nms_summary(tables(rows))
    assert summary == {
        "executions": 8,
        "trade_throughs": 3,
        "stale_nbbo_executions": 1,
        "crossed_market_executions": 1,
        "unchecked_executions": 1,
        "auction_responses_through_nbbo": 3,
    }


def test_reg_nms_summary_without_fills_is_all_zero() -> None:
    assert reg_nms_summary({})["executions"] == 0
