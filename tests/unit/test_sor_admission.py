"""The router's admission of a parent order: a strategy to work it with, or why not."""

from __future__ import annotations

import pytest

from protocol.common import OrderType, Urgency
from services.sor.admission import admit_parent
from services.sor.strategies import Strategy, StrategyKind
from tests.helpers import market_order

VENUES = ["lit_a", "dark_a"]


@pytest.mark.parametrize(
    ("change", "live", "expected"),
    [
        ({"symbol": "NOPE"}, False, "symbol: unknown symbol 'NOPE'"),
        (
            {"order_type": OrderType.MIDPOINT, "limit_price": 1_000_000},
            False,
            "order_type: midpoint orders go to dark pools, not the SOR",
        ),
        ({}, True, "order_id: duplicate of a live order"),
        ({"expire_ns": 9}, False, "expire_ns: parent orders do not expire at the router"),
        ({"strategy": "barter"}, False, "strategy: unknown strategy 'barter'"),
        ({"strategy": "direct:nowhere"}, False, "strategy: 'direct:nowhere': no venue"),
    ],
    ids=["symbol", "midpoint", "duplicate", "expiry", "unknown-strategy", "direct-unknown"],
)
def test_admit_parent_refuses_naming_the_field(
    change: dict[str, object], live: bool, expected: str
) -> None:
    result = admit_parent(market_order(**change), ["ACME"], live, VENUES)

    assert isinstance(result, str) and result.startswith(expected)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, Strategy("greedy", StrategyKind.GREEDY)),
        ({"urgency": Urgency.HIGH}, Strategy("optimal", StrategyKind.OPTIMAL)),
        ({"urgency": Urgency.LOW}, Strategy("twap", StrategyKind.TWAP)),
        (
            {"strategy": "pov:20", "urgency": Urgency.LOW},
            Strategy("pov:20", StrategyKind.POV, rate=0.2),
        ),
        (
            {"strategy": "direct:dark_a"},
            Strategy("direct:dark_a", StrategyKind.DIRECT, venue="dark_a"),
        ),
    ],
    ids=["default", "high-urgency", "low-urgency", "named-wins", "direct"],
)
def test_admit_parent_returns_the_strategy(change: dict[str, object], expected: Strategy) -> None:
    assert admit_parent(market_order(**change), ["ACME"], False, VENUES) == expected


def test_admit_parent_checks_symbol_first() -> None:
    order = market_order(symbol="NOPE", expire_ns=9, strategy="barter")

    assert admit_parent(order, ["ACME"], True, VENUES) == "symbol: unknown symbol 'NOPE'"
