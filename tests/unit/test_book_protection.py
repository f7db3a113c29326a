"""Order protection in the lit book (Reg NMS Rule 611(a)): a venue never executes through the
other venues' protected quotes it knows at execution, whatever the order and the book; and
never displays an order that locks or crosses them (Rule 610(d))."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import OrderType, Side, TimeInForce
from protocol.money import CENT, MICROS_PER_DOLLAR
from services.venue.book import OrderBook

P100 = 100 * MICROS_PER_DOLLAR


def seeded_book() -> OrderBook:
    """Asks at $100.01, $100.02, $100.03 and bids at $99.99, $99.98, 100 shares each."""
    book = OrderBook("XYZ", collar_bps=500)
    for cents in (1, 2, 3):
        book.submit(f"a{cents}", "mm", Side.SELL, 100, OrderType.LIMIT, P100 + cents * CENT,
                    TimeInForce.DAY, 0)  # fmt: skip
        book.submit(f"b{cents}", "mm", Side.BUY, 100, OrderType.LIMIT, P100 - cents * CENT,
                    TimeInForce.DAY, 0)  # fmt: skip
    return book


def test_submit_buy_sweep_stops_at_the_protected_ask_and_cancels_the_rest() -> None:
    book = seeded_book()
    away_ask = P100 + 2 * CENT
    result = book.submit("t", "retail", Side.BUY, 300, OrderType.LIMIT, P100 + 3 * CENT,
                         TimeInForce.DAY, 1, protect=(None, away_ask))  # fmt: skip
    assert [(f.price, f.qty) for f in result.fills] == [(P100 + CENT, 100), (away_ask, 100)]
    assert result.canceled_qty == 100
    assert result.resting_qty == 0  # a buy at $100.03 may not rest over a $100.02 offer
    assert result.protected_price == away_ask
    assert book.best_ask() == (P100 + 3 * CENT, 100)


def test_submit_market_sell_never_below_the_protected_bid() -> None:
    book = seeded_book()
    away_bid = P100 - CENT
    result = book.submit("t", "retail", Side.SELL, 250, OrderType.MARKET, None,
                         TimeInForce.IOC, 1, protect=(away_bid, None))  # fmt: skip
    assert [(f.price, f.qty) for f in result.fills] == [(away_bid, 100)]
    assert result.canceled_qty == 150
    assert result.protected_price == away_bid


def test_submit_limit_within_the_protected_quote_rests_as_before() -> None:
    book = seeded_book()
    result = book.submit("t", "retail", Side.BUY, 300, OrderType.LIMIT, P100 + CENT,
                         TimeInForce.DAY, 1, protect=(None, P100 + 2 * CENT))  # fmt: skip
    assert result.filled_qty == 100 and result.resting_qty == 200
    assert result.protected_price is None


def test_submit_post_only_crossing_the_protected_quote_rejected_naming_limit_price() -> None:
    book = OrderBook("XYZ")
    result = book.submit("t", "mm", Side.BUY, 100, OrderType.LIMIT, P100 + CENT,
                         TimeInForce.DAY, 1, post_only=True, protect=(None, P100))  # fmt: skip
    assert result.status == "rejected"
    assert result.reject_reason is not None
    assert result.reject_reason.startswith("limit_price:")
    assert len(book) == 0


def test_replace_up_through_the_protected_ask_fills_to_it_and_cancels() -> None:
    book = seeded_book()
    book.submit("t", "retail", Side.BUY, 200, OrderType.LIMIT, P100, TimeInForce.DAY, 1)
    result = book.replace("t", 200, P100 + 3 * CENT, 2, protect=(None, P100 + CENT))
    assert [(f.price, f.qty) for f in result.fills] == [(P100 + CENT, 100)]
    assert result.canceled_qty == 100 and book.get("t") is None


def random_book(
    asks: list[tuple[int, int]],
    bids: list[tuple[int, int]],
    away_bid: int | None,
    away_ask: int | None,
) -> tuple[OrderBook, tuple[int | None, int | None]]:
    """A valid book (asks above $100, bids at or below) and the protected quotes, in cents."""
    book = OrderBook("XYZ", collar_bps=500)
    for i, (cents, size) in enumerate(asks):
        book.submit(f"a{i}", "mm", Side.SELL, size, OrderType.LIMIT, P100 + (abs(cents) + 1) * CENT,
                    TimeInForce.DAY, i)  # fmt: skip
    for i, (cents, size) in enumerate(bids):
        book.submit(f"b{i}", "mm", Side.BUY, size, OrderType.LIMIT, P100 - abs(cents) * CENT,
                    TimeInForce.DAY, i)  # fmt: skip
    protect = (
        None if away_bid is None else P100 + away_bid * CENT,
        None if away_ask is None else P100 + away_ask * CENT,
    )
    return book, protect


levels = st.lists(st.tuples(st.integers(-5, 5), st.integers(1, 300)), max_size=12)
aways = st.none() | st.integers(-6, 6)


@given(
    asks=levels,
    bids=levels,
    away_bid=aways,
    away_ask=aways,
    side=st.sampled_from(Side),
    order_type=st.sampled_from([OrderType.LIMIT, OrderType.MARKET]),
    tif=st.sampled_from(TimeInForce),
    limit_cents=st.integers(-6, 6),
    qty=st.integers(1, 1500),
)
@settings(max_examples=400, deadline=None)
def test_submit_never_executes_through_a_protected_quote(
    asks: list[tuple[int, int]],
    bids: list[tuple[int, int]],
    away_bid: int | None,
    away_ask: int | None,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    limit_cents: int,
    qty: int,
) -> None:
    book, protect = random_book(asks, bids, away_bid, away_ask)
    limit = P100 + limit_cents * CENT if order_type is OrderType.LIMIT else None
    result = book.submit("t", "retail", side, qty, order_type, limit, tif, 99, protect=protect)
    if result.status == "rejected":
        return
    away = protect[1] if side is Side.BUY else protect[0]
    for fill in result.fills:
        if away is not None:
            assert fill.price <= away if side is Side.BUY else fill.price >= away
        if limit is not None:
            assert fill.price <= limit if side is Side.BUY else fill.price >= limit
    assert result.filled_qty + result.resting_qty + result.canceled_qty == qty
    resting = book.get("t")
    if resting is not None and away is not None:  # what rests never locks or crosses it
        assert resting.price < away if side is Side.BUY else resting.price > away
    if result.protected_price is not None:
        assert result.protected_price == away and result.canceled_qty > 0


def test_submit_day_limit_locking_the_protected_ask_fills_what_it_can_and_cancels_the_rest() -> (
    None
):
    book = seeded_book()  # asks from $100.01; another venue offers at $100.01 too
    result = book.submit("t", "retail", Side.BUY, 300, OrderType.LIMIT, P100 + CENT,
                         TimeInForce.DAY, 1, protect=(None, P100 + CENT))  # fmt: skip
    assert [(f.price, f.qty) for f in result.fills] == [(P100 + CENT, 100)]
    assert (result.resting_qty, result.canceled_qty) == (0, 200)
    assert result.protected_price == P100 + CENT and result.locks_quote
    assert book.best_bid() == (P100 - CENT, 100)  # nothing displayed at $100.01


def test_submit_day_limit_locking_the_protected_bid_is_not_displayed() -> None:
    book = seeded_book()  # bids from $99.99; another venue bids $99.995 (a half-penny grid)
    away_bid = P100 - CENT // 2
    result = book.submit("t", "mm", Side.SELL, 100, OrderType.LIMIT, P100,
                         TimeInForce.DAY, 1, protect=(away_bid, None))  # fmt: skip
    assert result.status == "rested" and book.best_ask() == (P100, 100)  # inside: displayed
    locking = book.submit("u", "street", Side.SELL, 150, OrderType.LIMIT, P100 - CENT,
                          TimeInForce.DAY, 2, protect=(P100 - CENT, None))  # fmt: skip
    assert [(f.price, f.qty) for f in locking.fills] == [(P100 - CENT, 100)]  # trades at the bid
    assert locking.canceled_qty == 50 and locking.locks_quote and book.get("u") is None


def test_submit_ioc_at_the_protected_quote_executes_as_before() -> None:
    book = seeded_book()
    result = book.submit("t", "retail", Side.BUY, 300, OrderType.LIMIT, P100 + CENT,
                         TimeInForce.IOC, 1, protect=(None, P100 + CENT))  # fmt: skip
    assert result.filled_qty == 100 and result.canceled_qty == 200
    assert result.protected_price is None  # it never could rest: nothing was refused


def test_submit_post_only_locking_the_protected_quote_rejected_naming_the_quote() -> None:
    book = OrderBook("XYZ")
    result = book.submit("t", "mm", Side.SELL, 100, OrderType.LIMIT, P100,
                         TimeInForce.DAY, 1, post_only=True, protect=(P100, None))  # fmt: skip
    assert result.status == "rejected"
    assert result.reject_reason == f"limit_price: would lock the protected quote at {P100}"
    assert len(book) == 0


def test_replace_onto_the_protected_quote_is_not_displayed() -> None:
    book = seeded_book()
    book.submit("t", "retail", Side.BUY, 200, OrderType.LIMIT, P100 - 5 * CENT, TimeInForce.DAY, 1)
    away_ask = P100  # another venue offers $100.00, inside this one's $100.01
    result = book.replace("t", 200, away_ask, 2, protect=(None, away_ask))
    assert result.fills == [] and result.canceled_qty == 200 and result.locks_quote
    assert book.get("t") is None


@given(
    asks=levels,
    bids=levels,
    away_bid=aways,
    away_ask=aways,
    side=st.sampled_from(Side),
    start_cents=st.integers(-6, 6),
    new_cents=st.integers(-6, 6),
    post_only=st.booleans(),
    qty=st.integers(1, 600),
)
@settings(max_examples=300, deadline=None)
def test_replace_never_leaves_a_displayed_price_locking_or_crossing_the_protected_quote(
    asks: list[tuple[int, int]],
    bids: list[tuple[int, int]],
    away_bid: int | None,
    away_ask: int | None,
    side: Side,
    start_cents: int,
    new_cents: int,
    post_only: bool,
    qty: int,
) -> None:
    book, protect = random_book(asks, bids, away_bid, away_ask)
    away = protect[1] if side is Side.BUY else protect[0]
    sign = 1 if side is Side.BUY else -1

    def displayable(price: int) -> bool:
        return away is None or sign * (away - price) > 0

    first = book.submit("t", "retail", side, qty, OrderType.LIMIT, P100 + start_cents * CENT,
                        TimeInForce.DAY, 50, post_only=post_only, protect=protect)  # fmt: skip
    for result in (first, book.replace("t", qty, P100 + new_cents * CENT, 60, protect)):
        resting = book.get("t")
        if resting is not None:
            assert displayable(resting.price), (result, resting.price, away)
        if result.status != "rejected":
            assert all(sign * (away - f.price) >= 0 for f in result.fills if away is not None)
        if result.locks_quote:
            assert result.protected_price == away and result.canceled_qty > 0
