"""Spec tests for the Rule 615 auction clearing core."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import OrderType, Side
from services.auction.core import (
    AuctionResponse,
    AuctionSpec,
    Clearing,
    RemainderPlan,
    RemainderPolicy,
    admission_error,
    clear,
    improvement_per_share,
    plan_remainder,
    remainder_worst_price,
    validate_response,
)
from tests.helpers import market_order

BID = 100_000_000  # $100.00
ASK = 100_010_000  # $100.01
INCREMENT = 1_000  # $0.001


def make_spec(
    side: Side = Side.BUY, qty: int = 1_000, limit_price: int | None = None
) -> AuctionSpec:
    return AuctionSpec(
        auction_id="A1",
        symbol="XYZ",
        side=side,
        qty=qty,
        limit_price=limit_price,
        nbbo_bid=BID,
        nbbo_ask=ASK,
        increment=INCREMENT,
        start_ns=1_000,
        end_ns=2_000,
    )


def make_response(
    response_id: str, price: int, qty: int = 1_000, ts_ns: int = 1_500, responder: str = ""
) -> AuctionResponse:
    return AuctionResponse(response_id, responder or f"mm-{response_id}", price, qty, ts_ns)


# --- validation ----------------------------------------------------------------------------


def test_validate_response_at_nbbo_on_grid_in_window_accepted() -> None:
    assert validate_response(make_spec(), make_response("r1", ASK)) is None


def test_validate_response_off_increment_rejected_naming_price() -> None:
    reason = validate_response(make_spec(), make_response("r1", ASK - 500))

    assert reason == "price: not a multiple of the $0.001 increment"


def test_validate_response_buy_above_ask_rejected() -> None:
    reason = validate_response(make_spec(Side.BUY), make_response("r1", ASK + INCREMENT))

    assert reason == "price: worse than the NBBO at auction start"


def test_validate_response_sell_below_bid_rejected() -> None:
    reason = validate_response(make_spec(Side.SELL), make_response("r1", BID - INCREMENT))

    assert reason == "price: worse than the NBBO at auction start"


def test_validate_response_buy_above_limit_rejected() -> None:
    spec = make_spec(Side.BUY, limit_price=ASK - 5_000)

    assert validate_response(spec, make_response("ok", ASK - 5_000)) is None
    assert validate_response(spec, make_response("r1", ASK - 4_000)) == (
        "price: outside the order's limit"
    )


def test_validate_response_sell_below_limit_rejected() -> None:
    spec = make_spec(Side.SELL, limit_price=BID + 5_000)

    assert validate_response(spec, make_response("ok", BID + 5_000)) is None
    assert validate_response(spec, make_response("r1", BID + 4_000)) == (
        "price: outside the order's limit"
    )


@pytest.mark.parametrize("qty", [0, -5])
def test_validate_response_non_positive_qty_rejected(qty: int) -> None:
    assert validate_response(make_spec(), make_response("r1", ASK, qty=qty)) == "qty: must be > 0"


def test_validate_response_at_window_end_rejected_as_late() -> None:
    spec = make_spec()

    assert validate_response(spec, make_response("r1", ASK, ts_ns=spec.end_ns - 1)) is None
    assert validate_response(spec, make_response("r2", ASK, ts_ns=spec.end_ns)) == (
        "ts_ns: after the auction window closed"
    )


def test_validate_response_before_window_rejected() -> None:
    reason = validate_response(make_spec(), make_response("r1", ASK, ts_ns=999))

    assert reason == "ts_ns: before the auction window opened"


def test_auction_spec_zero_increment_raises() -> None:
    with pytest.raises(ValueError, match="increment"):
        dataclasses.replace(make_spec(), increment=0)


# --- clearing ------------------------------------------------------------------------------


def test_clear_buy_lowest_price_wins() -> None:
    responses = [make_response("r1", ASK - 2_000), make_response("r2", ASK - 3_000)]

    clearing = clear(make_spec(Side.BUY), responses)

    assert [a.response_id for a in clearing.allocations] == ["r2"]
    assert clearing.best_price == ASK - 3_000
    assert (clearing.filled_qty, clearing.remainder_qty, clearing.responses) == (1_000, 0, 2)


def test_clear_sell_highest_price_wins() -> None:
    responses = [make_response("r1", BID + 3_000), make_response("r2", BID + 2_000)]

    clearing = clear(make_spec(Side.SELL), responses)

    assert [a.response_id for a in clearing.allocations] == ["r1"]
    assert clearing.best_price == BID + 3_000


def test_clear_equal_prices_earlier_ts_wins() -> None:
    responses = [make_response("late", ASK, ts_ns=1_600), make_response("early", ASK, ts_ns=1_100)]

    clearing = clear(make_spec(), responses)

    assert [a.response_id for a in clearing.allocations] == ["early"]


def test_clear_equal_price_and_ts_first_arrival_wins() -> None:
    responses = [make_response("first", ASK), make_response("second", ASK)]

    clearing = clear(make_spec(), responses)

    assert [a.response_id for a in clearing.allocations] == ["first"]


def test_clear_partial_responses_allocated_in_price_time_order() -> None:
    responses = [
        make_response("r1", ASK - 1_000, qty=300, ts_ns=1_100),
        make_response("r2", ASK - 2_000, qty=400, ts_ns=1_400),
        make_response("r3", ASK - 1_000, qty=500, ts_ns=1_050),
        make_response("r4", ASK, qty=900, ts_ns=1_010),
    ]

    clearing = clear(make_spec(qty=1_000), responses)

    # r2 has the best price; r3 and r1 share the next price, r3 came first; r4 gets nothing.
    assert [(a.response_id, a.price, a.qty) for a in clearing.allocations] == [
        ("r2", ASK - 2_000, 400),
        ("r3", ASK - 1_000, 500),
        ("r1", ASK - 1_000, 100),
    ]
    assert (clearing.filled_qty, clearing.remainder_qty) == (1_000, 0)


def test_clear_responses_short_of_qty_leaves_remainder() -> None:
    responses = [make_response("r1", ASK, qty=300), make_response("r2", ASK - 1_000, qty=200)]

    clearing = clear(make_spec(qty=1_000), responses)

    assert (clearing.filled_qty, clearing.remainder_qty) == (500, 500)


def test_clear_invalid_responses_skipped() -> None:
    responses = [
        make_response("offgrid", ASK - 1_500),
        make_response("late", ASK - 5_000, ts_ns=5_000),
        make_response("through", ASK + 1_000),
        make_response("good", ASK, qty=100),
    ]

    clearing = clear(make_spec(), responses)

    assert [a.response_id for a in clearing.allocations] == ["good"]
    assert clearing.responses == 1
    assert clearing.best_price == ASK


def test_clear_duplicate_response_id_counted_once() -> None:
    responses = [make_response("r1", ASK, qty=100), make_response("r1", ASK, qty=100)]

    clearing = clear(make_spec(), responses)

    assert clearing.filled_qty == 100
    assert clearing.responses == 1


def test_clear_duplicate_of_invalid_response_id_skipped() -> None:
    responses = [make_response("r1", ASK + 1_000), make_response("r1", ASK)]

    clearing = clear(make_spec(), responses)

    assert clearing == Clearing((), 0, 1_000, None, 0)


def test_clear_no_responses_empty_with_full_remainder() -> None:
    assert clear(make_spec(qty=700), []) == Clearing((), 0, 700, None, 0)


def test_improvement_per_share_against_start_nbbo() -> None:
    assert improvement_per_share(make_spec(Side.BUY), ASK - 3_000) == 3_000
    assert improvement_per_share(make_spec(Side.SELL), BID + 2_000) == 2_000
    assert improvement_per_share(make_spec(Side.SELL), BID) == 0


# --- remainder -----------------------------------------------------------------------------


def test_plan_remainder_return_to_wholesaler_at_best_auction_price() -> None:
    spec = make_spec(qty=1_000)
    clearing = clear(spec, [make_response("r1", ASK - 4_000, qty=600)])

    plan = plan_remainder(RemainderPolicy.RETURN_TO_WHOLESALER, clearing, spec)

    assert plan == RemainderPlan(RemainderPolicy.RETURN_TO_WHOLESALER, 400, ASK - 4_000)


def test_plan_remainder_return_to_wholesaler_without_responses_at_nbbo() -> None:
    buy, sell = make_spec(Side.BUY), make_spec(Side.SELL)

    buy_plan = plan_remainder(RemainderPolicy.RETURN_TO_WHOLESALER, clear(buy, []), buy)
    sell_plan = plan_remainder(RemainderPolicy.RETURN_TO_WHOLESALER, clear(sell, []), sell)

    assert (buy_plan.qty, buy_plan.worst_price) == (1_000, ASK)
    assert (sell_plan.qty, sell_plan.worst_price) == (1_000, BID)


def test_plan_remainder_return_to_wholesaler_never_beyond_limit() -> None:
    spec = make_spec(Side.BUY, limit_price=ASK - 10_000)

    plan = plan_remainder(RemainderPolicy.RETURN_TO_WHOLESALER, clear(spec, []), spec)

    assert plan.worst_price == ASK - 10_000


def test_plan_remainder_route_to_sor_uses_order_limit() -> None:
    spec = make_spec(Side.SELL, qty=500, limit_price=BID - 20_000)
    clearing = clear(spec, [make_response("r1", BID, qty=200)])

    plan = plan_remainder(RemainderPolicy.ROUTE_TO_SOR, clearing, spec)

    assert plan == RemainderPlan(RemainderPolicy.ROUTE_TO_SOR, 300, BID - 20_000)


def test_plan_remainder_fully_filled_has_nothing_left() -> None:
    spec = make_spec(qty=100)
    clearing = clear(spec, [make_response("r1", ASK, qty=100)])

    assert plan_remainder(RemainderPolicy.ROUTE_TO_SOR, clearing, spec).qty == 0


def test_remainder_policy_values_are_wire_names() -> None:
    assert RemainderPolicy("route_to_sor") is RemainderPolicy.ROUTE_TO_SOR
    assert RemainderPolicy("return_to_wholesaler") is RemainderPolicy.RETURN_TO_WHOLESALER


# --- properties ----------------------------------------------------------------------------

response_strategy = st.builds(
    AuctionResponse,
    response_id=st.text(alphabet="abcdef", min_size=1, max_size=3),
    responder=st.sampled_from(["mm1", "mm2", "mm3"]),
    price=st.integers(BID - 20_000, ASK + 20_000).map(lambda p: p - p % 500),
    qty=st.integers(-10, 2_000),
    ts_ns=st.integers(900, 2_100),
)


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 3_000),
    limit_offset=st.none() | st.integers(-15_000, 15_000),
    responses=st.lists(response_strategy, max_size=12),
)
def test_clear_any_responses_respects_qty_nbbo_limit_and_priority(
    side: Side, qty: int, limit_offset: int | None, responses: list[AuctionResponse]
) -> None:
    limit = None if limit_offset is None else (ASK if side is Side.BUY else BID) + limit_offset
    spec = make_spec(side, qty=qty, limit_price=limit)

    clearing = clear(spec, responses)

    assert clearing.filled_qty == sum(a.qty for a in clearing.allocations) <= qty
    assert clearing.filled_qty + clearing.remainder_qty == qty
    assert all(a.qty > 0 for a in clearing.allocations)
    by_id = {r.response_id: r for r in reversed(responses)}  # first occurrence wins
    for allocation in clearing.allocations:
        assert allocation.qty <= by_id[allocation.response_id].qty
        assert improvement_per_share(spec, allocation.price) >= 0
        if limit is not None:
            assert allocation.price <= limit if side is Side.BUY else allocation.price >= limit
    prices = [a.price for a in clearing.allocations]
    assert prices == sorted(prices, reverse=side is Side.SELL)
    if clearing.allocations:
        assert clearing.best_price == prices[0]
    # A remainder means every valid response was used up.
    if clearing.remainder_qty:
        assert len(clearing.allocations) == clearing.responses


@pytest.mark.parametrize(
    ("side", "limit", "best", "far", "expected"),
    [
        (Side.BUY, None, 100, 110, 100),  # the auction's best price
        (Side.BUY, None, None, 110, 110),  # nobody responded: the NBBO's far side
        (Side.BUY, 95, 100, 110, 95),  # never beyond the buyer's limit
        (Side.BUY, 105, 100, 110, 100),  # a looser limit keeps the auction price
        (Side.SELL, 105, 100, 90, 105),  # never below the seller's limit
        (Side.SELL, None, None, 90, 90),
        (Side.BUY, 95, None, None, None),  # no reference at all: the order keeps its terms
    ],
)
def test_remainder_worst_price(
    side: Side, limit: int | None, best: int | None, far: int | None, expected: int | None
) -> None:
    assert remainder_worst_price(side, limit, best, far) == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, None),
        ({"expire_ns": 1_100}, None),  # still valid when the window closes at 1_000
        ({"expire_ns": 1_000}, "expire_ns: expires before the auction window (0.0009 ms)"),
        ({"symbol": "NOPE"}, "symbol: cannot auction this symbol"),
        (
            {"order_type": OrderType.MIDPOINT, "limit_price": 1_000_000},
            "order_type: cannot auction this order_type",
        ),
    ],
    ids=["valid", "expires-after-window", "expires-in-window", "symbol", "midpoint"],
)
def test_admission_error_names_the_field(change: dict[str, object], expected: str | None) -> None:
    error = admission_error(market_order(**change), ["ACME"], start_ns=100, window_ns=900)

    if expected is None:
        assert error is None
    else:
        assert error is not None and error.startswith(expected)


# --- Reg NMS Rule 611 at execution ---------------------------------------------------------


def test_clear_buy_response_above_ask_at_execution_not_executed() -> None:
    # Valid at the start (at the ask then), but the ask fell 0.5 cent before the window closed.
    spec = make_spec(qty=100)
    exec_ask = ASK - 5_000
    clearing = clear(spec, [make_response("r1", ASK, qty=100)], (BID - 5_000, exec_ask))
    assert clearing.allocations == ()
    assert clearing.remainder_qty == 100
    assert clearing.through_nbbo == 1
    assert clearing.best_price is None


def test_clear_sell_response_below_bid_at_execution_not_executed_next_one_is() -> None:
    spec = make_spec(side=Side.SELL, qty=100)
    exec_bid = BID + 2_000
    responses = [make_response("low", BID + 1_000, qty=100), make_response("ok", BID, qty=100)]
    # The best response (BID + 0.1 cent) would now sell below the new bid: skipped; the one at
    # the old bid is through too. Both skipped, nothing executes.
    clearing = clear(spec, responses, (exec_bid, ASK))
    assert clearing.filled_qty == 0
    assert clearing.through_nbbo == 2
    responses.append(make_response("good", exec_bid + 1_000, qty=100))
    clearing = clear(spec, responses, (exec_bid, ASK))
    assert [a.response_id for a in clearing.allocations] == ["good"]
    assert clearing.allocations[0].price == exec_bid + 1_000


def test_clear_response_at_the_execution_quote_is_executed() -> None:
    spec = make_spec(qty=100)
    clearing = clear(spec, [make_response("r1", ASK - 2_000, qty=100)], (BID, ASK - 2_000))
    assert clearing.filled_qty == 100
    assert clearing.through_nbbo == 0


@given(
    prices=st.lists(st.integers(min_value=-20, max_value=20), min_size=1, max_size=8),
    bid_move=st.integers(min_value=-15, max_value=15),
    ask_move=st.integers(min_value=-15, max_value=15),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
@settings(max_examples=200, deadline=None)
def test_clear_never_executes_through_the_execution_nbbo(
    prices: list[int], bid_move: int, ask_move: int, side: Side
) -> None:
    spec = make_spec(side=side, qty=500)
    exec_bid, exec_ask = BID + bid_move * INCREMENT, ASK + ask_move * INCREMENT
    responses = [
        make_response(f"r{i}", (BID if side is Side.SELL else ASK) + step * INCREMENT, qty=100)
        for i, step in enumerate(prices)
    ]
    clearing = clear(spec, responses, (exec_bid, exec_ask))
    for allocation in clearing.allocations:
        if side is Side.BUY:
            assert allocation.price <= exec_ask
        else:
            assert allocation.price >= exec_bid


def test_clear_buy_response_below_the_bid_at_execution_not_executed() -> None:
    # The market rose through the response: selling to the retail buyer at the old ask would
    # now be a sale below the protected bid.
    spec = make_spec(qty=100)
    clearing = clear(spec, [make_response("r1", ASK, qty=100)], (ASK + 5_000, ASK + 15_000))
    assert clearing.filled_qty == 0 and clearing.through_nbbo == 1
