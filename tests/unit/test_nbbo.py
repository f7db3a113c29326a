"""Spec tests for the NBBO core: best prices across venues, sizes at the best, flags, tie-breaks."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from services.sip.nbbo import EMPTY, NbboBook, TopOfBook

P100 = 100_000_000
CENT = 10_000


def test_best_empty_book_returns_empty() -> None:
    assert NbboBook().best() == EMPTY


def test_best_single_venue_returns_its_quote() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 200, P100 + CENT, 300)

    assert book.best() == TopOfBook(P100, 200, "lit-a", P100 + CENT, 300, "lit-a")


def test_best_three_venues_takes_highest_bid_and_lowest_ask() -> None:
    book = NbboBook()
    book.update("lit-a", P100 - CENT, 100, P100 + 3 * CENT, 100)
    book.update("lit-b", P100, 200, P100 + 2 * CENT, 400)
    book.update("lit-c", P100 - 2 * CENT, 300, P100 + CENT, 500)

    assert book.best() == TopOfBook(P100, 200, "lit-b", P100 + CENT, 500, "lit-c")


def test_best_same_price_on_several_venues_sums_size() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, P100 + CENT, 300)
    book.update("lit-b", P100, 250, P100 + 2 * CENT, 400)
    book.update("lit-c", P100 - CENT, 900, P100 + CENT, 50)

    best = book.best()

    assert (best.bid_px, best.bid_qty, best.bid_venue) == (P100, 350, "lit-a")
    assert (best.ask_px, best.ask_qty, best.ask_venue) == (P100 + CENT, 350, "lit-a")


def test_best_worse_venue_size_not_added() -> None:
    book = NbboBook()
    book.update("lit-a", P100 - CENT, 1_000, None, 0)
    book.update("lit-b", P100, 100, None, 0)

    assert (book.best().bid_px, book.best().bid_qty) == (P100, 100)


def test_best_later_higher_bid_resets_size_and_venue() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, None, 0)
    book.update("lit-b", P100, 100, None, 0)
    book.update("lit-c", P100 + CENT, 70, None, 0)

    best = book.best()

    assert (best.bid_px, best.bid_qty, best.bid_venue) == (P100 + CENT, 70, "lit-c")


def test_best_venue_bid_only_gives_one_sided_nbbo() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, None, 0)

    assert book.best() == TopOfBook(P100, 100, "lit-a", None, 0, "")


def test_best_venue_ask_only_gives_one_sided_nbbo() -> None:
    book = NbboBook()
    book.update("lit-a", None, 0, P100, 100)

    assert book.best() == TopOfBook(None, 0, "", P100, 100, "lit-a")


def test_best_one_sided_venues_combine_into_two_sided() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, None, 0)
    book.update("lit-b", None, 0, P100 + CENT, 200)

    assert book.best() == TopOfBook(P100, 100, "lit-a", P100 + CENT, 200, "lit-b")


def test_best_zero_size_quote_ignored() -> None:
    book = NbboBook()
    book.update("lit-a", P100 + CENT, 0, P100 + 2 * CENT, 0)
    book.update("lit-b", P100, 100, P100 + 3 * CENT, 100)

    assert book.best() == TopOfBook(P100, 100, "lit-b", P100 + 3 * CENT, 100, "lit-b")


def test_update_same_venue_replaces_previous_quote() -> None:
    book = NbboBook()
    book.update("lit-a", P100 + CENT, 100, P100 + 2 * CENT, 100)
    book.update("lit-a", P100, 40, None, 0)

    assert book.best() == TopOfBook(P100, 40, "lit-a", None, 0, "")


def test_best_normal_market_is_neither_locked_nor_crossed() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, P100 + CENT, 100)

    assert not book.best().locked
    assert not book.best().crossed


def test_best_bid_equals_other_venue_ask_is_locked() -> None:
    book = NbboBook()
    book.update("lit-a", P100 + CENT, 100, P100 + 2 * CENT, 100)
    book.update("lit-b", P100 - CENT, 100, P100 + CENT, 100)

    best = book.best()

    assert best.locked
    assert not best.crossed


def test_best_bid_above_other_venue_ask_is_crossed() -> None:
    book = NbboBook()
    book.update("lit-a", P100 + 2 * CENT, 100, P100 + 3 * CENT, 100)
    book.update("lit-b", P100 - CENT, 100, P100 + CENT, 100)

    best = book.best()

    assert best.crossed
    assert not best.locked


def test_best_one_sided_is_neither_locked_nor_crossed() -> None:
    book = NbboBook()
    book.update("lit-a", P100, 100, None, 0)

    assert not book.best().locked
    assert not book.best().crossed
    assert not EMPTY.locked
    assert not EMPTY.crossed


def test_best_any_update_order_names_first_venue_by_name() -> None:
    quotes = [
        ("lit-c", P100, 100, P100 + CENT, 100),
        ("lit-a", P100, 200, P100 + CENT, 200),
        ("lit-b", P100, 300, P100 + 2 * CENT, 300),
    ]
    results = set()
    for order in itertools.permutations(quotes):
        book = NbboBook()
        for quote in order:
            book.update(*quote)
        results.add(book.best())

    assert results == {TopOfBook(P100, 600, "lit-a", P100 + CENT, 300, "lit-a")}


# --- property ------------------------------------------------------------------------------

VENUES = ("lit-a", "lit-b", "lit-c", "lit-d")
PRICES = st.none() | st.integers(-3, 3).map(lambda cents: P100 + cents * CENT)
updates = st.lists(
    st.tuples(st.sampled_from(VENUES), PRICES, st.integers(0, 500), PRICES, st.integers(0, 500)),
    min_size=5,
    max_size=30,
)


def naive_best(latest: dict[str, tuple[int | None, int, int | None, int]]) -> TopOfBook:
    bids = [(b, bq, v) for v, (b, bq, _, _) in latest.items() if b is not None and bq > 0]
    asks = [(a, aq, v) for v, (_, _, a, aq) in latest.items() if a is not None and aq > 0]
    bid_px = max((b for b, _, _ in bids), default=None)
    ask_px = min((a for a, _, _ in asks), default=None)
    at_bid = [(q, v) for b, q, v in bids if b == bid_px]
    at_ask = [(q, v) for a, q, v in asks if a == ask_px]
    return TopOfBook(
        bid_px,
        sum(q for q, _ in at_bid),
        min((v for _, v in at_bid), default=""),
        ask_px,
        sum(q for q, _ in at_ask),
        min((v for _, v in at_ask), default=""),
    )


@settings(max_examples=300, deadline=None)
@given(updates)
def test_best_any_update_sequence_matches_naive_max_bid_min_ask(
    sequence: list[tuple[str, int | None, int, int | None, int]],
) -> None:
    book = NbboBook()
    latest: dict[str, tuple[int | None, int, int | None, int]] = {}
    for venue, bid_px, bid_qty, ask_px, ask_qty in sequence:
        book.update(venue, bid_px, bid_qty, ask_px, ask_qty)
        latest[venue] = (bid_px, bid_qty, ask_px, ask_qty)

        best = book.best()

        expected = naive_best(latest)
        assert best == expected
        both = best.bid_px is not None and best.ask_px is not None
        assert best.locked == (both and best.bid_px == best.ask_px)
        assert best.crossed == (both and best.bid_px > best.ask_px)


def test_best_with_round_lot_leaves_odd_lot_quotes_out() -> None:
    # 2024 rules, a $50 stock: round lot 100. lit-a's 60-share bid at $50.01 is an odd lot.
    book = NbboBook(round_lot=100)
    book.update("lit-a", 50_010_000, 60, 50_030_000, 100)
    book.update("lit-b", 50_000_000, 300, 50_040_000, 99)
    top = book.best()
    assert (top.bid_px, top.bid_venue) == (50_000_000, "lit-b")
    assert (top.ask_px, top.ask_qty, top.ask_venue) == (50_030_000, 100, "lit-a")
