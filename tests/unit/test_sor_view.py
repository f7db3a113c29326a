"""Spec tests for the SOR's book view: depth and indications net of its own unpublished fills."""

from __future__ import annotations

from protocol.common import Side
from services.sor.view import UNCONFIRMED_TTL_NS, BookView, VenueInfo

ASKS = [(10_000_000, 500), (10_010_000, 500)]


def view() -> BookView:
    book = BookView(
        [VenueInfo("lit-a", "lit", 3_000, 100_000), VenueInfo("dark-a", "dark", 1_000, 50_000)]
    )
    book.on_levels("lit-a", "ACME", 5, [(9_990_000, 300)], ASKS)
    return book


def asks(book: BookView, venue: str = "lit-a") -> list[tuple[int, int]]:
    return [(lvl.price, lvl.qty) for lvl in book.levels("ACME", Side.BUY, [venue])]


def test_levels_carry_venue_kind_fee_and_latency() -> None:
    (first, _) = view().levels("ACME", Side.BUY, ["lit-a"])

    assert (first.venue, first.kind, first.fee_per_share, first.latency_ns) == (
        "lit-a",
        "lit",
        3_000,
        100_000,
    )


def test_own_fill_subtracted_until_depth_after_its_trade() -> None:
    book = view()
    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 200, 0)
    book.on_trade("lit-a", "x-1", 6)

    book.on_levels("lit-a", "ACME", 6, [], ASKS)  # published before the trade (same seq): stale
    stale = asks(book)
    book.on_levels("lit-a", "ACME", 7, [], [(10_000_000, 300), (10_010_000, 500)])

    assert stale == [(10_000_000, 300), (10_010_000, 500)]
    assert asks(book) == [(10_000_000, 300), (10_010_000, 500)]


def test_own_fill_whose_trade_is_already_in_the_depth_is_not_subtracted() -> None:
    book = view()
    book.on_trade("lit-a", "x-1", 6)
    book.on_levels("lit-a", "ACME", 7, [], [(10_000_000, 300), (10_010_000, 500)])

    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 200, 0)

    assert asks(book) == [(10_000_000, 300), (10_010_000, 500)]


def test_own_fill_taking_a_whole_level_hides_it() -> None:
    book = view()

    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 500, 0)

    assert asks(book) == [(10_010_000, 500)]


def test_own_fill_expires_after_ttl() -> None:
    book = view()
    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 500, 0)

    book.expire(UNCONFIRMED_TTL_NS + 1)

    assert asks(book) == ASKS


def test_exhausted_ioc_hides_levels_within_its_limit_until_next_update() -> None:
    book = view()

    book.on_exhausted("lit-a", "ACME", Side.BUY, 10_000_000)
    hidden = asks(book)
    book.on_levels("lit-a", "ACME", 9, [], ASKS)

    assert hidden == [(10_010_000, 500)]
    assert asks(book) == ASKS


def test_quote_used_only_until_the_first_depth() -> None:
    book = BookView([VenueInfo("lit-b", "lit", 0, 0)])
    book.on_top("lit-b", "ACME", 1, (9_990_000, 100), (10_000_000, 100))
    from_quote = asks(book, "lit-b")
    book.on_levels("lit-b", "ACME", 2, [], ASKS)
    book.on_top("lit-b", "ACME", 3, (9_990_000, 100), (10_020_000, 100))

    assert from_quote == [(10_000_000, 100)]
    assert asks(book, "lit-b") == ASKS
    assert not book.has_levels("lit-a", "ACME") and book.has_levels("lit-b", "ACME")


def test_best_is_best_ask_for_buys_best_bid_for_sells() -> None:
    book = view()

    assert book.best("ACME", Side.BUY, ["lit-a"]) == 10_000_000
    assert book.best("ACME", Side.SELL, ["lit-a"]) == 9_990_000
    assert book.best("ACME", Side.BUY, ["dark-a"]) is None


def test_unconfirmed_names_a_venue_whose_shown_level_nets_out_an_own_fill() -> None:
    book = view()
    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 500, 0)

    assert book.unconfirmed("ACME", Side.BUY, ["lit-a", "dark-a"]) == ["lit-a"]
    assert book.unconfirmed("ACME", Side.SELL, ["lit-a"]) == []  # a buy takes asks only
    assert book.unconfirmed("OTHER", Side.BUY, ["lit-a"]) == []


def test_unconfirmed_clears_once_a_depth_after_the_fills_trade_arrives() -> None:
    book = view()
    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 10_000_000, 500, 0)
    book.on_trade("lit-a", "x-1", 6)

    book.on_levels("lit-a", "ACME", 7, [], [(10_010_000, 500), (10_020_000, 700)])

    assert book.unconfirmed("ACME", Side.BUY, ["lit-a"]) == []
    assert asks(book) == [(10_010_000, 500), (10_020_000, 700)]  # the level it did not show


def test_unconfirmed_ignores_fills_at_prices_not_shown_and_venues_without_depth() -> None:
    book = view()
    book.on_own_fill("lit-a", "ACME", Side.BUY, "x-1", 9_995_000, 100, 0)  # a midpoint cross
    book.on_own_fill("dark-a", "ACME", Side.BUY, "x-2", 9_995_000, 100, 0)  # no indications

    assert book.unconfirmed("ACME", Side.BUY, ["lit-a", "dark-a"]) == []
