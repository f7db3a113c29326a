"""The SIP: consolidates the lit venues' quotes into the NBBO and republishes it with its latency.

Subscribes to every venue's market data the Clone way (snapshot, then sequenced updates), so the
NBBO is right from the first message; publishes ``NBBO`` only when the national best, or the best
displayed price with odd lots included (Rule 605's benchmark beside it), changes.
"""

from __future__ import annotations

import msgspec
import zmq

from protocol.codec import Decoder, encode
from protocol.marketdata import NBBO, Depth, Quote, Snapshot, SnapshotRequest, Trade
from services.feeds import Feed
from services.runtime import Service
from services.sip.nbbo import DisplayedBest, NbboBook, TopOfBook


class Sip(Service):
    role = "sip"

    async def _setup(self) -> None:
        # Odd-lot quotations stay out of the NBBO under the rule set's round lots.
        self.books = {s: NbboBook(self.scenario.round_lot(s)) for s in self.scenario.symbol_names}
        self.tops: dict[str, tuple[TopOfBook, DisplayedBest]] = {}
        self.last: dict[str, NBBO] = {}
        self.seq = 0
        self.pub = self.bind("md", zmq.PUB)
        # The SIP's own consolidation latency sits on top of the link model.
        self.pub_link = self.link(self.pub, "*", extra_us=self.scenario.sip_latency_us)
        self.publish_sequence(self.pub_link, "nbbo", lambda: self.seq)
        self.snap = self.bind("snapshot", zmq.ROUTER)
        self.serve(
            self.snap, Decoder([SnapshotRequest]), self._on_snapshot, router=True, name="snapshot"
        )
        for symbol, nbbo_book in self.books.items():
            self._publish(symbol, (nbbo_book.best(), nbbo_book.best_displayed()))
        for venue in self.scenario.venues:
            feed = Feed(
                self,
                venue.name,
                "quotes",
                [Quote, Trade, Depth],
                self._on_md,
                snapshot_endpoint="orders",
            )
            await feed.start()

    def _on_md(self, msg: Quote | Trade | Depth) -> None:
        if isinstance(msg, Trade):
            self._consolidate_trade(msg)
            return
        if not isinstance(msg, Quote):
            return
        book = self.books.get(msg.symbol)
        if book is None:
            self.count("quotes.unknown_symbol")
            return
        book.update(msg.venue, msg.bid_px, msg.bid_qty, msg.ask_px, msg.ask_qty)
        # An odd lot inside the NBBO changes only the best displayed price: published too.
        top = (book.best(), book.best_displayed())
        if top != self.tops.get(msg.symbol):
            self._publish(msg.symbol, top)

    def _consolidate_trade(self, trade: Trade) -> None:
        """The consolidated tape: every lit trade, republished in the SIP's own sequence.

        Not recorded again (the venue taped it); ``venue`` still names where it printed.
        """
        self.seq += 1
        self.pub_link.send(
            encode(
                msgspec.structs.replace(
                    trade,
                    seq=self.seq,
                    sender=self.name,
                    msg_id=self.next_msg_id(),
                )
            )
        )
        self.count("trades.consolidated")

    def _publish(self, symbol: str, tops: tuple[TopOfBook, DisplayedBest]) -> None:
        self.tops[symbol] = tops
        top, displayed = tops
        self.seq += 1
        nbbo = self.make(
            NBBO,
            symbol=symbol,
            seq=self.seq,
            bid_px=top.bid_px,
            bid_qty=top.bid_qty,
            bid_venue=top.bid_venue,
            ask_px=top.ask_px,
            ask_qty=top.ask_qty,
            ask_venue=top.ask_venue,
            locked=top.locked,
            crossed=top.crossed,
            best_bid_px=displayed.bid_px,
            best_ask_px=displayed.ask_px,
        )
        self.last[symbol] = nbbo
        payload = encode(nbbo)
        self.pub_link.send(payload)
        self.tape(payload)

    def _on_snapshot(self, identity: bytes | None, msg: SnapshotRequest, _recv_ns: int) -> None:
        snap = self.make(Snapshot, stream=msg.stream, seq=self.seq, nbbos=list(self.last.values()))
        self.reply_link(self.snap, identity).send(encode(snap))  # type: ignore[arg-type]
