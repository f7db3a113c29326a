"""The broker's routing table: plans per regime, the scorecard, capped and weighted choices."""

from __future__ import annotations

import pytest

from services.broker.core import RoutingTable, Step, WholesalerStats


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
        remainder_to_wholesaler=False,
        tolerance=0.8,
        min_orders=2,
    )
    args.update(kw)
    return RoutingTable(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("regime", "plan"),
    [
        ("pfof", [Step("wh-a"), Step("sor")]),
        ("auction", [Step("auction"), Step("sor")]),
        ("hybrid", [Step("auction"), Step("wh-a", at_auction_price=True), Step("sor")]),
        ("best-ex", [Step("sor")]),
        ("commission", [Step("sor")]),
    ],
)
def test_plan_each_regime_ends_with_the_sor(regime: str, plan: list[Step]) -> None:
    assert table().plan(regime) == plan


def test_plan_auction_with_return_policy_goes_back_to_top_wholesaler() -> None:
    plan = table(remainder_to_wholesaler=True).plan("auction")

    assert plan == [Step("auction"), Step("wh-a", at_auction_price=True), Step("sor")]


def test_plan_unknown_regime_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="barter"):
        table().plan("barter")


def test_capped_all_rates_above_cap_ties_broken_by_lower_cost() -> None:
    t = table()
    t.wholesalers["wh-a"].record_fill(100, cost_per_share=3_000.0, improvement_per_share=1_000)
    t.wholesalers["wh-b"].record_fill(100, cost_per_share=1_000.0, improvement_per_share=3_000)
    t.wholesalers["wh-c"].record_fill(100, cost_per_share=2_000.0, improvement_per_share=2_000)

    assert t.plan("pfof-capped") == [Step("wh-b", pfof_rate=1_000), Step("sor")]


def test_weighted_trades_execution_cost_against_pfof() -> None:
    t = table(execution_weight=0.7)
    # wh-a pays 4,000 but costs investors 9,000/share; wh-c pays 2,000 and costs 1,000.
    t.wholesalers["wh-a"].record_fill(100, cost_per_share=9_000.0, improvement_per_share=0)
    t.wholesalers["wh-b"].record_fill(100, cost_per_share=6_000.0, improvement_per_share=0)
    t.wholesalers["wh-c"].record_fill(100, cost_per_share=1_000.0, improvement_per_share=0)

    # scores: a 0.7*9000-0.3*4000=5100, b 4200-900=3300, c 700-600=100
    assert t.plan("weighted")[0] == Step("wh-c")
    assert table(execution_weight=0.0).plan("weighted")[0] == Step("wh-a")


def test_review_demotes_wholesaler_far_below_the_best_and_moves_pfof_flow() -> None:
    t = table()
    for name, improvement in (("wh-a", 500), ("wh-b", 2_000), ("wh-c", 1_900)):
        stats = t.wholesalers[name]
        stats.period_orders = 3
        stats.record_fill(300, cost_per_share=0.0, improvement_per_share=improvement)

    reviews = {r.name: r for r in t.review()}

    assert reviews["wh-a"].demoted and not reviews["wh-b"].demoted and not reviews["wh-c"].demoted
    assert reviews["wh-a"].best_improvement_per_share == 2_000
    assert t.plan("pfof")[0] == Step("wh-b")


def test_review_without_evidence_puts_demoted_wholesaler_back_on_probation() -> None:
    t = table()
    t.wholesalers["wh-a"].demoted = True

    t.review()

    assert not t.wholesalers["wh-a"].demoted
    assert t.plan("pfof")[0] == Step("wh-a")


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
