"""A service's auction responses, kept priced while the window is open.

Shared by the wholesalers and the agents' auction-responding market makers, so both answer
auctions the same way. A response is priced by the dealer's desk on the NBBO the notice
carries; while the window is open the responder re-prices it whenever the NBBO it sees moves —
the same desk, the same costs and learned markup, only the quotes are newer — and replaces it
when the price changes, or withdraws it when the desk now declines. Without this each response
was a free option on the window's drift: at the window's end the auction drops a response the
market moved through (Rule 611 at execution), while a move against the responder left it
standing (docs/ECONOMICS.md, "The null case and the check at execution").

Load stays bounded: NBBO updates only mark their symbol; one pass per event-loop turn re-prices
the live responses of the marked symbols, so a burst of quotes is coalesced into at most one
update per response, and only a changed price (or a decline) is sent. A replacement carries a
new response id (``<id>.<version>``), so each fill is marked against the mid its own price was
set on, exactly.

Whether proposed Rule 615 lets a responder modify or cancel its response during the auction was
not checked against the release's text (it could not be found here): the lab's modelling choice
(``services/auction/responses.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from protocol.auctions import AuctionStarted, CancelAuctionResponse, SubmitAuctionResponse
from protocol.codec import encode
from protocol.common import Side
from protocol.marketdata import NBBO
from protocol.orders import CancelRejected, OrderCanceled, OrderFilled, OrderRejected
from services.dealer.desk import AUCTION, Desk
from services.latency import Link
from services.runtime import Service

Quote = tuple[int, int]


@dataclass(slots=True)
class LiveResponse:
    """One response of ours in an open auction, and what it was last priced on."""

    auction_id: str
    responder: str
    symbol: str
    side: Side  # the retail order's
    qty: int
    worst: int  # the auction's bound: the order's limit or the NBBO's far side at the start
    increment: int
    end_ns: int
    base_id: str
    token: int  # the learning period that saw the notice
    price: int
    quote: Quote
    version: int = 0

    @property
    def response_id(self) -> str:
        return self.base_id if self.version == 0 else f"{self.base_id}.{self.version}"


def auction_bound(notice: AuctionStarted) -> int:
    """The worst price a response may take: the tighter of the order's exposure limit and the
    NBBO's far side at the start (the auction refuses anything worse)."""
    far = notice.nbbo_ask if notice.side is Side.BUY else notice.nbbo_bid
    if notice.limit_price is None:
        return far
    if notice.side is Side.BUY:
        return min(far, notice.limit_price)
    return max(far, notice.limit_price)


@dataclass(slots=True)
class LiveResponses:
    """Live responses by (responder, auction); which to re-price after the NBBO moved. Pure."""

    by_key: dict[tuple[str, str], LiveResponse] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)

    def add(self, live: LiveResponse) -> None:
        self.by_key[live.responder, live.auction_id] = live

    def remove(self, live: LiveResponse) -> None:
        self.by_key.pop((live.responder, live.auction_id), None)

    def closed(self, auction_id: str) -> None:
        """The auction completed: none of its responses can change any more."""
        for key in [k for k in self.by_key if k[1] == auction_id]:
            del self.by_key[key]

    def moved(self, symbol: str) -> bool:
        """Mark ``symbol``'s NBBO as moved; ``True`` if a pass is needed and not yet due."""
        first = not self.dirty
        self.dirty.add(symbol)
        return first

    def due(
        self, quote_of: Callable[[str], Quote | None], now_ns: int
    ) -> Iterator[tuple[LiveResponse, Quote]]:
        """Each live response on a marked symbol whose quote differs from the one it was
        priced on, with the quote now; responses whose window has ended are dropped (the
        auction would refuse their update). Clears the marks."""
        symbols, self.dirty = self.dirty, set()
        for live in list(self.by_key.values()):
            if live.end_ns <= now_ns:
                self.remove(live)
                continue
            if live.symbol not in symbols:
                continue
            quote = quote_of(live.symbol)
            if quote is not None and quote != live.quote:
                yield live, quote


@dataclass(slots=True)
class Pending:
    """What a fill of one response id needs: whose desk, the mid its price was set on, and
    the learning period to credit."""

    responder: str
    mid: float
    token: int


class AuctionResponder:
    """Sends a service's responses and keeps them priced; one per service."""

    def __init__(
        self,
        host: Service,
        link: Link,
        desks: Mapping[str, Desk],
        quote_of: Callable[[str], Quote | None],
        counter_prefix: str,
        reprice: bool = True,
    ) -> None:
        self.host = host
        self.link = link
        self.desks = desks
        self.quote_of = quote_of
        self.prefix = counter_prefix
        self.reprice = reprice  # [auction] response_updates: the auction accepts updates
        self.live = LiveResponses()
        self.pending: dict[str, Pending] = {}
        self._pass_due = False

    def respond(
        self, responder: str, notice: AuctionStarted, qty: int, token: int, response_id: str
    ) -> bool:
        """Price and send ``responder``'s response to ``notice``; ``False`` if its desk
        declines."""
        quote = (notice.nbbo_bid, notice.nbbo_ask)
        live = LiveResponse(
            notice.auction_id, responder, notice.symbol, notice.side, qty, auction_bound(notice),
            notice.increment, notice.end_ns, response_id, token, 0, quote,
        )  # fmt: skip
        price = self._price(live, quote)
        if price is None:
            return False
        live.price = price
        self.live.add(live)
        self._submit(live)
        return True

    def on_nbbo(self, nbbo: NBBO) -> None:
        """The NBBO moved: re-price the symbol's live responses once this turn's messages are
        handled (coalesced)."""
        if not self.reprice or not self.live.by_key:
            return
        if self.live.moved(nbbo.symbol) and not self._pass_due:
            self._pass_due = True
            asyncio.get_running_loop().call_soon(self._reprice)

    def _reprice(self) -> None:
        self._pass_due = False
        for live, quote in self.live.due(self.quote_of, time.time_ns()):
            price = self._price(live, quote)
            if price is None:  # the desk declines at the new quotes: withdraw
                self.live.remove(live)
                self._send(
                    CancelAuctionResponse,
                    auction_id=live.auction_id,
                    response_id=live.response_id,
                    responder=live.responder,
                )
                self.host.count(f"{self.prefix}.withdrawn")
                continue
            live.quote = quote
            if price != live.price:
                live.price = price
                live.version += 1
                self._submit(live)
                self.host.count(f"{self.prefix}.updated")

    def closed(self, auction_id: str) -> None:
        self.live.closed(auction_id)

    def report(self, msg: object) -> Pending | None:
        """A report on one of our responses: a fill's ``Pending`` (``None`` for anything else);
        ended responses are forgotten."""
        match msg:
            case OrderFilled():
                pending = self.pending.get(msg.order_id)
                if msg.leaves_qty == 0:
                    self.pending.pop(msg.order_id, None)
                return pending
            case OrderCanceled() | OrderRejected():
                self.pending.pop(msg.order_id, None)
            case CancelRejected():  # a withdrawal that came too late: the response stands
                self.host.count(f"{self.prefix}.withdraw_refused")
        return None

    def _price(self, live: LiveResponse, quote: Quote) -> int | None:
        return self.desks[live.responder].price(
            AUCTION, live.symbol, live.side, quote[0], quote[1], live.increment, live.worst
        )

    def _submit(self, live: LiveResponse) -> None:
        self.pending[live.response_id] = Pending(
            live.responder, (live.quote[0] + live.quote[1]) / 2, live.token
        )
        self._send(
            SubmitAuctionResponse,
            auction_id=live.auction_id,
            response_id=live.response_id,
            responder=live.responder,
            price=live.price,
            qty=live.qty,
        )

    def _send(
        self, cls: type[SubmitAuctionResponse] | type[CancelAuctionResponse], **fields: object
    ) -> None:
        self.link.send(encode(self.host.make(cls, **fields)))
