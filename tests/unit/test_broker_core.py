"""The broker's routing table: plans per regime, the scorecard, capped and weighted choices."""

from __future__ import annotations

import pytest

from config.scenario import Regime, RemainderPolicy
from protocol.common import OrderType, Side, TimeInForce
from services.broker.core import (
    ClientOrder,
    RouteStep,
    RoutingTable,
    WholesalerStats,
    admission_error,
)
from tests.helpers import market_order


def table(**kw: object) -> RoutingTable:
    wholesalers = {
        "wh-a": WholesalerStats("wh-a", pfof_per_share=4_000),
        "wh-b": WholesalerStats("wh-b", pfof_per_share=3_000),
        "wh-c": WholesalerStats("wh-c", pfof_per_share=2_000),
    }
    args = dict(
        wholesalers=wholesalers,
        auction="auction",
        sor="sor",
        pfof_cap=1_000,
        execution_weight=0.7,
        remainder_policy=RemainderPolicy.ROUTE_TO_SOR,
        tolerance=0.8,
        min_orders=2,
    )
    args.update(kw)
    return RoutingTable(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("regime", "plan"),
    [
        (Regime.PFOF, [RouteStep("wh-a"), RouteStep("sor")]),
        (Regime.AUCTION, [RouteStep("auction"), RouteStep("sor")]),
        (
            Regime.HYBRID,
            [RouteStep("auction"), RouteStep("wh-a", at_auction_price=True), RouteStep("sor")],
        ),
        (Regime.BEST_EX, [RouteStep("sor")]),
        (Regime.COMMISSION, [RouteStep("sor")]),
    ],
)
def test_plan_each_regime_ends_with_the_sor(regime: Regime, plan: list[RouteStep]) -> None:
    assert table().plan(regime) == plan


def test_plan_auction_with_return_policy_goes_back_to_top_wholesaler() -> None:
    plan = table(remainder_policy=RemainderPolicy.RETURN_TO_WHOLESALER).plan(Regime.AUCTION)

    assert plan == [
        RouteStep("auction"),
        RouteStep("wh-a", at_auction_price=True),
        RouteStep("sor"),
    ]


def test_plan_unknown_regime_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="barter"):
        table().plan("barter")  # type: ignore[arg-type]


def test_capped_all_rates_above_cap_ties_broken_by_lower_cost() -> None:
    t = table()
    t.wholesalers["wh-a"].record_fill(100, cost_per_share=3_000.0, improvement_per_share=1_000)
    t.wholesalers["wh-b"].record_fill(100, cost_per_share=1_000.0, improvement_per_share=3_000)
    t.wholesalers["wh-c"].record_fill(100, cost_per_share=2_000.0, improvement_per_share=2_000)

    assert t.plan(Regime.PFOF_CAPPED) == [RouteStep("wh-b", pfof_rate=1_000), RouteStep("sor")]


def test_weighted_trades_execution_cost_against_pfof() -> None:
    t = table(execution_weight=0.7)
    # wh-a pays 4,000 but costs investors 9,000/share; wh-c pays 2,000 and costs 1,000.
    t.wholesalers["wh-a"].record_fill(100, cost_per_share=9_000.0, improvement_per_share=0)
    t.wholesalers["wh-b"].record_fill(100, cost_per_share=6_000.0, improvement_per_share=0)
    t.wholesalers["wh-c"].record_fill(100, cost_per_share=1_000.0, improvement_per_share=0)

    # scores: a 0.7*9000-0.3*4000=5100, b 4200-900=3300, c 700-600=100
    assert t.plan(Regime.WEIGHTED)[0] == RouteStep("wh-c")
    assert table(execution_weight=0.0).plan(Regime.WEIGHTED)[0] == RouteStep("wh-a")


def test_review_demotes_wholesaler_far_below_the_best_and_moves_pfof_flow() -> None:
    t = table()
    for name, improvement in (("wh-a", 500), ("wh-b", 2_000), ("wh-c", 1_900)):
        stats = t.wholesalers[name]
        stats.period_orders = 3
        stats.record_fill(300, cost_per_share=0.0, improvement_per_share=improvement)

    reviews = {r.name: r for r in t.review()}

    assert reviews["wh-a"].demoted and not reviews["wh-b"].demoted and not reviews["wh-c"].demoted
    assert reviews["wh-a"].best_improvement_per_share == 2_000
    assert t.plan(Regime.PFOF)[0] == RouteStep("wh-b")


def test_review_without_evidence_puts_demoted_wholesaler_back_on_probation() -> None:
    t = table()
    t.wholesalers["wh-a"].demoted = True

    t.review()

    assert not t.wholesalers["wh-a"].demoted
    assert t.plan(Regime.PFOF)[0] == RouteStep("wh-a")


def test_review_resets_the_period() -> None:
    t = table()
    t.wholesalers["wh-b"].period_orders = 5
    t.wholesalers["wh-b"].record_fill(100, 0.0, 1_000)

    t.review()

    assert (
        t.wholesalers["wh-b"].period_orders == 0
        and t.wholesalers["wh-b"].improvement_per_share == 0
    )
    assert len(t.history) == 1


def test_every_regime_has_a_plan() -> None:
    for regime in Regime:
        assert table().plan(regime)[-1] == RouteStep("sor"), regime


def test_scorecard_counts_a_fill_better_than_the_nbbo_as_positive_improvement() -> None:
    # Arrange: NBBO $10.00 x $10.02 at receipt; a buy filled at $10.015, a sell at $10.008.
    t = table(min_orders=1)
    bid, ask = 10_000_000, 10_020_000
    buyer, seller = t.wholesalers["wh-a"], t.wholesalers["wh-b"]
    buyer.period_orders = seller.period_orders = 1

    # Act
    buyer.record_execution(Side.BUY, 100, 10_015_000, bid, ask)
    seller.record_execution(Side.SELL, 100, 10_008_000, bid, ask)
    reviews = {r.name: r for r in t.review()}

    # Assert: by hand, a buy improves by ask - price, a sell by price - bid.
    assert reviews["wh-a"].improvement_per_share == 10_020_000 - 10_015_000 == 5_000
    assert reviews["wh-b"].improvement_per_share == 10_008_000 - 10_000_000 == 8_000
    assert reviews["wh-b"].best_improvement_per_share == 8_000
    # Costs vs the mid ($10.01): the buy paid 0.005 above it, the sell got 0.002 below it.
    assert buyer.cost_per_share == 5_000.0 and seller.cost_per_share == 2_000.0


def test_scorecard_counts_a_fill_worse_than_the_nbbo_as_negative_improvement() -> None:
    stats = table().wholesalers["wh-a"]

    stats.record_execution(Side.SELL, 200, 9_990_000, 10_000_000, 10_020_000)

    assert stats.improvement_per_share == -10_000


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
