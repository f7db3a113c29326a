"""Responders keep their auction responses priced while the window is open
(``services/dealer/responder.py``): re-priced on a moved NBBO, coalesced, withdrawn on a
decline, never after the window."""

from __future__ import annotations

import time
from typing import Any

from protocol.auctions import AuctionStarted, CancelAuctionResponse, SubmitAuctionResponse
from protocol.codec import Decoder
from protocol.common import Liquidity, Side
from protocol.marketdata import NBBO
from protocol.orders import OrderCanceled, OrderFilled
from services.dealer.responder import AuctionResponder, LiveResponse, LiveResponses, auction_bound

BID, ASK = 100_000_000, 100_020_000
DECODE = Decoder([SubmitAuctionResponse, CancelAuctionResponse])


class Host:
    """Stamps and counts (the part of a Service a responder uses)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def make(self, cls: type, **fields: Any) -> Any:
        return cls(sender="wh-a", ts_ns=1, **fields)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


class Link:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, payload: bytes) -> None:
        self.sent.append(DECODE.decode_payload(payload))


class MidPlusOneTick:
    """A desk that asks the mid + $0.001 for a buy (bid the mid - $0.001 for a sell), within
    the bound, and declines when the bound is worse than that for it."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def price(
        self, _channel: str, _symbol: str, side: Side, bid: int, ask: int, _grid: int,
        bound: int | None,
    ) -> int | None:  # fmt: skip
        self.calls.append((bid, ask))
        wanted = (bid + ask) // 2 + side.sign * 1_000
        if bound is not None and (wanted - bound) * side.sign > 0:
            return None
        return wanted


def notice(side: Side = Side.BUY, end_ns: int | None = None) -> AuctionStarted:
    return AuctionStarted(
        auction_id="A1", symbol="ACME", side=side, qty=100, limit_price=None, nbbo_bid=BID,
        nbbo_ask=ASK, increment=1_000, start_ns=1,
        end_ns=end_ns if end_ns is not None else time.time_ns() + 10**9, sender="auction", ts_ns=1,
    )  # fmt: skip


def responder(quotes: dict[str, tuple[int, int]]) -> tuple[AuctionResponder, Link, Host]:
    link, host = Link(), Host()
    made = AuctionResponder(host, link, {"wh-a": MidPlusOneTick()}, quotes.get, "auctions")  # type: ignore[arg-type,dict-item]
    return made, link, host


def moved(made: AuctionResponder, symbol: str) -> None:
    """What ``on_nbbo`` schedules, run at once."""
    made.live.moved(symbol)
    made._reprice()


def test_respond_prices_on_the_notice_nbbo_and_sends_the_base_id() -> None:
    made, link, _ = responder({})
    assert made.respond("wh-a", notice(), 100, 7, "wh-a-rA1")
    [sent] = link.sent
    assert (sent.response_id, sent.price, sent.qty) == ("wh-a-rA1", 100_011_000, 100)
    assert made.pending["wh-a-rA1"].mid == (BID + ASK) / 2


def test_moved_nbbo_replaces_the_response_with_a_new_version_priced_on_it() -> None:
    quotes = {"ACME": (BID - 4_000, ASK - 4_000)}  # the market fell 4 ticks: better for a buyer
    made, link, host = responder(quotes)
    made.respond("wh-a", notice(), 100, 7, "wh-a-rA1")
    moved(made, "ACME")
    update = link.sent[-1]
    assert isinstance(update, SubmitAuctionResponse)
    assert (update.response_id, update.price) == ("wh-a-rA1.1", 100_007_000)
    assert made.pending["wh-a-rA1.1"].mid == (BID + ASK - 8_000) / 2
    assert made.pending["wh-a-rA1.1"].token == 7
    assert host.counters == {"auctions.updated": 1}


def test_unchanged_price_or_quote_sends_nothing() -> None:
    quotes = {"ACME": (BID, ASK)}
    made, link, _ = responder(quotes)
    made.respond("wh-a", notice(), 100, 7, "r")
    moved(made, "ACME")  # the same quote
    moved(made, "BOLT")  # another symbol
    assert len(link.sent) == 1


def test_decline_at_the_new_quote_withdraws_the_response() -> None:
    quotes = {"ACME": (BID + 30_000, ASK + 30_000)}  # up 3 cents: mid + tick beyond the start ask
    made, link, host = responder(quotes)
    made.respond("wh-a", notice(), 100, 7, "r")
    moved(made, "ACME")
    cancel = link.sent[-1]
    assert isinstance(cancel, CancelAuctionResponse) and cancel.response_id == "r"
    assert host.counters == {"auctions.withdrawn": 1} and not made.live.by_key


def test_many_moves_before_a_pass_send_one_update() -> None:
    quotes = {"ACME": (BID, ASK)}
    made, link, _ = responder(quotes)
    made.respond("wh-a", notice(), 100, 7, "r")
    for step in range(1, 6):
        quotes["ACME"] = (BID - step * 1_000, ASK - step * 1_000)
        made.live.moved("ACME")
    made._reprice()
    assert [m.response_id for m in link.sent] == ["r", "r.1"]
    assert link.sent[-1].price == (2 * BID + 20_000 - 10_000) // 2 + 1_000


def test_no_update_after_the_window_and_the_response_is_forgotten() -> None:
    made, link, _ = responder({"ACME": (BID - 4_000, ASK - 4_000)})
    made.respond("wh-a", notice(end_ns=time.time_ns() - 1), 100, 7, "r")
    moved(made, "ACME")
    assert len(link.sent) == 1 and not made.live.by_key


def test_completed_auction_stops_updates() -> None:
    made, link, _ = responder({"ACME": (BID - 4_000, ASK - 4_000)})
    made.respond("wh-a", notice(), 100, 7, "r")
    made.closed("A1")
    moved(made, "ACME")
    assert len(link.sent) == 1


def test_reports_return_the_fills_pending_and_forget_ended_ids() -> None:
    made, _, _ = responder({})
    made.respond("wh-a", notice(), 100, 7, "r")
    canceled = OrderCanceled(order_id="r", symbol="ACME", canceled_qty=100, cum_qty=0,
                             reason="replaced by r.1")  # fmt: skip
    assert made.report(canceled) is None and "r" not in made.pending
    made.respond("wh-a", notice(), 100, 7, "s")
    fill = OrderFilled(
        order_id="s", symbol="ACME", side=Side.SELL, fill_qty=100, fill_price=100_011_000,
        cum_qty=100, leaves_qty=0, venue="auction", liquidity=Liquidity.AUCTION, exec_id="x",
        exec_ns=1,
    )  # fmt: skip
    pending = made.report(fill)
    assert pending is not None and pending.responder == "wh-a" and "s" not in made.pending


def test_auction_bound_is_the_tighter_of_limit_and_far_side_at_start() -> None:
    buy = notice()
    assert auction_bound(buy) == ASK
    assert auction_bound(AuctionStarted(**{**_fields(buy), "limit_price": ASK - 5_000})) == (
        ASK - 5_000
    )
    sell = notice(Side.SELL)
    assert auction_bound(sell) == BID
    assert auction_bound(AuctionStarted(**{**_fields(sell), "limit_price": BID - 5_000})) == BID


def test_live_responses_due_yields_only_marked_symbols_with_a_new_quote() -> None:
    live = LiveResponses()
    for auction, symbol in (("A1", "ACME"), ("A2", "BOLT")):
        response = LiveResponse(
            auction, "wh-a", symbol, Side.BUY, 100, ASK, 1_000, 10**30, auction, 0, ASK, (BID, ASK)
        )
        live.add(response)
    assert live.moved("ACME") and not live.moved("BOLT")
    quotes = {"ACME": (BID - 1_000, ASK), "BOLT": (BID, ASK)}
    assert [(r.auction_id, q) for r, q in live.due(quotes.get, 0)] == [("A1", (BID - 1_000, ASK))]
    assert list(live.due(quotes.get, 0)) == []  # marks cleared


def _fields(msg: AuctionStarted) -> dict[str, Any]:
    return {f: getattr(msg, f) for f in msg.__struct_fields__}


def test_no_repricing_when_the_auction_keeps_responses_firm() -> None:
    made, link, _ = responder({"ACME": (BID - 4_000, ASK - 4_000)})
    made.reprice = False
    made.respond("wh-a", notice(), 100, 7, "r")
    moved = NBBO(
        symbol="ACME", seq=1, bid_px=BID - 4_000, bid_qty=100, bid_venue="lit-a",
        ask_px=ASK - 4_000, ask_qty=100, ask_venue="lit-a", sender="sip", ts_ns=1,
    )  # fmt: skip
    made.on_nbbo(moved)
    assert len(link.sent) == 1 and not made.live.dirty
