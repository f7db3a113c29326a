"""Proposed Rule 615's order-level terms: segmented orders, exemptions, the exposure limit.

Every figure is worked out by hand in the test from the release's terms ($200,000, 40 trades a
day, the NBBO midpoint), not taken from the code under test."""

from __future__ import annotations

import pytest

from protocol.common import Side
from services.auction.rule615 import (
    AuctionExemption,
    auction_exemption,
    exposure_limit,
    is_segmented,
)

BID, ASK = 99_990_000, 100_010_000  # $99.99 x $100.01, midpoint $100.00


@pytest.mark.parametrize(
    ("natural_person", "avg_daily_trades", "segmented"),
    [(None, None, True), (True, 39, True), (True, 40, False), (False, 1, False), (None, 3, True)],
)
def test_is_segmented_natural_person_under_40_trades_a_day(
    natural_person: bool | None, avg_daily_trades: int | None, segmented: bool
) -> None:
    assert is_segmented(natural_person, avg_daily_trades) is segmented


def test_exemption_2000_shares_at_100_is_exactly_the_200k_bound() -> None:
    # 2,000 x $100.00 = $200,000: "at least $200,000" is exempt; 1,999 shares ($199,900) not.
    assert auction_exemption(Side.BUY, 2_000, None, True, BID, ASK) is AuctionExemption.LARGE_ORDER
    assert auction_exemption(Side.BUY, 1_999, None, True, BID, ASK) is None


def test_exemption_limit_at_or_better_than_midpoint() -> None:
    # A buy limit at $100.00 (the midpoint) or lower; a sell limit at $100.00 or higher.
    mid = 100_000_000
    limit_at = AuctionExemption.LIMIT_AT_MIDPOINT
    assert auction_exemption(Side.BUY, 100, mid, True, BID, ASK) is limit_at
    assert auction_exemption(Side.BUY, 100, mid + 1_000, True, BID, ASK) is None
    assert auction_exemption(Side.SELL, 100, mid, True, BID, ASK) is limit_at
    assert auction_exemption(Side.SELL, 100, mid - 1_000, True, BID, ASK) is None


def test_exemption_not_segmented_skips_the_auction_without_an_nbbo() -> None:
    exempt = auction_exemption(Side.SELL, 10, None, False, None, None)
    assert exempt is AuctionExemption.NOT_SEGMENTED
    assert auction_exemption(Side.SELL, 10_000, None, True, None, None) is None


def test_exposure_limit_market_order_at_the_far_side_limit_order_at_its_own() -> None:
    assert exposure_limit(Side.BUY, None, BID, ASK) == ASK
    assert exposure_limit(Side.SELL, None, BID, ASK) == BID
    assert exposure_limit(Side.BUY, ASK + 50_000, BID, ASK) == ASK + 50_000
