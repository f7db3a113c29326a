"""The markup learner's reward under ``[dealers] reward``: "expected" charges the adverse
selection the estimate has proven at the fill; "marked" credits each fill's own markout to the
period that priced it (``services/dealer/desk.py``). Figures by hand, in micro-dollars: a dealer
sells 100 shares at $50.0060 with the mid at $50.0050 (an edge of 1_000 per share, less an
operating cost of 100 per share), and the mid then rises 400 against it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import numpy as np
import pytest

from config.scenario import DealersConfig
from protocol.common import Side
from services.dealer.desk import MARKOUT_SLACK_S, Desk

AUCTION = "auction"
MID = 50_005_000.0


class Host:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {}

    def make(self, cls: type, **fields: Any) -> Any:
        return cls(**fields)

    def tape(self, payload: object, recv_ns: int = 0) -> None:
        pass


def desk_with(reward: str, mids: dict[str, float]) -> Desk:
    spec = msgspec.structs.replace(
        DealersConfig(),
        reward=reward,
        markout_horizon_ms=20,
        operating_cost_per_share="0.0001",
        inventory_cost_per_1k="0",
    )
    return Desk.build(
        "wh-a", "wholesaler", spec, (AUCTION,), np.random.default_rng(1), Host(), mids.get
    )


@pytest.mark.parametrize(
    ("reward", "expected"),
    # expected: 100 x (1_000 - 100) = 90_000 at the fill; marked: the same (no charge yet: none
    # proven) and then -400 x 100 = -40_000 when the markout comes: 50_000.
    [("expected", 90_000.0), ("marked", 50_000.0)],
)
async def test_a_fills_reward_is_its_markout_under_marked_and_its_expectation_otherwise(
    reward: str, expected: float
) -> None:
    mids = {"ACME": MID}
    desk = desk_with(reward, mids)
    channel = desk.channels[AUCTION]
    token = desk.saw_flow(AUCTION, 100)

    desk.filled(AUCTION, "ACME", Side.BUY, 100, 50_006_000, MID, token=token)
    mids["ACME"] = MID + 400  # the mid rises against the dealer who sold
    await asyncio.sleep(0.1)  # past the 20 ms horizon: the markout has run

    assert channel.periods[token].reward == pytest.approx(expected)
    assert desk.host.counters["auction.markouts"] == 1


def test_under_marked_a_period_waits_past_the_markout_horizon_before_it_settles() -> None:
    marked = desk_with("marked", {}).channels[AUCTION]
    expected = desk_with("expected", {}).channels[AUCTION]

    assert marked.settle_grace_ns == round((0.020 + MARKOUT_SLACK_S) * 1e9)
    assert expected.settle_grace_ns == 0
