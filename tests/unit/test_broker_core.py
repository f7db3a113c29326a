"""The broker's routing table: plans per regime, the scorecard, capped and weighted choices."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from config.scenario import PfofRouting, Regime, RemainderPolicy
from protocol.common import OrderType, Side, TimeInForce
from services.broker.core import (
    ClientOrder,
    RouteStep,
    RoutingTable,
    WholesalerStats,
    admission_error,
)
from services.broker.scorecard import Scorecard
from tests.helpers import market_order


def table(**kw: object) -> RoutingTable:
    wholesalers = {
        "wh-a": WholesalerStats("wh-a", pfof_per_share=4_000),
        "wh-b": WholesalerStats("wh-b", pfof_per_share=3_000),
        "wh-c": WholesalerStats("wh-c", pfof_per_share=2_000),
    }
    args = dict(
        wholesalers=wholesalers,
        scorecard=Scorecard(list(wholesalers), window=2, floor=0.05, tolerance=0.8),
        rng=random.Random(5),
        auction="auction",
        sor="sor",
        pfof_cap=1_000,
        execution_weight=0.7,
        remainder_policy=RemainderPolicy.ROUTE_TO_SOR,
    )
    args.update(kw)
    return RoutingTable(**args)  # type: ignore[arg-type]


def score(t: RoutingTable, name: str, orders: int, improvement: int) -> None:
    """``orders`` buys of 100 shares at NBBO $10.00 x $10.02, each improved by ``improvement``."""
    for _ in range(orders):
        t.routed(name)
        t.record_execution(name, Side.BUY, 100, 10_020_000 - improvement, 10_000_000, 10_020_000, 1)


def test_plan_pfof_goes_to_a_wholesaler_drawn_with_the_flow_shares() -> None:
    t = table()
    score(t, "wh-a", 4, 100)  # 100 x 1.0: demoted (below 0.8 x 5,000)
    score(t, "wh-b", 4, 5_000)
    score(t, "wh-c", 4, 4_000)
    t.review()
    # Shares: a 0.05 (floor); b 0.05 + 0.85 x 5/9; c 0.05 + 0.85 x 4/9.
    n = 9_000
    drawn = Counter(t.plan(Regime.PFOF)[0].destination for _ in range(n))
    for name, p in (("wh-a", 0.05), ("wh-b", 0.05 + 0.85 * 5 / 9), ("wh-c", 0.05 + 0.85 * 4 / 9)):
        assert abs(drawn[name] / n - p) < 4 * (p * (1 - p) / n) ** 0.5, name
    assert all(t.plan(Regime.PFOF)[1] == RouteStep("sor") for _ in range(5))


def test_top_payer_routing_sends_pfof_flow_to_the_highest_payer_not_demoted() -> None:
    t = table(pfof_routing=PfofRouting.TOP_PAYER)
    assert t.plan(Regime.PFOF)[0] == RouteStep("wh-a")
    score(t, "wh-a", 3, 500)
    score(t, "wh-b", 3, 2_000)
    t.review()  # wh-a (500 < 0.8 x 2,000) is demoted: the next payer takes the flow
    assert t.plan(Regime.PFOF)[0] == RouteStep("wh-b")


@pytest.mark.parametrize(
    ("regime", "plan"),
    [
        (Regime.AUCTION, [RouteStep("auction"), RouteStep("sor")]),
        (Regime.BEST_EX, [RouteStep("sor")]),
        (Regime.COMMISSION, [RouteStep("sor")]),
    ],
)
def test_plan_each_regime_ends_with_the_sor(regime: Regime, plan: list[RouteStep]) -> None:
    assert table().plan(regime) == plan


def test_plan_hybrid_and_returned_auction_remainders_go_to_a_flow_wholesaler() -> None:
    for t, regime in (
        (table(), Regime.HYBRID),
        (table(remainder_policy=RemainderPolicy.RETURN_TO_WHOLESALER), Regime.AUCTION),
    ):
        plan = t.plan(regime)
        assert plan[0] == RouteStep("auction") and plan[-1] == RouteStep("sor")
        assert plan[1].at_auction_price and plan[1].destination in t.wholesalers


def test_plan_without_wholesalers_goes_to_the_sor() -> None:
    t = table(wholesalers={}, scorecard=None)
    assert t.plan(Regime.PFOF) == [RouteStep("sor")]
    assert t.review() == []


def test_plan_unknown_regime_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="barter"):
        table().plan("barter")  # type: ignore[arg-type]


def test_capped_all_rates_above_cap_ties_broken_by_lower_cost() -> None:
    t = table()
    t.wholesalers["wh-a"].record_cost(3_000.0)
    t.wholesalers["wh-b"].record_cost(1_000.0)
    t.wholesalers["wh-c"].record_cost(2_000.0)

    assert t.plan(Regime.PFOF_CAPPED) == [RouteStep("wh-b", pfof_rate=1_000), RouteStep("sor")]


def test_weighted_trades_execution_cost_against_pfof() -> None:
    t = table(execution_weight=0.7)
    # wh-a pays 4,000 but costs investors 9,000/share; wh-c pays 2,000 and costs 1,000.
    t.wholesalers["wh-a"].record_cost(9_000.0)
    t.wholesalers["wh-b"].record_cost(6_000.0)
    t.wholesalers["wh-c"].record_cost(1_000.0)

    # scores: a 0.7*9000-0.3*4000=5100, b 4200-900=3300, c 700-600=100
    assert t.plan(Regime.WEIGHTED)[0] == RouteStep("wh-c")
    assert table(execution_weight=0.0).plan(Regime.WEIGHTED)[0] == RouteStep("wh-a")


def test_balanced_goes_to_the_sor_when_its_cost_outweighs_the_pfof() -> None:
    t = table(balanced_weight=0.7)
    # the PFOF mini-project's numbers at $100 (micro-dollars per share): lit costs 5,000, the
    # payers 10,000 (pays 5,000), 12,000 (4,000), 8,000 (3,000)
    t.sor_stats.record_cost(5_000.0)
    t.wholesalers["wh-a"].record_cost(10_000.0)
    t.wholesalers["wh-a"].pfof_per_share = 5_000
    t.wholesalers["wh-b"].record_cost(12_000.0)
    t.wholesalers["wh-c"].record_cost(8_000.0)
    t.wholesalers["wh-c"].pfof_per_share = 3_000

    # scores: sor 0.7*5000 = 3500; a 7000-1500 = 5500; b 8400-900 = 7500; c 5600-900 = 4700
    assert t.plan(Regime.BALANCED) == [RouteStep("sor")]
    # weighted, the same weight over the wholesalers only, never considers the SOR
    assert table(execution_weight=0.7, wholesalers=t.wholesalers).plan(Regime.WEIGHTED)[0] == (
        RouteStep("wh-c")
    )


def test_balanced_goes_to_a_payer_whose_pfof_outweighs_its_extra_cost() -> None:
    t = table(balanced_weight=0.7)
    t.sor_stats.record_cost(5_000.0)
    t.wholesalers["wh-a"].record_cost(6_000.0)
    t.wholesalers["wh-b"].record_cost(9_000.0)
    t.wholesalers["wh-c"].record_cost(9_000.0)

    # a: 0.7*6000 - 0.3*4000 = 3000 < the SOR's 3500
    assert t.plan(Regime.BALANCED) == [RouteStep("wh-a"), RouteStep("sor")]


def test_record_execution_through_the_sor_teaches_its_cost() -> None:
    t = table()

    # a buy at $10.02 against NBBO $10.00 x $10.02: 10,000 over the mid
    t.record_execution("sor", Side.BUY, 100, 10_020_000, 10_000_000, 10_020_000, 1)

    assert (t.sor_stats.cost_per_share, t.sor_stats.cost_samples) == (10_000.0, 1)
    assert all(w.cost_samples == 0 for w in t.wholesalers.values())


def test_demoted_wholesalers_are_not_chosen_by_the_capped_and_weighted_arms() -> None:
    t = table(execution_weight=0.0)  # weighted = the top payer among the eligible
    score(t, "wh-a", 3, 500)
    score(t, "wh-b", 3, 2_000)
    score(t, "wh-c", 3, 1_900)
    grades = {g.name: g for g in t.review()}
    assert grades["wh-a"].demoted and not grades["wh-b"].demoted
    assert t.plan(Regime.WEIGHTED)[0] == RouteStep("wh-b")


def test_every_regime_has_a_plan() -> None:
    for regime in Regime:
        assert table().plan(regime)[-1] == RouteStep("sor"), regime


def test_scorecard_counts_a_fill_better_than_the_nbbo_as_positive_improvement() -> None:
    # Arrange: NBBO $10.00 x $10.02 at receipt; a buy filled at $10.015, a sell at $10.008.
    t = table()
    bid, ask = 10_000_000, 10_020_000
    t.routed("wh-a")
    t.routed("wh-b")

    # Act
    t.record_execution("wh-a", Side.BUY, 100, 10_015_000, bid, ask, 1)
    t.record_execution("wh-b", Side.SELL, 100, 10_008_000, bid, ask, 1)
    grades = {g.name: g for g in t.review()}

    # Assert: by hand, a buy improves by ask - price, a sell by price - bid.
    assert grades["wh-a"].improvement_per_share == 10_020_000 - 10_015_000 == 5_000
    assert grades["wh-b"].improvement_per_share == 10_008_000 - 10_000_000 == 8_000
    # Costs vs the mid ($10.01): the buy paid 0.005 above it, the sell got 0.002 below it.
    assert t.wholesalers["wh-a"].cost_per_share == 5_000.0
    assert t.wholesalers["wh-b"].cost_per_share == 2_000.0


def test_scorecard_counts_a_fill_worse_than_the_nbbo_as_negative_improvement() -> None:
    t = table()
    t.routed("wh-a")
    t.record_execution("wh-a", Side.SELL, 200, 9_990_000, 10_000_000, 10_020_000, 1)

    assert t.review()[0].improvement_per_share == -10_000


@pytest.mark.parametrize(
    ("change", "regime", "duplicate", "field"),
    [
        ({"symbol": "NOPE"}, "pfof", False, "symbol"),
        ({}, "auction", False, "regime"),
        ({}, "", False, "regime"),
        ({"order_type": OrderType.MIDPOINT, "limit_price": 1_000_000}, "pfof", False, "order_type"),
        ({}, "pfof", True, "order_id"),
        ({"expire_ns": 5}, "pfof", False, "expire_ns"),
    ],
    ids=["symbol", "regime-not-enabled", "no-regime", "midpoint", "duplicate", "expiry"],
)
def test_admission_error_names_the_field(
    change: dict[str, object], regime: str, duplicate: bool, field: str
) -> None:
    error = admission_error(
        market_order(**change), regime, ["ACME"], {"pfof", "best-ex"}, duplicate
    )

    assert error is not None and error.startswith(f"{field}: ")


def test_admission_error_accepts_a_valid_order_and_lists_enabled_regimes() -> None:
    enabled = {"pfof", "best-ex"}
    assert admission_error(market_order(), "pfof", ["ACME"], enabled, False) is None
    assert admission_error(market_order(), "auction", ["ACME"], enabled, False) == (
        "regime: regime 'auction' is not enabled (enabled: best-ex, pfof)"
    )


def test_admission_error_checks_symbol_before_anything_else() -> None:
    error = admission_error(
        market_order(symbol="NOPE", expire_ns=5), "barter", ["ACME"], set(), True
    )

    assert error == "symbol: unknown symbol 'NOPE'"


LIMIT = {"order_type": OrderType.LIMIT}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"qty": 100_000_000},
            "qty: 100,000,000 shares is above the broker's maximum of 1,000,000 per order",
        ),
        (
            LIMIT | {"limit_price": 100_005_000},
            "limit_price: $100.005 is not a multiple of the $0.01 tick (Reg NMS Rule 612: "
            "$0.01 at or above $1.00, $0.0001 below)",
        ),
        (
            LIMIT | {"limit_price": 1_000_100},
            "limit_price: $1.0001 is not a multiple of the $0.01 tick (Reg NMS Rule 612: "
            "$0.01 at or above $1.00, $0.0001 below)",
        ),
        (
            LIMIT | {"limit_price": 999_950},
            "limit_price: $0.99995 is not a multiple of the $0.0001 tick (Reg NMS Rule 612: "
            "$0.01 at or above $1.00, $0.0001 below)",
        ),
        ({"symbol": "ZZZZ"}, "symbol: unknown symbol 'ZZZZ'"),
    ],
    ids=["oversize", "off-cent-tick", "sub-cent-at-a-dollar", "off-sub-dollar-tick", "symbol"],
)
def test_admission_error_refuses_off_tick_oversize_and_unknown_symbol_naming_field_and_value(
    change: dict[str, object], expected: str
) -> None:
    error = admission_error(
        market_order(**change), "pfof", ["ACME"], {"pfof"}, False, max_qty=1_000_000
    )

    assert error == expected


@pytest.mark.parametrize(
    "change",
    [
        {"qty": 1_000_000},
        LIMIT | {"limit_price": 100_010_000},
        LIMIT | {"limit_price": 1_000_000},
        LIMIT | {"limit_price": 999_900},
        LIMIT | {"limit_price": 100},
    ],
    ids=["at-the-maximum", "on-cent-tick", "one-dollar", "on-sub-dollar-tick", "one-tick"],
)
def test_admission_error_accepts_on_tick_prices_and_the_maximum_size(
    change: dict[str, object],
) -> None:
    error = admission_error(
        market_order(**change), "pfof", ["ACME"], {"pfof"}, False, max_qty=1_000_000
    )

    assert error is None


def test_admission_error_without_a_maximum_takes_any_size_the_wire_allows() -> None:
    assert admission_error(market_order(qty=100_000_000), "pfof", ["ACME"], {"pfof"}, False) is None


@pytest.mark.parametrize(
    ("change", "state", "expected"),
    [
        ({"order_type": OrderType.LIMIT, "limit_price": 1_000_000}, {}, True),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 1_000_000, "tif": TimeInForce.IOC},
            {},
            False,
        ),
        ({}, {}, False),  # a market order never rests
        ({"order_type": OrderType.LIMIT, "limit_price": 1_000_000}, {"resting": True}, False),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 1_000_000},
            {"cancel_requested": "x"},
            False,
        ),
        ({"order_type": OrderType.LIMIT, "limit_price": 1_000_000}, {"cum": 100}, False),
    ],
    ids=["day-limit", "ioc-limit", "market", "resting", "canceling", "filled"],
)
def test_client_order_can_rest_only_a_live_unfilled_day_limit(
    change: dict[str, object], state: dict[str, object], expected: bool
) -> None:
    client = ClientOrder(b"c", market_order(**change), Regime.PFOF, [], None, None)
    for name, value in state.items():
        setattr(client, name, value)

    assert client.can_rest is expected


def test_plan_auction_exempt_order_skips_the_auction_to_a_wholesaler_then_the_sor() -> None:
    for regime in (Regime.AUCTION, Regime.HYBRID):
        plan = table().plan(regime, auction_exempt=True)
        assert "auction" not in [step.destination for step in plan]
        assert plan[0].destination in {"wh-a", "wh-b", "wh-c"} and plan[-1] == RouteStep("sor")
        assert not plan[0].at_auction_price


def test_plan_exemption_leaves_other_regimes_alone() -> None:
    assert table().plan(Regime.BEST_EX, auction_exempt=True) == [RouteStep("sor")]
