"""Pure core: the NBBO of one symbol from the lit venues' best quotes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopOfBook:
    bid_px: int | None
    bid_qty: int
    bid_venue: str
    ask_px: int | None
    ask_qty: int
    ask_venue: str

    @property
    def locked(self) -> bool:
        return self.bid_px is not None and self.ask_px is not None and self.bid_px == self.ask_px

    @property
    def crossed(self) -> bool:
        return self.bid_px is not None and self.ask_px is not None and self.bid_px > self.ask_px


EMPTY = TopOfBook(None, 0, "", None, 0, "")


@dataclass(frozen=True, slots=True)
class DisplayedBest:
    """The best displayed bid and offer with odd-lot quotations included (``None``: no quote).

    Rule 605 as amended in 2024 (Release No. 34-99679, 89 FR 26428) measures price improvement
    also against the "best available displayed price": for a buy, the lower of the national best
    offer and the best odd-lot offer disseminated; for a sell, the higher of the national best
    bid and the best odd-lot bid. Over the venues' tops that is simply the best price of any
    size, so it equals the NBBO side unless an odd lot is quoted inside it.
    """

    bid_px: int | None
    ask_px: int | None


class NbboBook:
    """Venue quotes for one symbol; ``best()`` is the highest bid and lowest offer across venues.

    Sizes at the best price are summed across venues; the venue named is the first (by name) at
    that price, so the result does not depend on arrival order. A venue's side smaller than
    ``round_lot`` shares is an odd-lot quotation: outside the NBBO (Rule 600(b), as the 2024
    amendments apply it; ``config/rules.py``).
    """

    __slots__ = ("quotes", "round_lot")

    def __init__(self, round_lot: int = 1) -> None:
        self.quotes: dict[str, tuple[int | None, int, int | None, int]] = {}
        self.round_lot = max(1, round_lot)

    def update(
        self, venue: str, bid_px: int | None, bid_qty: int, ask_px: int | None, ask_qty: int
    ) -> None:
        self.quotes[venue] = (bid_px, bid_qty, ask_px, ask_qty)

    def best(self) -> TopOfBook:
        bid_px: int | None = None
        ask_px: int | None = None
        bid_qty = ask_qty = 0
        bid_venue = ask_venue = ""
        for venue in sorted(self.quotes):
            b, bq, a, aq = self.quotes[venue]
            if b is not None and bq >= self.round_lot:
                if bid_px is None or b > bid_px:
                    bid_px, bid_qty, bid_venue = b, bq, venue
                elif b == bid_px:
                    bid_qty += bq
            if a is not None and aq >= self.round_lot:
                if ask_px is None or a < ask_px:
                    ask_px, ask_qty, ask_venue = a, aq, venue
                elif a == ask_px:
                    ask_qty += aq
        return TopOfBook(bid_px, bid_qty, bid_venue, ask_px, ask_qty, ask_venue)

    def best_displayed(self) -> DisplayedBest:
        """The best bid and offer of any displayed size, odd lots included (``DisplayedBest``).

        Never worse than ``best()``: a round-lot quotation counts here too.
        """
        bids = [b for b, bq, _, _ in self.quotes.values() if b is not None and bq > 0]
        asks = [a for _, _, a, aq in self.quotes.values() if a is not None and aq > 0]
        return DisplayedBest(max(bids, default=None), min(asks, default=None))
