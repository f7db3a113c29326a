"""What a wholesaler computes beside the dealer model: its PFOF rate per order, the fixed-spread
rule of the PFOF mini-project, and its limit check."""

from __future__ import annotations

from protocol.common import Side
from services.wholesaler.core import fixed_spread_price, pfof_rate, within_limit

BID, ASK = 50_000_000, 50_020_000  # $50.00 x $50.02


def test_pfof_rate_flat_or_a_share_of_the_quoted_spread() -> None:
    assert pfof_rate(3_500, 0.0, BID, ASK) == 3_500
    # 20% of a 2-cent spread is $0.004 per share.
    assert pfof_rate(3_500, 0.2, BID, ASK) == 4_000


def test_fixed_spread_price_by_hand_and_capped_at_the_nbbo() -> None:
    # mid $50.01; 1 bps of it is $0.005001, half of that $0.0025005 -> $50.0125 / $50.0075.
    assert fixed_spread_price(Side.BUY, BID, ASK, 1.0) == 50_012_600
    assert fixed_spread_price(Side.SELL, BID, ASK, 1.0) == 50_007_400
    assert fixed_spread_price(Side.BUY, BID, ASK, 100.0) == ASK
    assert fixed_spread_price(Side.SELL, BID, ASK, 100.0) == BID


def test_within_limit() -> None:
    assert within_limit(Side.BUY, 10, None)
    assert within_limit(Side.BUY, 10, 10) and not within_limit(Side.BUY, 11, 10)
    assert within_limit(Side.SELL, 10, 10) and not within_limit(Side.SELL, 9, 10)
