"""Specification of the lit matching core, one behaviour per test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocol.common import OrderType, Side, TimeInForce
from protocol.money import CENT, MICROS_PER_DOLLAR
from services.venue.book import OrderBook, SubmitResult

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
DAY, IOC, FOK = TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK
P100 = 100 * MICROS_PER_DOLLAR


def px(cents_from_100: int) -> int:
    """$100.00 plus a number of cents."""
    return P100 + cents_from_100 * CENT


def limit(
    book: OrderBook,
    order_id: str,
    side: Side,
    qty: int,
    price: int | None,
    tif: TimeInForce = DAY,
    *,
    account: str | None = None,
    post_only: bool = False,
) -> SubmitResult:
    account = account or f"acct-{order_id}"
    return book.submit(order_id, account, side, qty, LIMIT, price, tif, 1, post_only=post_only)


def market(
    book: OrderBook,
    order_id: str,
    side: Side,
    qty: int,
    tif: TimeInForce = IOC,
    account: str = "taker",
) -> SubmitResult:
    return book.submit(order_id, account, side, qty, MARKET, None, tif, 1)


def maker_ids(result: SubmitResult) -> list[str]:
    return [fill.maker_order_id for fill in result.fills]


# ---------------------------------------------------------------------- resting and priority
def test_submit_limit_on_empty_book_rests() -> None:
    book = OrderBook("XYZ")

    result = limit(book, "b1", BUY, 100, px(0))

    assert (result.status, result.resting_qty, result.fills) == ("rested", 100, [])
    assert book.best_bid() == (px(0), 100)
    assert book.best_ask() is None
    assert len(book) == 1


def test_submit_crossing_limit_fills_at_resting_price() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    result = limit(book, "b1", BUY, 100, px(5))

    assert result.status == "filled"
    assert [(f.price, f.qty) for f in result.fills] == [(px(0), 100)]


def test_submit_same_price_fills_earlier_order_first() -> None:
    book = OrderBook("XYZ")
    for order_id in ("s1", "s2", "s3"):
        limit(book, order_id, SELL, 100, px(0))

    result = limit(book, "b1", BUY, 150, px(0))

    assert maker_ids(result) == ["s1", "s2"]
    assert book.get("s2").qty == 50
    assert [o.order_id for o in book.level_orders(SELL, px(0))] == ["s2", "s3"]


def test_submit_better_price_fills_before_earlier_worse_price() -> None:
    book = OrderBook("XYZ")
    limit(book, "s-worse", SELL, 100, px(2))
    limit(book, "s-better", SELL, 100, px(1))

    result = limit(book, "b1", BUY, 100, px(2))

    assert maker_ids(result) == ["s-better"]


def test_submit_limit_never_trades_through_its_limit() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))
    limit(book, "s2", SELL, 100, px(3))

    result = limit(book, "b1", BUY, 300, px(2))

    assert maker_ids(result) == ["s1"]
    assert (result.status, result.resting_qty) == ("partially_filled_rested", 200)
    assert book.best_bid() == (px(2), 200)
    assert book.best_ask() == (px(3), 100)


def test_submit_sweep_across_levels_removes_emptied_levels() -> None:
    book = OrderBook("XYZ")
    for cents in (0, 1, 2):
        limit(book, f"s{cents}", SELL, 100, px(cents))

    result = limit(book, "b1", BUY, 250, px(2))

    assert [f.price for f in result.fills] == [px(0), px(1), px(2)]
    assert book.depth(SELL) == [(px(2), 50)]


def test_submit_fill_records_leaves_and_aggressor() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0), account="maker")
    limit(book, "s2", SELL, 100, px(0), account="maker")

    result = limit(book, "b1", BUY, 150, px(0), account="taker")

    first, second = result.fills
    assert (first.maker_order_id, first.maker_account, first.taker_order_id) == (
        "s1",
        "maker",
        "b1",
    )
    assert (first.qty, first.maker_leaves, first.taker_leaves) == (100, 0, 50)
    assert (second.qty, second.maker_leaves, second.taker_leaves) == (50, 50, 0)
    assert {first.aggressor, second.aggressor} == {BUY}
    assert first.taker_account == "taker"


def test_submit_fully_filled_maker_is_no_longer_live() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    limit(book, "b1", BUY, 100, px(0))

    assert book.get("s1") is None
    assert len(book) == 0


def test_submit_trade_updates_last_trade_price() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(1))

    limit(book, "b1", BUY, 100, px(1))

    assert book.last_trade_price == px(1)


def test_get_live_order_exposes_priority_fields() -> None:
    book = OrderBook("XYZ")
    book.submit("b1", "acct", BUY, 10, LIMIT, px(0), DAY, 111)
    book.submit("b2", "acct", BUY, 20, LIMIT, px(0), DAY, 222)

    first, second = book.get("b1"), book.get("b2")

    assert (first.account, first.side, first.price, first.qty, first.ts_ns) == (
        "acct",
        BUY,
        px(0),
        10,
        111,
    )
    assert first.arrival_seq < second.arrival_seq


# ---------------------------------------------------------------------- time in force
def test_submit_ioc_partial_fill_cancels_remainder() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    result = limit(book, "b1", BUY, 250, px(0), IOC)

    assert (result.status, result.filled_qty, result.canceled_qty) == ("canceled", 100, 150)
    assert book.best_bid() is None


def test_submit_ioc_not_crossing_cancels_everything() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(1))

    result = limit(book, "b1", BUY, 100, px(0), IOC)

    assert (result.status, result.fills, result.canceled_qty) == ("canceled", [], 100)
    assert len(book) == 1


def test_submit_fok_short_of_liquidity_cancels_without_touching_book() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))
    limit(book, "s2", SELL, 100, px(2))
    version = book.bbo_version

    result = limit(book, "b1", BUY, 150, px(1), FOK)

    assert (result.status, result.fills, result.canceled_qty) == ("canceled", [], 150)
    assert book.best_ask() == (px(0), 100)
    assert book.bbo_version == version


def test_submit_fok_with_enough_liquidity_fills_entirely() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))
    limit(book, "s2", SELL, 100, px(1))

    result = limit(book, "b1", BUY, 150, px(1), FOK)

    assert (result.status, result.filled_qty, result.canceled_qty) == ("filled", 150, 0)


def test_submit_fok_does_not_count_own_account_liquidity() -> None:
    book = OrderBook("XYZ")
    limit(book, "s-own", SELL, 100, px(0), account="same")
    limit(book, "s-other", SELL, 50, px(0), account="other")

    result = limit(book, "b1", BUY, 100, px(0), FOK, account="same")

    assert (result.status, result.canceled_qty, result.stp_canceled) == ("canceled", 100, [])
    assert len(book) == 2


# ---------------------------------------------------------------------- market orders and collar
def test_submit_market_buy_stops_at_collar_and_cancels_remainder() -> None:
    book = OrderBook("XYZ", collar_bps=500)  # $100.00 reference -> no fill above $105.00
    limit(book, "s1", SELL, 100, P100)
    limit(book, "s2", SELL, 100, 105 * MICROS_PER_DOLLAR)
    limit(book, "s3", SELL, 100, 105 * MICROS_PER_DOLLAR + CENT)

    result = market(book, "m1", BUY, 300)

    assert maker_ids(result) == ["s1", "s2"]
    assert (result.status, result.canceled_qty) == ("canceled", 100)
    assert book.best_ask() == (105 * MICROS_PER_DOLLAR + CENT, 100)


def test_submit_market_sell_stops_at_collar_below_reference() -> None:
    book = OrderBook("XYZ", collar_bps=100)  # $100.00 reference -> no fill below $99.00
    limit(book, "b1", BUY, 100, P100)
    limit(book, "b2", BUY, 100, 99 * MICROS_PER_DOLLAR)
    limit(book, "b3", BUY, 100, 99 * MICROS_PER_DOLLAR - CENT)

    result = market(book, "m1", SELL, 300)

    assert maker_ids(result) == ["b1", "b2"]
    assert result.canceled_qty == 100


def test_submit_market_against_empty_side_cancels_whole_qty() -> None:
    book = OrderBook("XYZ", reference_price=P100)
    limit(book, "b1", BUY, 100, px(0))

    result = market(book, "m1", BUY, 100)

    assert (result.status, result.fills, result.canceled_qty) == ("canceled", [], 100)


def test_submit_market_day_never_rests() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    result = market(book, "m1", BUY, 150, DAY)

    assert (result.status, result.resting_qty, result.canceled_qty) == ("canceled", 0, 50)
    assert book.best_bid() is None


def test_submit_market_fok_short_of_liquidity_cancels_all() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    result = market(book, "m1", BUY, 150, FOK)

    assert (result.fills, result.canceled_qty) == ([], 150)
    assert book.best_ask() == (px(0), 100)


# ---------------------------------------------------------------------- post-only
def test_submit_post_only_that_would_take_is_rejected() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))

    result = limit(book, "b1", BUY, 100, px(0), post_only=True)

    assert (result.status, result.reject_reason) == (
        "rejected",
        "post_only: order would take liquidity",
    )
    assert book.best_ask() == (px(0), 100)
    assert book.get("b1") is None


def test_submit_post_only_that_does_not_cross_rests() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(1))

    result = limit(book, "b1", BUY, 100, px(0), post_only=True)

    assert result.status == "rested"
    assert book.get("b1").post_only


# ---------------------------------------------------------------------- rejects
@pytest.mark.parametrize(
    ("order_type", "price", "qty", "reason"),
    [
        (LIMIT, None, 100, "limit_price: required for limit orders"),
        (LIMIT, 0, 100, "limit_price: must be > 0"),
        (LIMIT, -CENT, 100, "limit_price: must be > 0"),
        (LIMIT, 100.0, 100, "limit_price: must be an int of micro-dollars, got float"),
        (
            LIMIT,
            P100 + 5_000,
            100,
            "limit_price: 100005000 is not on the 10000 micro-dollar tick grid",
        ),
        (LIMIT, 500_050, 100, "limit_price: 500050 is not on the 100 micro-dollar tick grid"),
        (MARKET, P100, 100, "limit_price: must be None for market orders"),
        (LIMIT, P100, 0, "qty: must be a positive int of shares"),
        (LIMIT, P100, -5, "qty: must be a positive int of shares"),
        (LIMIT, P100, 1.5, "qty: must be a positive int of shares"),
        (
            OrderType.MIDPOINT,
            None,
            100,
            "order_type: midpoint orders are not supported on a lit book",
        ),
    ],
)
def test_submit_invalid_field_rejected_naming_field(
    order_type: OrderType, price: object, qty: object, reason: str
) -> None:
    book = OrderBook("XYZ")

    result = book.submit("o1", "acct", BUY, qty, order_type, price, DAY, 1)  # type: ignore[arg-type]

    assert (result.status, result.reject_reason) == ("rejected", reason)
    assert len(book) == 0


def test_submit_sub_dollar_price_on_hundredth_cent_grid_rests() -> None:
    book = OrderBook("XYZ")

    result = limit(book, "b1", BUY, 100, 501_200)  # $0.5012

    assert result.status == "rested"


def test_submit_odd_lot_rests() -> None:
    book = OrderBook("XYZ")

    result = limit(book, "b1", BUY, 1, px(0))

    assert (result.status, book.best_bid()) == ("rested", (px(0), 1))


def test_submit_market_post_only_rejected() -> None:
    book = OrderBook("XYZ")

    result = book.submit("m1", "acct", BUY, 100, MARKET, None, IOC, 1, post_only=True)

    assert result.reject_reason == "post_only: market orders always take liquidity"


def test_submit_duplicate_live_order_id_rejected() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))

    result = limit(book, "b1", BUY, 100, px(-1))

    assert (result.status, result.reject_reason) == ("rejected", "order_id: duplicate")
    assert book.depth(BUY) == [(px(0), 100)]


def test_submit_reusing_finished_order_id_is_accepted() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    book.cancel("b1")

    result = limit(book, "b1", BUY, 100, px(0))

    assert result.status == "rested"


def test_submit_rejected_leaves_bbo_version_unchanged() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    version = book.bbo_version

    limit(book, "b2", BUY, 0, px(1))

    assert book.bbo_version == version


# ---------------------------------------------------------------------- self-trade prevention
def test_submit_self_trade_cancels_resting_and_keeps_matching() -> None:
    book = OrderBook("XYZ")
    limit(book, "s-own", SELL, 100, px(0), account="firm")
    limit(book, "s-other", SELL, 100, px(0), account="other")

    result = limit(book, "b1", BUY, 100, px(0), account="firm")

    assert result.stp_canceled == [("s-own", 100)]
    assert maker_ids(result) == ["s-other"]
    assert result.status == "filled"
    assert book.get("s-own") is None


def test_submit_self_trade_only_liquidity_rests_incoming() -> None:
    book = OrderBook("XYZ")
    limit(book, "s-own", SELL, 100, px(0), account="firm")

    result = limit(book, "b1", BUY, 40, px(0), account="firm")

    assert (result.status, result.fills, result.resting_qty) == ("rested", [], 40)
    assert result.stp_canceled == [("s-own", 100)]
    assert (book.best_bid(), book.best_ask()) == ((px(0), 40), None)


# ---------------------------------------------------------------------- cancel
def test_cancel_partially_filled_order_returns_leaves() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(0))
    limit(book, "b1", BUY, 30, px(0))

    leaves = book.cancel("s1")

    assert leaves == 70
    assert (book.best_ask(), len(book)) == (None, 0)


def test_cancel_unknown_order_returns_none() -> None:
    book = OrderBook("XYZ")

    assert book.cancel("nope") is None


def test_cancel_twice_returns_none_the_second_time() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    book.cancel("b1")

    assert book.cancel("b1") is None


def test_cancel_middle_of_queue_keeps_others_in_order() -> None:
    book = OrderBook("XYZ")
    for order_id in ("b1", "b2", "b3"):
        limit(book, order_id, BUY, 100, px(0))

    book.cancel("b2")

    assert [o.order_id for o in book.level_orders(BUY, px(0))] == ["b1", "b3"]
    assert book.best_bid() == (px(0), 200)


def test_cancel_last_order_of_inner_level_removes_the_level() -> None:
    book = OrderBook("XYZ")
    for cents in (0, -1, -2):
        limit(book, f"b{cents}", BUY, 100, px(cents))

    book.cancel("b-1")

    assert book.depth(BUY) == [(px(0), 100), (px(-2), 100)]


# ---------------------------------------------------------------------- replace
def test_replace_size_down_same_price_keeps_priority() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    limit(book, "b2", BUY, 100, px(0))

    result = book.replace("b1", 60, None, 2)

    assert (result.status, result.resting_qty, result.fills) == ("rested", 60, [])
    assert [o.order_id for o in book.level_orders(BUY, px(0))] == ["b1", "b2"]
    assert book.best_bid() == (px(0), 160)


def test_replace_size_up_loses_priority() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    limit(book, "b2", BUY, 100, px(0))

    book.replace("b1", 101, None, 2)

    assert [o.order_id for o in book.level_orders(BUY, px(0))] == ["b2", "b1"]
    assert book.get("b1").ts_ns == 2


def test_replace_price_change_moves_order_to_new_level() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    limit(book, "b2", BUY, 100, px(-1))

    book.replace("b1", 100, px(-1), 2)

    assert book.depth(BUY) == [(px(-1), 200)]
    assert [o.order_id for o in book.level_orders(BUY, px(-1))] == ["b2", "b1"]


def test_replace_to_crossing_price_trades_as_new_aggressor() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 60, px(1))
    limit(book, "b1", BUY, 100, px(0))

    result = book.replace("b1", 100, px(1), 2)

    assert (result.status, result.filled_qty, result.resting_qty) == (
        "partially_filled_rested",
        60,
        40,
    )
    assert result.fills[0].taker_order_id == "b1"
    assert book.best_bid() == (px(1), 40)


def test_replace_unknown_order_rejected() -> None:
    book = OrderBook("XYZ")

    result = book.replace("nope", 10, None, 1)

    assert (result.status, result.reject_reason) == (
        "rejected",
        "order_id: unknown or no longer live",
    )


def test_replace_invalid_price_rejected_and_original_untouched() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))

    result = book.replace("b1", 100, P100 + 1, 2)

    assert result.reject_reason.startswith("limit_price: ")
    assert book.depth(BUY) == [(px(0), 100)]


def test_replace_post_only_to_crossing_price_rejected_and_original_untouched() -> None:
    book = OrderBook("XYZ")
    limit(book, "s1", SELL, 100, px(1))
    limit(book, "b1", BUY, 100, px(0), post_only=True)

    result = book.replace("b1", 100, px(1), 2)

    assert result.reject_reason == "post_only: order would take liquidity"
    assert book.best_bid() == (px(0), 100)


# ---------------------------------------------------------------------- market data
def test_depth_lists_best_first_up_to_levels() -> None:
    book = OrderBook("XYZ")
    for cents in (3, 1, 2, 4):
        limit(book, f"s{cents}", SELL, 10 * cents, px(cents))

    assert book.depth(SELL, levels=3) == [(px(1), 10), (px(2), 20), (px(3), 30)]


def test_bbo_version_unchanged_by_add_behind_the_best() -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    version = book.bbo_version

    limit(book, "b2", BUY, 100, px(-1))
    book.cancel("b2")

    assert book.bbo_version == version


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda book: limit(book, "b2", BUY, 100, px(1)), id="new-best-price"),
        pytest.param(lambda book: limit(book, "b2", BUY, 100, px(0)), id="size-added-at-best"),
        pytest.param(lambda book: book.cancel("b1"), id="cancel-at-best"),
        pytest.param(lambda book: book.replace("b1", 50, None, 2), id="size-down-at-best"),
        pytest.param(lambda book: limit(book, "s1", SELL, 10, px(0)), id="fill-at-best"),
    ],
)
def test_bbo_version_increments_when_top_of_book_changes(
    action: Callable[[OrderBook], object],
) -> None:
    book = OrderBook("XYZ")
    limit(book, "b1", BUY, 100, px(0))
    version = book.bbo_version

    action(book)

    assert book.bbo_version == version + 1


# ---------------------------------------------------------------------- construction
@pytest.mark.parametrize("collar_bps", [-1, 10_000, 5.0])
def test_order_book_invalid_collar_raises(collar_bps: object) -> None:
    with pytest.raises(ValueError, match="collar_bps"):
        OrderBook("XYZ", collar_bps=collar_bps)  # type: ignore[arg-type]
