"""Spec tests for the dark pool core: midpoint crosses, priority, limits, minimum quantities."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import Side
from services.darkpool.core import DarkBook, DarkFill, midpoint

BID = 100_000_000  # $100.00
ASK = 100_020_000  # $100.02
MID = 100_010_000  # $100.01


def book_with(*orders: tuple[str, str, bool, int, int | None, int]) -> DarkBook:
    book = DarkBook("ACME")
    for key, account, side, qty, limit_price, min_qty in orders:
        book.add(key, account, side, qty, limit_price, min_qty)
    return book


# --- midpoint ------------------------------------------------------------------------------


def test_midpoint_two_sided_returns_middle() -> None:
    assert midpoint(BID, ASK, locked=False, crossed=False) == MID


def test_midpoint_odd_sum_rounds_down_to_micro() -> None:
    # (100_000_000 + 100_000_101) / 2 = 100_000_050.5 -> 100_000_050
    assert midpoint(100_000_000, 100_000_101, locked=False, crossed=False) == 100_000_050


@pytest.mark.parametrize(
    ("bid", "ask"), [(None, ASK), (BID, None), (None, None)], ids=["no-bid", "no-ask", "empty"]
)
def test_midpoint_one_sided_returns_none(bid: int | None, ask: int | None) -> None:
    assert midpoint(bid, ask, locked=False, crossed=False) is None


def test_midpoint_locked_returns_none() -> None:
    assert midpoint(BID, BID, locked=True, crossed=False) is None


def test_midpoint_crossed_returns_none() -> None:
    assert midpoint(ASK, BID, locked=False, crossed=True) is None


def test_midpoint_flags_set_on_normal_prices_returns_none() -> None:
    assert midpoint(BID, ASK, locked=True, crossed=False) is None
    assert midpoint(BID, ASK, locked=False, crossed=True) is None


def test_midpoint_bid_at_or_above_ask_without_flags_returns_none() -> None:
    assert midpoint(BID, BID, locked=False, crossed=False) is None
    assert midpoint(ASK, BID, locked=False, crossed=False) is None


# --- crossing ------------------------------------------------------------------------------


def test_cross_buy_and_sell_fills_at_midpoint() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 300, None, 0), ("s1", "bob", Side.SELL, 200, None, 0)
    )

    fills = book.cross(MID)

    assert fills == [DarkFill("b1", "s1", MID, 200, 100, 0, None)]
    assert [o.key for o in book.buys] == ["b1"]
    assert book.sells == []
    assert set(book.orders) == {"b1"}


def test_cross_price_is_the_mid_passed_in_not_the_limits() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, 100_050_000, 0), ("s1", "bob", Side.SELL, 100, 99_950_000, 0)
    )

    fills = book.cross(100_003_000)

    assert [f.price for f in fills] == [100_003_000]


def test_cross_mid_none_trades_nothing() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, None, 0)
    )

    fills = book.cross(None)

    assert fills == []
    assert book.orders["b1"].leaves == 100
    assert book.orders["s1"].leaves == 100


def test_cross_buys_only_trades_nothing() -> None:
    book = book_with(("b1", "alice", Side.BUY, 100, None, 0), ("b2", "bob", Side.BUY, 100, None, 0))

    assert book.cross(MID) == []
    assert [o.leaves for o in book.buys] == [100, 100]


def test_cross_sells_only_trades_nothing() -> None:
    book = book_with(
        ("s1", "alice", Side.SELL, 100, None, 0), ("s2", "bob", Side.SELL, 100, None, 0)
    )

    assert book.cross(MID) == []


def test_cross_after_contra_canceled_trades_nothing() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, None, 0)
    )
    book.cancel("s1")

    assert book.cross(MID) == []
    assert book.orders["b1"].leaves == 100


def test_cross_two_buys_fills_earlier_buy_first() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0),
        ("b2", "carol", Side.BUY, 100, None, 0),
        ("s1", "bob", Side.SELL, 100, None, 0),
    )

    fills = book.cross(MID)

    assert [(f.buy_key, f.sell_key, f.qty) for f in fills] == [("b1", "s1", 100)]
    assert [o.key for o in book.buys] == ["b2"]


def test_cross_two_sells_fills_earlier_sell_first() -> None:
    book = book_with(
        ("s1", "bob", Side.SELL, 100, None, 0),
        ("s2", "dave", Side.SELL, 100, None, 0),
        ("b1", "alice", Side.BUY, 150, None, 0),
    )

    fills = book.cross(MID)

    # b1 takes all of s1 (100) then 50 of s2.
    assert [(f.sell_key, f.qty, f.buy_leaves, f.sell_leaves) for f in fills] == [
        ("s1", 100, 50, 0),
        ("s2", 50, 0, 50),
    ]
    assert book.orders["s2"].leaves == 50


def test_cross_buy_limit_below_mid_does_not_trade() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, MID - 1, 0), ("s1", "bob", Side.SELL, 100, None, 0)
    )

    assert book.cross(MID) == []


def test_cross_buy_limit_at_mid_trades() -> None:
    book = book_with(("b1", "alice", Side.BUY, 100, MID, 0), ("s1", "bob", Side.SELL, 100, None, 0))

    assert [f.qty for f in book.cross(MID)] == [100]


def test_cross_sell_limit_above_mid_does_not_trade() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, MID + 1, 0)
    )

    assert book.cross(MID) == []


def test_cross_sell_limit_at_mid_trades() -> None:
    book = book_with(("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, MID, 0))

    assert [f.qty for f in book.cross(MID)] == [100]


def test_cross_protected_buy_skipped_later_buy_fills() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, MID - 10_000, 0),
        ("b2", "carol", Side.BUY, 100, None, 0),
        ("s1", "bob", Side.SELL, 100, None, 0),
    )

    fills = book.cross(MID)

    assert [(f.buy_key, f.qty) for f in fills] == [("b2", 100)]
    assert book.orders["b1"].leaves == 100


def test_cross_buy_min_qty_above_contra_size_does_not_trade() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 500, None, 300), ("s1", "bob", Side.SELL, 200, None, 0)
    )

    assert book.cross(MID) == []


def test_cross_sell_min_qty_above_contra_size_does_not_trade() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 200, None, 0), ("s1", "bob", Side.SELL, 500, None, 300)
    )

    assert book.cross(MID) == []


def test_cross_min_qty_exactly_met_trades() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 300, None, 300), ("s1", "bob", Side.SELL, 500, None, 300)
    )

    fills = book.cross(MID)

    assert [(f.qty, f.buy_leaves, f.sell_leaves) for f in fills] == [(300, 0, 200)]


def test_cross_min_qty_skips_small_contra_and_takes_larger_one() -> None:
    book = book_with(
        ("s1", "bob", Side.SELL, 200, None, 0),
        ("s2", "dave", Side.SELL, 400, None, 0),
        ("b1", "alice", Side.BUY, 500, None, 300),
    )

    fills = book.cross(MID)

    # s1 (200 < 300) is skipped despite priority; s2 gives 400 >= 300.
    assert [(f.sell_key, f.qty, f.buy_leaves) for f in fills] == [("s2", 400, 100)]
    assert book.orders["s1"].leaves == 200


def test_cross_same_account_never_crosses() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "alice", Side.SELL, 100, None, 0)
    )

    assert book.cross(MID) == []


def test_cross_same_account_skipped_other_account_fills() -> None:
    book = book_with(
        ("s1", "alice", Side.SELL, 100, None, 0),
        ("s2", "bob", Side.SELL, 100, None, 0),
        ("b1", "alice", Side.BUY, 100, None, 0),
    )

    fills = book.cross(MID)

    assert [(f.buy_key, f.sell_key) for f in fills] == [("b1", "s2")]
    assert book.orders["s1"].leaves == 100


@pytest.mark.parametrize(
    ("aggressor", "expected"), [("b1", Side.BUY), ("s1", Side.SELL), (None, None)]
)
def test_cross_aggressor_key_sets_aggressor_side(
    aggressor: str | None, expected: Side | None
) -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, None, 0)
    )

    fills = book.cross(MID, aggressor=aggressor)

    assert [f.aggressor for f in fills] == [expected]


# --- add / cancel --------------------------------------------------------------------------


def test_add_duplicate_key_raises_key_error() -> None:
    book = book_with(("b1", "alice", Side.BUY, 100, None, 0))

    with pytest.raises(KeyError, match="duplicate"):
        book.add("b1", "bob", Side.SELL, 100, None, 0)


def test_cancel_resting_order_returns_leaves() -> None:
    book = book_with(("b1", "alice", Side.BUY, 300, None, 0))

    assert book.cancel("b1") == 300
    assert book.buys == []
    assert book.orders == {}


def test_cancel_partially_filled_order_returns_remaining_leaves() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 300, None, 0), ("s1", "bob", Side.SELL, 120, None, 0)
    )
    book.cross(MID)

    assert book.cancel("b1") == 180


def test_cancel_unknown_key_returns_none() -> None:
    assert DarkBook("ACME").cancel("nope") is None


def test_cancel_fully_filled_order_returns_none() -> None:
    book = book_with(
        ("b1", "alice", Side.BUY, 100, None, 0), ("s1", "bob", Side.SELL, 100, None, 0)
    )
    book.cross(MID)

    assert book.cancel("b1") is None
    assert book.cancel("s1") is None


def test_cancel_twice_returns_none_second_time() -> None:
    book = book_with(("s1", "bob", Side.SELL, 100, None, 0))

    assert book.cancel("s1") == 100
    assert book.cancel("s1") is None


# --- properties ----------------------------------------------------------------------------

ACCOUNTS = ("a", "b", "c")
MIDS = st.sampled_from([None, 99_990_000, MID, 100_030_000])
LIMITS = st.sampled_from([None, None, 99_990_000, MID, 100_030_000])
add_ops = st.tuples(
    st.just("add"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(Side),
    st.integers(1, 500),
    LIMITS,
    st.sampled_from([0, 0, 100, 300]),
)
cancel_ops = st.tuples(st.just("cancel"), st.integers(0, 60))
cross_ops = st.tuples(st.just("cross"), MIDS)
operations = st.lists(st.one_of(add_ops, add_ops, cancel_ops, cross_ops), min_size=20, max_size=80)


def _eligible(buy_leaves: int, sell_leaves: int, buy: tuple, sell: tuple, mid: int) -> bool:
    _, buy_account, _, _, buy_limit, buy_min = buy
    _, sell_account, _, _, sell_limit, sell_min = sell
    qty = min(buy_leaves, sell_leaves)
    return (
        qty > 0
        and buy_account != sell_account
        and (buy_limit is None or buy_limit >= mid)
        and (sell_limit is None or sell_limit <= mid)
        and qty >= buy_min
        and qty >= sell_min
    )


@settings(max_examples=200, deadline=None)
@given(operations)
def test_dark_book_random_operations_conserve_quantity_and_fill_at_mid(ops: list[tuple]) -> None:
    book = DarkBook("ACME")
    added: dict[str, tuple] = {}
    filled: dict[str, int] = {}
    canceled: dict[str, int] = {}
    keys: list[str] = []
    for op in ops:
        match op:
            case ("add", account, side, qty, limit_price, min_qty):
                key = f"o{len(keys)}"
                book.add(key, account, side, qty, limit_price, min_qty)
                added[key] = (key, account, side, qty, limit_price, min_qty)
                keys.append(key)
            case ("cancel", index):
                if keys:
                    key = keys[index % len(keys)]
                    leaves = book.cancel(key)
                    if leaves is not None:
                        canceled[key] = canceled.get(key, 0) + leaves
            case ("cross", mid):
                fills = book.cross(mid)
                if mid is None:
                    assert fills == []
                for fill in fills:
                    assert fill.price == mid
                    assert fill.qty > 0
                    buy, sell = added[fill.buy_key], added[fill.sell_key]
                    assert buy[2] is Side.BUY and sell[2] is Side.SELL
                    assert buy[1] != sell[1]
                    assert buy[4] is None or buy[4] >= fill.price
                    assert sell[4] is None or sell[4] <= fill.price
                    # min qty binds each execution, capped at what the order had left
                    buy_left = buy[3] - filled.get(fill.buy_key, 0)
                    sell_left = sell[3] - filled.get(fill.sell_key, 0)
                    assert fill.qty >= min(buy[5], buy_left) and fill.qty >= min(sell[5], sell_left)
                    filled[fill.buy_key] = filled.get(fill.buy_key, 0) + fill.qty
                    filled[fill.sell_key] = filled.get(fill.sell_key, 0) + fill.qty
                    assert fill.buy_leaves == added[fill.buy_key][3] - filled[fill.buy_key]
                    assert fill.sell_leaves == added[fill.sell_key][3] - filled[fill.sell_key]
                if mid is not None:
                    # A cross leaves no eligible pair behind.
                    for buy_order in book.buys:
                        for sell_order in book.sells:
                            assert not _eligible(
                                buy_order.leaves,
                                sell_order.leaves,
                                added[buy_order.key],
                                added[sell_order.key],
                                mid,
                            )
        resting = {o.key for o in book.buys} | {o.key for o in book.sells}
        assert resting == set(book.orders)
        assert all(o.leaves > 0 for o in book.orders.values())
        arrivals = [o.arrival for o in book.buys]
        assert arrivals == sorted(arrivals)
        arrivals = [o.arrival for o in book.sells]
        assert arrivals == sorted(arrivals)

    for key, order in added.items():
        resting_leaves = book.orders[key].leaves if key in book.orders else 0
        assert filled.get(key, 0) + resting_leaves + canceled.get(key, 0) == order[3]


def test_cross_partly_filled_order_below_its_min_qty_can_still_trade_its_remainder() -> None:
    book = DarkBook("ACME")
    book.add("b1", "acct-b", Side.BUY, 300, None, 200)
    book.add("s1", "acct-s", Side.SELL, 200, None, 0)
    first = book.cross(100_000_000)
    book.add("s2", "acct-t", Side.SELL, 500, None, 0)

    second = book.cross(100_000_000)

    assert [f.qty for f in first] == [200]
    assert [(f.buy_key, f.qty, f.buy_leaves) for f in second] == [("b1", 100, 0)]


def test_add_non_positive_qty_raises_naming_qty() -> None:
    with pytest.raises(ValueError, match="qty"):
        DarkBook("ACME").add("b1", "acct", Side.BUY, 0, None, 0)


def test_match_priced_pair_through_the_nbbo_does_not_trade() -> None:
    # A priced sell resting at $10.05 while the NBBO offer is $10.02: a priced buy at $10.05
    # would pay above the protected offer (Reg NMS Rule 611(a)).
    book = DarkBook("XYZ")
    book.add("s", "seller", Side.SELL, 100, 10_050_000, 0, pegged=False)
    book.add("b", "buyer", Side.BUY, 100, 10_050_000, 0, pegged=False)
    assert book.match("b", 10_010_000, (10_000_000, 10_020_000)) == []
    fills = book.match("b", 10_040_000, (10_030_000, 10_050_000))  # the market moved up
    assert [(f.price, f.qty) for f in fills] == [(10_050_000, 100)]


def test_cross_priced_pair_below_the_bid_does_not_trade() -> None:
    book = DarkBook("XYZ")
    book.add("b", "buyer", Side.BUY, 100, 9_990_000, 0, pegged=False)
    book.add("s", "seller", Side.SELL, 100, 9_990_000, 0, pegged=False)
    assert book.cross(10_005_000, protect=(10_000_000, 10_010_000)) == []
