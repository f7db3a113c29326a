"""What the SOR believes each venue shows now: its last depth (or indications), minus the SOR's
own executions the venue's market data does not reflect yet.

Pure. Each venue publishes a ``Trade`` (``trade_id`` = the fill's ``exec_id``) before the quote
and depth updates that follow an execution, all on one sequenced stream, while the fill report
travels on another socket. So an own fill is subtracted from the view until a depth or indication
with a ``seq`` after that trade arrives; a fill whose trade is already older than the current depth
is not subtracted at all. An IOC child that came back short also proves its venue had nothing
more at or better than its limit: those levels are hidden until the venue's next update.
``unconfirmed`` names the venues whose next update the router should wait for before it plans
(their levels still net out own fills), so a seeded book gives the same plan every run.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from protocol.common import Side
from services.sor.core import VenueLevel

RECENT_TRADES = 4096  # trade ids remembered per venue to match fills reported after their trade
UNCONFIRMED_TTL_NS = 2_000_000_000  # safety net: an own fill is subtracted at most this long


@dataclass(frozen=True, slots=True)
class VenueInfo:
    name: str
    kind: str  # "lit" or "dark"
    fee_per_share: int
    latency_ns: int


@dataclass(slots=True)
class _Book:
    seq: int = -1
    bids: list[tuple[int, int]] = field(default_factory=list)
    asks: list[tuple[int, int]] = field(default_factory=list)
    from_depth: bool = False
    hidden_bids: int | None = None  # nothing at or above this bid until the next update
    hidden_asks: int | None = None  # nothing at or below this ask until the next update


@dataclass(slots=True)
class _OwnFill:
    symbol: str
    takes_asks: bool
    price: int
    qty: int
    ts_ns: int
    trade_seq: int | None = None


class BookView:
    """Per (venue, symbol) levels the router may allocate over."""

    def __init__(self, venues: Iterable[VenueInfo]) -> None:
        self.venues = {v.name: v for v in venues}
        self._books: dict[tuple[str, str], _Book] = {}
        self._own: dict[str, dict[str, _OwnFill]] = {name: {} for name in self.venues}
        self._recent: dict[str, OrderedDict[str, int]] = {
            name: OrderedDict() for name in self.venues
        }

    # ------------------------------------------------------------------ market data
    def on_top(
        self,
        venue: str,
        symbol: str,
        seq: int,
        bid: tuple[int, int] | None,
        ask: tuple[int, int] | None,
    ) -> None:
        """A top-of-book quote: used only until the venue's first depth for the symbol."""
        book = self._books.setdefault((venue, symbol), _Book())
        if book.from_depth or seq <= book.seq:
            return
        book.seq = seq
        book.bids = [bid] if bid else []
        book.asks = [ask] if ask else []
        book.hidden_bids = book.hidden_asks = None

    def on_levels(
        self,
        venue: str,
        symbol: str,
        seq: int,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
    ) -> None:
        """Full state from a ``Depth`` or an ``IndicationOfInterest`` (best price first)."""
        book = self._books.setdefault((venue, symbol), _Book())
        if seq <= book.seq and book.from_depth:
            return
        book.seq, book.bids, book.asks, book.from_depth = seq, bids, asks, True
        book.hidden_bids = book.hidden_asks = None
        own = self._own.get(venue)
        if own:
            for exec_id in [
                e
                for e, f in own.items()
                if f.symbol == symbol and f.trade_seq is not None and f.trade_seq < seq
            ]:
                del own[exec_id]

    def on_trade(self, venue: str, trade_id: str, seq: int) -> None:
        own = self._own.get(venue)
        if own is None:
            return
        fill = own.get(trade_id)
        if fill is not None:
            fill.trade_seq = seq
            return
        recent = self._recent[venue]
        recent[trade_id] = seq
        if len(recent) > RECENT_TRADES:
            recent.popitem(last=False)

    # ------------------------------------------------------------------ own executions
    def on_own_fill(
        self, venue: str, symbol: str, side: Side, exec_id: str, price: int, qty: int, now_ns: int
    ) -> None:
        """Our child bought ``qty`` at ``price`` (takes asks) or sold it (takes bids)."""
        if venue not in self._own:
            return
        trade_seq = self._recent[venue].pop(exec_id, None)
        book = self._books.get((venue, symbol))
        if trade_seq is not None and book is not None and book.from_depth and book.seq > trade_seq:
            return  # the current depth already reflects it
        self._own[venue][exec_id] = _OwnFill(
            symbol, side is Side.BUY, price, qty, now_ns, trade_seq
        )

    def on_exhausted(self, venue: str, symbol: str, side: Side, limit_price: int) -> None:
        """Our IOC ``side`` child at ``limit_price`` came back short: hide what it could take."""
        book = self._books.get((venue, symbol))
        if book is None:
            return
        if side is Side.BUY:
            book.hidden_asks = (
                limit_price if book.hidden_asks is None else max(book.hidden_asks, limit_price)
            )
        else:
            book.hidden_bids = (
                limit_price if book.hidden_bids is None else min(book.hidden_bids, limit_price)
            )

    def expire(self, now_ns: int) -> None:
        for own in self._own.values():
            for exec_id in [e for e, f in own.items() if now_ns - f.ts_ns > UNCONFIRMED_TTL_NS]:
                del own[exec_id]

    # ------------------------------------------------------------------ queries
    def levels(self, symbol: str, side: Side, venues: Iterable[str]) -> list[VenueLevel]:
        """The levels a ``side`` order could take at ``venues``, best first per venue."""
        out: list[VenueLevel] = []
        takes_asks = side is Side.BUY
        for name in venues:
            info = self.venues.get(name)
            book = self._books.get((name, symbol))
            if info is None or book is None:
                continue
            remaining = dict(book.asks if takes_asks else book.bids)
            for fill in self._own[name].values():
                if (
                    fill.symbol == symbol
                    and fill.takes_asks == takes_asks
                    and fill.price in remaining
                ):
                    remaining[fill.price] -= fill.qty
            hidden = book.hidden_asks if takes_asks else book.hidden_bids
            for price, qty in remaining.items():
                if qty <= 0:
                    continue
                if hidden is not None and (price <= hidden if takes_asks else price >= hidden):
                    continue
                out.append(
                    VenueLevel(name, price, qty, info.latency_ns, info.kind, info.fee_per_share)
                )
        return out

    def unconfirmed(self, symbol: str, side: Side, venues: Iterable[str]) -> list[str]:
        """Venues whose shown ``side``-takeable levels of ``symbol`` still net out an own fill
        that no depth or indication has reflected yet.

        Such a venue's next update is on its way (it publishes one after every execution) and
        may show levels it did not advertise before (a book deeper than its 5 published levels):
        a wave planned before it arrives would see less than the venue holds, and what it sees
        would depend on which socket delivered first.
        """
        takes_asks = side is Side.BUY
        out = []
        for name in venues:
            book = self._books.get((name, symbol))
            if book is None or not book.from_depth or name not in self._own:
                continue
            shown = {price for price, _ in (book.asks if takes_asks else book.bids)}
            if any(
                f.symbol == symbol and f.takes_asks == takes_asks and f.price in shown
                for f in self._own[name].values()
            ):
                out.append(name)
        return out

    def best(self, symbol: str, side: Side, venues: Iterable[str]) -> int | None:
        """The best price a ``side`` order could take at ``venues`` (best ask for a buy)."""
        prices = [lvl.price * side.sign for lvl in self.levels(symbol, side, venues)]
        return min(prices) * side.sign if prices else None

    def has_levels(self, venue: str, symbol: str) -> bool:
        book = self._books.get((venue, symbol))
        return book is not None and book.from_depth


class MarketVolume:
    """Volume traded by others per symbol (for POV), from every venue's trades minus our own.

    Our fill report and the venue's trade print arrive in either order; whichever comes second
    settles it, so our own executions are never counted as market volume.
    """

    def __init__(self, symbols: Iterable[str]) -> None:
        self.by_symbol: dict[str, int] = dict.fromkeys(symbols, 0)
        self._counted: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._own: OrderedDict[tuple[str, str], None] = OrderedDict()

    def on_trade(self, venue: str, trade_id: str, symbol: str, qty: int) -> None:
        key = (venue, trade_id)
        if key in self._own:
            del self._own[key]
            return
        self.by_symbol[symbol] = self.by_symbol.get(symbol, 0) + qty
        _remember(self._counted, key, (symbol, qty))

    def on_own_fill(self, venue: str, exec_id: str) -> None:
        counted = self._counted.pop((venue, exec_id), None)
        if counted is None:
            _remember(self._own, (venue, exec_id), None)
        else:
            self.by_symbol[counted[0]] -= counted[1]


def _remember(store: OrderedDict, key: object, value: object) -> None:  # type: ignore[type-arg]
    store[key] = value
    if len(store) > RECENT_TRADES:
        store.popitem(last=False)
