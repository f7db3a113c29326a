"""The other lit venues' protected quotes, as one venue knows them (Reg NMS Rule 611).

A venue must not execute through another venue's protected quotation. It learns those quotes
the way the SIP does — each other venue's ``quotes`` stream, snapshot then sequenced updates —
directly, so what it checks at execution is as fresh as its links allow (a direct feed; the
rule lets a trading centre use any feed it chooses). Its own quote is not protected against
itself: the book's price-time priority already orders it.
"""

from __future__ import annotations

from protocol.marketdata import Depth, Quote, Trade
from services.feeds import Feed
from services.runtime import Service
from services.sip.nbbo import NbboBook


class AwayQuotes:
    """Best bid and offer per symbol over every lit venue but ``service``'s own."""

    def __init__(self, service: Service, symbols: list[str], venues: list[str]) -> None:
        self.service = service
        self.venues = [v for v in venues if v != service.name]
        # Only round-lot quotations are protected (odd lots are not, Rule 600(b)).
        self.books = {symbol: NbboBook(service.scenario.round_lot(symbol)) for symbol in symbols}

    def feeds(self) -> list[Feed]:
        """One feed per other venue; the caller starts them (after its own socket is bound:
        every venue snapshots every other, so none may wait for the others in its set-up)."""
        return [
            Feed(self.service, venue, "quotes", [Quote, Trade, Depth], self._on,
                 snapshot_endpoint="orders")
            for venue in self.venues
        ]  # fmt: skip

    def _on(self, msg: Quote | Trade | Depth) -> None:
        if isinstance(msg, Quote) and msg.symbol in self.books:
            self.books[msg.symbol].update(
                msg.venue, msg.bid_px, msg.bid_qty, msg.ask_px, msg.ask_qty
            )

    def protect(self, symbol: str) -> tuple[int | None, int | None]:
        """The other venues' best ``(bid, ask)`` for ``symbol`` known now (``None``: none)."""
        book = self.books.get(symbol)
        if book is None:
            return None, None
        top = book.best()
        return top.bid_px, top.ask_px
