"""Spec tests for the wholesaler core: internalisation pricing, auction bids, P&L books, EWMA."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import Side
from services.wholesaler.core import (
    SUBPENNY,
    Accounts,
    Economics,
    Ewma,
    MarkoutEstimate,
    auction_price,
    internalization_price,
)

P100 = 100_000_000
CENT = 10_000
ECON = Economics(
    pfof_per_share=4_000,  # $0.0040
    target_margin_share=0.35,
    min_margin=500,  # $0.0005
    auction_margin=1_000,  # $0.0010
    max_order_qty=20_000,
    inventory_limit=100_000,
)
NO_PFOF = dataclasses.replace(ECON, pfof_per_share=0)
WIDE_BID, WIDE_ASK = P100, P100 + 4 * CENT  # $100.00 x $100.04, mid $100.02


def economics(
    pfof: int = 4_000, share: float = 0.35, min_margin: int = 500, auction: int = 1_000
) -> Economics:
    return dataclasses.replace(
        ECON,
        pfof_per_share=pfof,
        target_margin_share=share,
        min_margin=min_margin,
        auction_margin=auction,
    )


# --- internalization_price: hand-computed ---------------------------------------------------


def test_internalization_price_wide_spread_buy_improves_by_leftover() -> None:
    # mid 100_020_000, half 20_000, margin 0.35 * 20_000 = 7_000, + pfof 4_000 = 11_000
    assert internalization_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK) == 100_031_000


def test_internalization_price_wide_spread_sell_improves_by_leftover() -> None:
    assert internalization_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK) == 100_009_000


def test_internalization_price_off_grid_cost_rounds_against_investor() -> None:
    # 1-cent spread, no PFOF: mid 100_005_000 +/- 0.35 * 5_000 = 1_750 -> 100_006_750 / 100_003_250
    assert internalization_price(NO_PFOF, Side.BUY, P100, P100 + CENT) == 100_006_800
    assert internalization_price(NO_PFOF, Side.SELL, P100, P100 + CENT) == 100_003_200


def test_internalization_price_small_share_uses_min_margin() -> None:
    # 0.05 * 5_000 = 250 < min_margin 500
    econ = economics(pfof=0, share=0.05)

    assert internalization_price(econ, Side.BUY, P100, P100 + CENT) == 100_005_500
    assert internalization_price(econ, Side.SELL, P100, P100 + CENT) == 100_004_500


def test_internalization_price_costs_exceed_half_spread_fills_at_nbbo() -> None:
    # 1-cent spread: 1_750 + 4_000 = 5_750 > half spread 5_000 -> no improvement
    assert internalization_price(ECON, Side.BUY, P100, P100 + CENT) == P100 + CENT
    assert internalization_price(ECON, Side.SELL, P100, P100 + CENT) == P100


def test_internalization_price_adverse_selection_widens_both_sides() -> None:
    # 11_000 + 3_000 adverse = 14_000 from mid
    assert internalization_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, 3_000.0) == 100_034_000
    assert internalization_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, 3_000.0) == 100_006_000


def test_internalization_price_negative_adverse_counts_as_zero() -> None:
    assert internalization_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, -3_000.0) == 100_031_000
    assert internalization_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, -3_000.0) == 100_009_000


# --- internalization_price: properties -------------------------------------------------------

mids = st.integers(5_000, 20_000).map(lambda cents: cents * CENT)  # $50..$200, on the cent grid
half_spreads = st.integers(1, 40).map(lambda half_cents: half_cents * CENT // 2)
pfofs = st.integers(0, 10_000)
shares = st.floats(0.0, 1.0)
min_margins = st.integers(0, 5_000)
adverses = st.floats(-5_000.0, 30_000.0)


def improvement(econ: Economics, side: Side, bid: int, ask: int, adverse: float = 0.0) -> int:
    price = internalization_price(econ, side, bid, ask, adverse)
    return ask - price if side is Side.BUY else price - bid


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(Side), mids, half_spreads, pfofs, shares, min_margins, adverses)
def test_internalization_price_any_inputs_within_nbbo_on_subpenny_grid(
    side: Side, mid: int, half: int, pfof: int, share: float, min_margin: int, adverse: float
) -> None:
    bid, ask = mid - half, mid + half
    econ = economics(pfof=pfof, share=share, min_margin=min_margin)

    price = internalization_price(econ, side, bid, ask, adverse)

    assert bid <= price <= ask
    assert price % SUBPENNY == 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(Side), mids, half_spreads, pfofs, pfofs, shares)
def test_internalization_price_higher_pfof_improvement_not_larger(
    side: Side, mid: int, half: int, pfof_a: int, pfof_b: int, share: float
) -> None:
    low, high = sorted((pfof_a, pfof_b))

    bid, ask = mid - half, mid + half

    improvement_low = improvement(economics(pfof=low, share=share), side, bid, ask)
    improvement_high = improvement(economics(pfof=high, share=share), side, bid, ask)

    assert improvement_high <= improvement_low


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(Side), mids, half_spreads, half_spreads, pfofs, shares, min_margins)
def test_internalization_price_wider_spread_improvement_not_smaller(
    side: Side, mid: int, half_a: int, half_b: int, pfof: int, share: float, min_margin: int
) -> None:
    narrow, wide = sorted((half_a, half_b))
    econ = economics(pfof=pfof, share=share, min_margin=min_margin)

    improvement_narrow = improvement(econ, side, mid - narrow, mid + narrow)
    improvement_wide = improvement(econ, side, mid - wide, mid + wide)

    assert improvement_wide >= improvement_narrow


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(Side), mids, half_spreads, pfofs, shares, adverses, adverses)
def test_internalization_price_more_adverse_selection_improvement_not_larger(
    side: Side, mid: int, half: int, pfof: int, share: float, adverse_a: float, adverse_b: float
) -> None:
    benign, toxic = sorted((adverse_a, adverse_b))
    econ = economics(pfof=pfof, share=share)

    improvement_benign = improvement(econ, side, mid - half, mid + half, benign)
    improvement_toxic = improvement(econ, side, mid - half, mid + half, toxic)

    assert improvement_toxic <= improvement_benign


def test_internalization_price_pfof_steps_shrink_improvement_strictly_on_wide_spread() -> None:
    # $0.04 spread, share 0.35: leftover 20_000 - 7_000 - pfof
    improvements = [
        improvement(economics(pfof=pfof), Side.BUY, WIDE_BID, WIDE_ASK)
        for pfof in (0, 2_000, 4_000)
    ]

    assert improvements == [13_000, 11_000, 9_000]


# --- auction_price: hand-computed ------------------------------------------------------------

INC = 1_000  # $0.001 auction increment


def test_auction_price_no_rivals_bids_at_nbbo() -> None:
    assert auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, expected_rivals=0) == WIDE_ASK
    assert auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, expected_rivals=0) == WIDE_BID


def test_auction_price_one_rival_keeps_half_the_room() -> None:
    # buy: floor 100_021_000, room 19_000 -> 100_030_500 -> ceil to 100_031_000
    # sell: floor 100_019_000, room 19_000 -> 100_009_500 -> floor to 100_009_000
    assert auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, expected_rivals=1) == 100_031_000
    assert auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, expected_rivals=1) == 100_009_000


def test_auction_price_three_rivals_keeps_a_quarter_of_the_room() -> None:
    # buy: 100_021_000 + 4_750 = 100_025_750 -> 100_026_000; sell: 100_014_250 -> 100_014_000
    assert auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, expected_rivals=3) == 100_026_000
    assert auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, expected_rivals=3) == 100_014_000


def test_auction_price_buy_limit_inside_nbbo_caps_price() -> None:
    limit = 100_030_000

    at_limit = auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, 0, limit_price=limit)
    # floor 100_021_000 + half of 9_000 = 100_025_500 -> 100_026_000
    one_rival = auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, 1, limit_price=limit)

    assert (at_limit, one_rival) == (100_030_000, 100_026_000)


def test_auction_price_sell_limit_inside_nbbo_floors_price() -> None:
    price = auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, 0, limit_price=100_010_000)

    assert price == 100_010_000


def test_auction_price_limit_beyond_nbbo_ignored() -> None:
    buy = auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, 0, limit_price=100_100_000)
    sell = auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, 0, limit_price=99_900_000)

    assert (buy, sell) == (WIDE_ASK, WIDE_BID)


def test_auction_price_buy_limit_below_reservation_declines() -> None:
    assert (
        auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, 0, limit_price=100_020_500) is None
    )


def test_auction_price_sell_limit_above_reservation_declines() -> None:
    assert (
        auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, 0, limit_price=100_019_500) is None
    )


def test_auction_price_reservation_beyond_nbbo_declines() -> None:
    # 1-cent spread: mid 100_005_000 +/- 6_000 lies outside 100_000_000 x 100_010_000
    econ = economics(auction=6_000)

    assert auction_price(econ, Side.BUY, P100, P100 + CENT, INC, 0) is None
    assert auction_price(econ, Side.SELL, P100, P100 + CENT, INC, 0) is None


def test_auction_price_adverse_selection_beyond_nbbo_declines() -> None:
    # floor 100_020_000 + 1_000 + 20_000 = 100_041_000 > ask
    toxic = 20_000.0

    assert (
        auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, 0, adverse_per_share=toxic) is None
    )
    assert (
        auction_price(ECON, Side.SELL, WIDE_BID, WIDE_ASK, INC, 0, adverse_per_share=toxic) is None
    )


def test_auction_price_no_grid_price_between_reservation_and_limit_declines() -> None:
    # cent increment; floor 100_011_000, limit 100_015_000: no whole cent in between
    bid, ask = P100, P100 + 2 * CENT

    assert auction_price(ECON, Side.BUY, bid, ask, CENT, 0, limit_price=100_015_000) is None


def test_auction_price_no_pfof_in_auction() -> None:
    # the same order priced with pfof 0 and pfof 10_000: auctions ignore PFOF
    expensive = economics(pfof=10_000)

    assert auction_price(expensive, Side.BUY, WIDE_BID, WIDE_ASK, INC, 1) == 100_031_000


# --- auction_price: properties ---------------------------------------------------------------

increments = st.sampled_from([100, 1_000, CENT])
rivals = st.floats(0.0, 10.0)
limit_offsets = st.none() | st.integers(-600, 600).map(lambda steps: steps * 100)
auction_margins = st.integers(0, 20_000)


def worst_price(side: Side, bid: int, ask: int, limit: int | None) -> int:
    if side is Side.BUY:
        return ask if limit is None else min(ask, limit)
    return bid if limit is None else max(bid, limit)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(Side),
    mids,
    half_spreads,
    increments,
    rivals,
    limit_offsets,
    auction_margins,
    adverses,
)
def test_auction_price_any_inputs_on_grid_within_nbbo_limit_and_reservation(
    side: Side,
    mid: int,
    half: int,
    increment: int,
    expected_rivals: float,
    limit_offset: int | None,
    margin: int,
    adverse: float,
) -> None:
    bid, ask = mid - half, mid + half
    limit = None if limit_offset is None else mid + limit_offset
    econ = economics(auction=margin)

    price = auction_price(econ, side, bid, ask, increment, expected_rivals, limit, adverse)

    if price is None:
        return
    assert price % increment == 0
    reservation = margin + max(0.0, adverse)
    if side is Side.BUY:
        assert mid + reservation <= price <= worst_price(Side.BUY, bid, ask, limit)
    else:
        assert worst_price(Side.SELL, bid, ask, limit) <= price <= mid - reservation


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(Side),
    mids,
    half_spreads,
    increments,
    rivals,
    rivals,
    limit_offsets,
    auction_margins,
)
def test_auction_price_more_rivals_price_not_worse_for_investor(
    side: Side,
    mid: int,
    half: int,
    increment: int,
    rivals_a: float,
    rivals_b: float,
    limit_offset: int | None,
    margin: int,
) -> None:
    few, many = sorted((rivals_a, rivals_b))
    limit = None if limit_offset is None else mid + limit_offset
    econ = economics(auction=margin)
    bid, ask = mid - half, mid + half

    price_few = auction_price(econ, side, bid, ask, increment, few, limit)
    price_many = auction_price(econ, side, bid, ask, increment, many, limit)

    assert (price_few is None) == (price_many is None)
    if price_few is not None and price_many is not None:
        assert price_many <= price_few if side is Side.BUY else price_many >= price_few


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(Side), mids, half_spreads, increments, auction_margins)
def test_auction_price_no_rivals_nbbo_on_grid_bids_at_nbbo(
    side: Side, mid: int, half: int, increment: int, margin: int
) -> None:
    bid, ask = mid - half, mid + half
    econ = economics(auction=margin)
    reservation_fits = (mid + margin <= ask) if side is Side.BUY else (mid - margin >= bid)
    nbbo = ask if side is Side.BUY else bid

    price = auction_price(econ, side, bid, ask, increment, 0)

    if reservation_fits and nbbo % increment == 0:
        assert price == nbbo
    elif not reservation_fits:
        assert price is None


def test_auction_price_rivals_ladder_improves_monotonically() -> None:
    prices = [auction_price(ECON, Side.BUY, WIDE_BID, WIDE_ASK, INC, k) for k in range(6)]

    # floor 100_021_000 + 19_000 / (1 + k), ceil to $0.001
    assert prices == [100_040_000, 100_031_000, 100_028_000, 100_026_000, 100_025_000, 100_025_000]


# --- Accounts --------------------------------------------------------------------------------


def test_accounts_sell_then_hedge_decomposes_by_hand() -> None:
    accounts = Accounts()
    # sells 100 to a retail buyer at $100.003 when mid is $100.00, paying $0.40 PFOF
    accounts.trade("ACME", -100, 100_003_000, 100_000_000.0, hedge=False, pfof=400_000)
    # hedges: buys 100 on a lit venue at $100.01 when mid is $100.005, paying $0.30 in fees
    accounts.trade("ACME", 100, 100_010_000, 100_005_000.0, hedge=True, fee=300_000)

    components = accounts.components({"ACME": 100_007_000.0})

    # cash: +10_000_300_000 - 400_000 - 10_001_000_000 - 300_000 = -1_400_000; flat inventory
    # residual: market moved +5_000 against the 100-share short before the hedge = -500_000
    assert accounts.cash == -1_400_000
    assert accounts.inventory == {"ACME": 0}
    assert components == {
        "total": -1_400_000,
        "spread_capture": 300_000,
        "pfof_paid": 400_000,
        "fees": 300_000,
        "hedge_cost": 500_000,
        "inventory_and_adverse_selection": -500_000,
    }


def test_accounts_open_position_marked_to_mid() -> None:
    accounts = Accounts()
    accounts.trade("ACME", 200, 99_990_000, 100_000_000.0, hedge=False)

    components = accounts.components({"ACME": 100_050_000.0})

    # 200 * (100_050_000 - 99_990_000) = 12_000_000; capture 200 * 10_000 = 2_000_000
    assert components["total"] == 12_000_000
    assert components["spread_capture"] == 2_000_000
    assert components["inventory_and_adverse_selection"] == 10_000_000


trades = st.lists(
    st.tuples(
        st.sampled_from(["ACME", "BOLT"]),
        st.integers(-2_000, 2_000).filter(lambda q: q != 0),
        st.integers(-500, 500).map(lambda steps: P100 + steps * 100),  # price
        st.integers(-1_000, 1_000).map(lambda halves: P100 + halves * 50.0),  # mid (half-micro ok)
        st.booleans(),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    ),
    min_size=5,
    max_size=40,
)
final_mids = st.integers(-10_000, 10_000).map(lambda halves: P100 + halves * 50.0)


@settings(max_examples=200, deadline=None)
@given(trades, final_mids, final_mids)
def test_accounts_random_trades_components_add_up_to_total(
    sequence: list[tuple[str, int, int, float, bool, int, int]], acme_mid: float, bolt_mid: float
) -> None:
    accounts = Accounts()
    marks = {"ACME": acme_mid, "BOLT": bolt_mid}
    exact_total = 0.0
    for symbol, qty, price, mid, hedge, fee, pfof in sequence:
        fee_charged, pfof_paid = (fee, 0) if hedge else (0, pfof)  # hedges pay fees, retail PFOF
        accounts.trade(symbol, qty, price, mid, hedge=hedge, fee=fee_charged, pfof=pfof_paid)
        exact_total += qty * (marks[symbol] - price) - fee_charged - pfof_paid

    components = accounts.components(marks)

    known = (
        components["spread_capture"]
        - components["pfof_paid"]
        - components["fees"]
        - components["hedge_cost"]
    )
    assert components["total"] == known + components["inventory_and_adverse_selection"]
    assert components["pfof_paid"] == sum(t[6] for t in sequence if not t[4])
    assert components["fees"] == sum(t[5] for t in sequence if t[4])
    # the residual is what the marks did to each trade's shares after it: sum q * (mark - mid)
    market_move = sum(qty * (marks[s] - mid) for s, qty, _, mid, *_ in sequence)
    assert components["inventory_and_adverse_selection"] == pytest.approx(market_move, abs=2.0)
    assert components["total"] == pytest.approx(exact_total, abs=1.0)


# --- Ewma ------------------------------------------------------------------------------------


def test_ewma_first_update_takes_the_sample() -> None:
    ewma = Ewma(alpha=0.1)

    assert ewma.update(40.0) == 40.0
    assert ewma.seen == 1


def test_ewma_later_updates_move_alpha_of_the_way() -> None:
    ewma = Ewma(alpha=0.5)
    ewma.update(10.0)

    # 10 + 0.5 * (20 - 10) = 15; 15 + 0.5 * (20 - 15) = 17.5; 17.5 + 0.5 * (-2.5 - 17.5) = 7.5
    assert [ewma.update(20.0), ewma.update(20.0), ewma.update(-2.5)] == [15.0, 17.5, 7.5]
    assert ewma.seen == 4


def test_ewma_constant_input_stays_constant() -> None:
    ewma = Ewma(alpha=0.3)

    values = [ewma.update(7.0) for _ in range(10)]

    assert values == [7.0] * 10


def test_markout_estimate_zero_mean_noise_charges_nothing() -> None:
    rng = np.random.default_rng(3)
    estimate = MarkoutEstimate()

    for markout in rng.normal(0.0, 40_000.0, size=400):  # $0.04 noise, no edge
        estimate.update(float(markout))

    assert estimate.charge < 2_000


def test_markout_estimate_consistently_toxic_flow_is_charged_most_of_its_mean() -> None:
    rng = np.random.default_rng(4)
    estimate = MarkoutEstimate()

    for markout in rng.normal(30_000.0, 10_000.0, size=100):  # the mid moves $0.03 against us
        estimate.update(float(markout))

    assert 20_000 < estimate.charge < 35_000


def test_markout_estimate_needs_two_markouts_before_charging() -> None:
    estimate = MarkoutEstimate()

    assert estimate.update(50_000.0) == 0.0


def test_markout_estimate_one_early_outlier_does_not_linger_in_the_price() -> None:
    rng = np.random.default_rng(5)
    estimate = MarkoutEstimate()
    estimate.update(60_000.0)  # one unlucky early markout: the mid moved $0.06 against us

    for markout in rng.normal(0.0, 30_000.0, size=20):  # then uninformed flow
        estimate.update(float(markout))

    # Weighted as one markout among 21 (not seeded as the average and slowly decayed), it
    # leaves the estimate well inside its own standard error: nothing charged.
    assert estimate.effective_n > 18
    assert estimate.charge == 0.0


def test_markout_estimate_rarely_charges_uninformed_flow_early_on() -> None:
    charged = 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        estimate = MarkoutEstimate()
        for markout in rng.normal(0.0, 30_000.0, size=30):
            estimate.update(float(markout))
        charged += estimate.charge > 0
    # Two standard errors: a one-sided false alarm about 2.5% of the time (t with ~29 d.f.).
    assert charged / 400 < 0.05
