"""Client and noise-trader limit prices on the symbol's Rule 612 grid (the 2024 half-penny for
a tick-constrained stock, Release No. 34-101070). Expected prices are worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from config.rules import HALF_PENNY
from protocol.common import Side
from services.agents import noise_limit
from services.injector import marketable_limit

BID, ASK = 19_995_000, 20_005_000  # $19.995 x $20.005: half-penny quotes


@pytest.mark.parametrize(
    ("side", "tick", "expected"),
    [
        (Side.BUY, HALF_PENNY, 20_005_000),  # at the ask: already on the half-penny grid
        (Side.BUY, None, 20_010_000),  # the cent grid rounds a buy up a half penny
        (Side.SELL, HALF_PENNY, 19_995_000),
        (Side.SELL, None, 19_990_000),  # and a sell down
    ],
)
def test_marketable_limit_at_the_touch_on_the_symbols_grid(
    side: Side, tick: int | None, expected: int
) -> None:
    assert marketable_limit(side, BID, ASK, 0.0, tick) == expected


def test_marketable_limit_through_the_touch_rounds_away_from_the_market_on_half_pennies() -> None:
    # 10 bps through: buy 20.005 x 1.001 = 20.025005 -> up to 20.030; sell 19.995 x 0.999 =
    # 19.975005 -> down to 19.975
    assert marketable_limit(Side.BUY, BID, ASK, 10.0, HALF_PENNY) == 20_030_000
    assert marketable_limit(Side.SELL, BID, ASK, 10.0, HALF_PENNY) == 19_975_000


@pytest.mark.parametrize(
    ("side", "tick", "expected"),
    [
        # a one-half-penny market 19.995 x 20.000: a buy joins the bid on the half-penny grid,
        # on the cent grid it steps down to 19.99; a sell joins the offer, or steps up to 20.01
        (Side.BUY, HALF_PENNY, 19_995_000),
        (Side.BUY, None, 19_990_000),
        (Side.SELL, HALF_PENNY, 20_000_000),
        (Side.SELL, None, 20_010_000),
    ],
)
def test_noise_limit_joins_the_touch_on_the_symbols_grid(
    side: Side, tick: int | None, expected: int
) -> None:
    rng = np.random.default_rng(0)  # offset 0 bps: no random distance behind the touch

    assert noise_limit(rng, side, 19_995_000, 20_000_000, 0.0, tick) == expected
