"""Spec tests for the best displayed price (odd lots included) beside the round-lot NBBO.

Amended Rule 605 (Release No. 34-99679): the "best available displayed price" is the better of
the NBBO side and the best odd-lot quotation. Every expectation below is read off the hand-built
books, not computed by the code under test.
"""

from __future__ import annotations

from services.sip.nbbo import DisplayedBest, NbboBook

P20 = 20_000_000
CENT = 10_000


def test_best_displayed_empty_book_has_no_price() -> None:
    assert NbboBook(100).best_displayed() == DisplayedBest(None, None)


def test_best_displayed_without_odd_lots_equals_the_nbbo() -> None:
    book = NbboBook(100)
    book.update("lit-a", P20, 300, P20 + 4 * CENT, 200)
    book.update("lit-b", P20 - CENT, 100, P20 + 3 * CENT, 100)

    assert book.best_displayed() == DisplayedBest(P20, P20 + 3 * CENT)
    assert (book.best().bid_px, book.best().ask_px) == (P20, P20 + 3 * CENT)


def test_best_displayed_odd_lot_inside_the_nbbo_improves_only_the_displayed_price() -> None:
    # lit-b shows 50 shares (an odd lot under a 100-share round lot) on both sides, inside lit-a
    book = NbboBook(100)
    book.update("lit-a", P20, 300, P20 + 4 * CENT, 200)
    book.update("lit-b", P20 + CENT, 50, P20 + 2 * CENT, 50)

    assert book.best_displayed() == DisplayedBest(P20 + CENT, P20 + 2 * CENT)
    assert (book.best().bid_px, book.best().ask_px) == (P20, P20 + 4 * CENT)


def test_best_displayed_odd_lot_outside_the_nbbo_changes_nothing() -> None:
    book = NbboBook(100)
    book.update("lit-a", P20, 300, P20 + 4 * CENT, 200)
    book.update("lit-b", P20 - CENT, 50, P20 + 5 * CENT, 50)

    assert book.best_displayed() == DisplayedBest(P20, P20 + 4 * CENT)


def test_best_displayed_odd_lot_alone_is_a_price_where_the_nbbo_has_none() -> None:
    book = NbboBook(100)
    book.update("lit-a", P20, 30, None, 0)

    assert book.best_displayed() == DisplayedBest(P20, None)
    assert book.best().bid_px is None


def test_best_displayed_zero_size_side_is_not_a_quotation() -> None:
    book = NbboBook(100)
    book.update("lit-a", P20, 0, P20 + CENT, 0)

    assert book.best_displayed() == DisplayedBest(None, None)


def test_best_displayed_every_size_a_round_lot_equals_the_nbbo() -> None:
    # the "2005" rule set: a round lot of 1 share, so odd-lot quotations do not exist
    book = NbboBook(1)
    book.update("lit-a", P20, 300, P20 + 4 * CENT, 200)
    book.update("lit-b", P20 + CENT, 50, P20 + 2 * CENT, 50)

    assert book.best_displayed() == DisplayedBest(P20 + CENT, P20 + 2 * CENT)
    assert (book.best().bid_px, book.best().ask_px) == (P20 + CENT, P20 + 2 * CENT)
