"""Spec tests for priced dark orders (seeded books) and a pool's indications of interest."""

from __future__ import annotations

import pytest

from protocol.common import Side
from services.darkpool.core import DarkBook, DarkFill

MID = 100_010_000


def seeded() -> DarkBook:
    """The mini-project's dark_a: 20,000 @ 100.01 and 15,000 @ 100.02, priced."""
    book = DarkBook("ACME")
    book.add("s2", "seed", Side.SELL, 15_000, 100_020_000, 0, pegged=False)
    book.add("s1", "seed", Side.SELL, 20_000, 100_010_000, 0, pegged=False)
    return book


def test_match_priced_buy_takes_priced_sells_best_price_first_at_their_price() -> None:
    book = seeded()
    book.add("b", "sor", Side.BUY, 30_000, 100_020_000, 0, pegged=False)

    fills = book.match("b", None)  # priced against priced: no NBBO needed

    assert [(f.sell_key, f.price, f.qty) for f in fills] == [
        ("s1", 100_010_000, 20_000),
        ("s2", 100_020_000, 10_000),
    ]
    assert fills[0].aggressor is Side.BUY
    assert book.orders["s2"].leaves == 5_000 and "b" not in book.orders


def test_match_priced_buy_never_beyond_its_limit() -> None:
    book = seeded()
    book.add("b", "sor", Side.BUY, 30_000, 100_010_000, 0, pegged=False)

    fills = book.match("b", None)

    assert [(f.price, f.qty) for f in fills] == [(100_010_000, 20_000)]
    assert book.orders["b"].leaves == 10_000


def test_match_pegged_buy_takes_priced_sell_only_at_or_below_mid() -> None:
    book = seeded()
    book.add("b", "noise", Side.BUY, 30_000, None, 0)

    assert book.match("b", MID - 1) == []
    fills = book.match("b", MID)

    assert [(f.sell_key, f.price, f.qty) for f in fills] == [("s1", MID, 20_000)]


def test_match_priced_sell_takes_pegged_buy_at_mid() -> None:
    book = DarkBook("ACME")
    book.add("b", "noise", Side.BUY, 100, None, 0)
    book.add("s", "sor", Side.SELL, 100, 100_000_000, 0, pegged=False)

    assert book.match("s", MID) == [DarkFill("b", "s", MID, 100, 0, 0, Side.SELL)]


def test_match_no_mid_pegged_contra_never_trades() -> None:
    book = DarkBook("ACME")
    book.add("b", "noise", Side.BUY, 100, None, 0)
    book.add("s", "sor", Side.SELL, 100, 100_000_000, 0, pegged=False)

    assert book.match("s", None) == []


def test_match_same_account_and_min_qty_respected() -> None:
    book = seeded()
    book.add("b1", "seed", Side.BUY, 1_000, 100_020_000, 0, pegged=False)
    book.add("b2", "sor", Side.BUY, 1_000, 100_020_000, 0, pegged=False)
    book.orders["s1"].min_qty = 5_000

    assert book.match("b1", None) == []
    assert [(f.sell_key, f.qty) for f in book.match("b2", None)] == [("s2", 1_000)]


def test_cross_pegged_orders_still_cross_at_mid_priced_ones_at_their_price() -> None:
    book = seeded()
    book.add("b", "noise", Side.BUY, 25_000, None, 0)
    book.add("s3", "other", Side.SELL, 1_000, None, 0)

    fills = book.cross(MID)

    # Time priority: s2 (100.02) is above the mid, s1 at the mid trades at its own price, then
    # the pegged s3 at the mid.
    assert [(f.sell_key, f.price, f.qty) for f in fills] == [
        ("s1", MID, 20_000),
        ("s3", MID, 1_000),
    ]


def test_indications_aggregate_priced_size_by_price_best_first() -> None:
    book = seeded()
    book.add("s3", "other", Side.SELL, 500, 100_010_000, 0, pegged=False)
    book.add("p", "noise", Side.SELL, 9_000, None, 0)  # pegged: never indicated
    book.add("b", "other", Side.BUY, 700, 99_990_000, 0, pegged=False)

    assert book.indications(Side.SELL) == [(100_010_000, 20_500), (100_020_000, 15_000)]
    assert book.indications(Side.BUY) == [(99_990_000, 700)]


def test_add_priced_without_price_raises_naming_limit_price() -> None:
    with pytest.raises(ValueError, match=r"^limit_price: required"):
        DarkBook("ACME").add("x", "a", Side.BUY, 100, None, 0, pegged=False)
