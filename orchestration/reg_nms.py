"""Reg NMS order protection on the tape: trade-throughs and executions against a stale NBBO.

Every trading centre stamps each execution with the protected quotes it checked the price
against at execution (``OrderFilled.nbbo_bid``/``nbbo_ask``; a lit venue: the other venues'
quotes, others: the NBBO). From the executing centres' own fills (``destination_fills``):

- ``trade_throughs``: executions priced through the quotes their centre checked (a buy above
  the ask, a sell below the bid; Reg NMS Rule 611(a)), and, where the centre was not a lit
  book, through the other side too (an internalised or auction buy below the bid has its
  dealer sell below a protected bid; on a lit book that can only happen while the market is
  crossed, which Rule 611(b)(4) exempts). Expected 0.
- ``crossed_market_executions``: a lit book's resting order filled at its own price beyond the
  other side the venue checked (a resting buy above the away ask): the venue's own protected
  quote crossed the away one, so the market was crossed, which Rule 611(b)(4) exempts
  ("effected when a protected bid was priced higher than a protected offer"). It happens when
  another venue posts through a resting quote it has not yet seen (the SIP's and links'
  latency); the incoming side of the trade is checked as usual.
- ``stale_nbbo_executions``: executions within what their centre checked but outside the NBBO
  the SIP had last published before them: the centre's view was older than the SIP's (SIP and
  link latency), or a lit venue took its own quote the SIP still showed.
- ``unchecked_executions``: executions stamped with no quote (intermarket sweep orders, which
  Rule 611(b)(6) exempts; or an empty market).

An execution is one ``exec_id`` of one centre; a trade's two sides count once.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from protocol.common import Liquidity, Side
from protocol.money import outside_quote, trades_through

LIT_BOOK = {str(Liquidity.MAKER), str(Liquidity.TAKER)}
MAKER = str(Liquidity.MAKER)


def _quote(value: object) -> int | None:
    return None if pd.isna(value) else int(value)  # type: ignore[call-overload]


def _through(side: str, price: int, bid: object, ask: object, liquidity: str = "taker") -> bool:
    if liquidity in LIT_BOOK:
        return trades_through(Side(side), int(price), _quote(bid), _quote(ask))
    return outside_quote(int(price), _quote(bid), _quote(ask))


def published_nbbo_at(fills: pd.DataFrame, nbbo: pd.DataFrame | None) -> pd.DataFrame:
    """``fills`` with ``sip_bid``/``sip_ask``: the SIP's last NBBO for the symbol published
    (``ts_ns``) at or before each fill's ``exec_ns`` (nulls before the first one)."""
    out = fills.reset_index(drop=True).copy()
    out["sip_bid"] = pd.NA
    out["sip_ask"] = pd.NA
    if nbbo is None or nbbo.empty or out.empty:
        return out
    quotes = nbbo[["symbol", "ts_ns", "bid_px", "ask_px"]].sort_values("ts_ns", kind="stable")
    left = out[["symbol", "exec_ns"]].assign(_row=range(len(out))).sort_values("exec_ns")
    joined = pd.merge_asof(
        left.astype({"exec_ns": "int64"}),
        quotes.astype({"ts_ns": "int64"}),
        left_on="exec_ns",
        right_on="ts_ns",
        by="symbol",
        direction="backward",
    ).set_index("_row")
    out["sip_bid"] = joined["bid_px"].reindex(out.index)
    out["sip_ask"] = joined["ask_px"].reindex(out.index)
    return out


def reg_nms_summary(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """The counts of the module docstring, plus ``auction_responses_through_nbbo`` (valid
    auction responses the auction did not execute because the NBBO had moved through them)."""
    fills = tables.get("destination_fills")
    auctions = tables.get("auctions")
    skipped = 0
    if auctions is not None and "through_nbbo" in auctions:
        skipped = int(auctions["through_nbbo"].fillna(0).sum())
    counts = {
        "executions": 0,
        "trade_throughs": 0,
        "stale_nbbo_executions": 0,
        "crossed_market_executions": 0,
        "unchecked_executions": 0,
        "auction_responses_through_nbbo": skipped,
    }
    if fills is None or fills.empty or "exec_nbbo_bid" not in fills:
        return counts
    rows = published_nbbo_at(fills, tables.get("nbbo"))
    # A trade's worst side decides: a trade-through on either side is one.
    rank = (
        "executions",
        "unchecked_executions",
        "stale_nbbo_executions",
        "crossed_market_executions",
        "trade_throughs",
    )
    per_exec: dict[tuple[str, str], int] = {}
    for row in rows.to_dict("records"):
        key = (str(row["service"]), str(row["exec_id"]))
        verdict = rank.index(_verdict(row))
        per_exec[key] = max(verdict, per_exec.get(key, 0))
    counts["executions"] = len(per_exec)
    for verdict in per_exec.values():
        if verdict:
            counts[rank[verdict]] += 1
    return counts


def _verdict(row: dict[Any, Any]) -> str:
    """Which count one side of an execution belongs to (the module docstring)."""
    side, price, liquidity = str(row["side"]), int(row["price"]), str(row["liquidity"])
    if pd.isna(row["exec_nbbo_bid"]) and pd.isna(row["exec_nbbo_ask"]):
        return "unchecked_executions"
    if _through(side, price, row["exec_nbbo_bid"], row["exec_nbbo_ask"], liquidity):
        # a resting (maker) order beyond the away quote: its own protected quote crossed it
        return "crossed_market_executions" if liquidity == MAKER else "trade_throughs"
    if _through(side, price, row["sip_bid"], row["sip_ask"], liquidity):
        return "stale_nbbo_executions"
    return "executions"
