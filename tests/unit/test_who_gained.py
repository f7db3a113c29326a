"""Who gained what: the welfare accounting added up by kind of party, per 100 retail shares."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.report_render import Table
from orchestration.who_gained import SUM_ROW, who_gained, who_gained_blocks


def welfare() -> pd.DataFrame:
    """pfof: 100 retail shares, the investor -$1.00, the broker +$0.30, two wholesalers +$0.40
    and +$0.30; auction: 50 retail shares, the investor -$0.50, a market maker +$0.50; and a
    block outside the regimes that must not count."""
    rows = [
        ("pfof", "retail", "retail", -1_000_000, 100),
        ("pfof", "broker", "broker", 300_000, 100),
        ("pfof", "wh-a", "wholesaler", 400_000, 60),
        ("pfof", "wh-b", "wholesaler", 300_000, 40),
        ("auction", "retail", "retail", -500_000, 50),
        ("auction", "amm-0", "auction_market_maker", 500_000, 50),
        ("outside", "noise", "noise", -7_000_000, 900),
        ("outside", "mm-lit-a", "lit_market_maker", 7_000_000, 900),
    ]
    frame = pd.DataFrame(rows, columns=["regime", "party", "party_type", "gain_micros", "shares"])
    return frame.assign(gain_usd=frame["gain_micros"] / 1e6, trades=1)


def test_who_gained_adds_parties_by_kind_per_100_retail_shares():
    table = who_gained(welfare()).set_index("party_type")

    assert list(table.index) == ["retail", "broker", "wholesaler", "auction_market_maker"]
    assert table.loc["wholesaler", "pfof_usd"] == pytest.approx(0.70)
    assert table.loc["retail", "pfof_usd_per_100_shares"] == pytest.approx(-1.00)
    assert table.loc["retail", "auction_usd_per_100_shares"] == pytest.approx(-1.00)  # 0.50 / 50
    assert table.loc["retail", "auction_minus_pfof_usd_per_100_shares"] == pytest.approx(0.0)
    assert table.loc["wholesaler", "auction_minus_pfof_usd_per_100_shares"] == pytest.approx(-0.70)


def test_who_gained_each_regime_sums_to_zero_and_the_report_shows_the_sum():
    table = who_gained(welfare())
    blocks = who_gained_blocks(table, ["pfof", "auction"])

    assert table["pfof_micros"].sum() == 0 and table["auction_micros"].sum() == 0
    shown = next(b for b in blocks if isinstance(b, Table))
    total = shown.rows[-1]
    assert total["party"] == SUM_ROW and total["pfof_usd"] == 0 and total["auction_usd"] == 0


def test_who_gained_without_welfare_says_why():
    empty = welfare().iloc[:0]

    blocks = who_gained_blocks(who_gained(empty), ["pfof"])

    assert not any(isinstance(b, Table) for b in blocks)
    assert "destination_fills" in blocks[-1].text  # type: ignore[union-attr]
