"""The one dealer model: its price rule, its channel accounting, and its markup learner.

The learner is checked against games whose answer is known by hand: a monopolist facing a buyer
who takes any price up to a cap learns to charge the cap; Bertrand competitors with a common
cost learn to price one grid step above cost (the lowest profitable price).
"""

from __future__ import annotations

import random

import pytest

from protocol.common import Side
from services.dealer.core import (
    Channel,
    Costs,
    MarkupLearner,
    inventory_charge,
    quote,
    view_cost,
)

BID, ASK = 50_000_000, 50_010_000  # $50.00 x $50.01: mid $50.005, half-spread $0.005


def test_costs_add_up_and_adverse_selection_is_never_a_credit() -> None:
    assert Costs(adverse=300, inventory=-50, operating=100, pfof=2_000, fees=10).total == 2_360
    assert Costs(adverse=-900, operating=100).total == 100


def test_inventory_charge_signs() -> None:
    # Long 2,000 shares at 100 micros per share per 1k: buying more from a seller costs 200,
    # selling to a buyer (reducing the position) earns 200.
    assert inventory_charge(Side.SELL, 2_000, 100.0) == 200.0
    assert inventory_charge(Side.BUY, 2_000, 100.0) == -200.0


def test_quote_inside_the_spread_rounds_in_the_dealers_favour() -> None:
    # Buy: mid 50_005_000 + cost 1_000 + markup 1_250 = 50_007_250 -> ceil to 100: 50_007_300.
    assert quote(Side.BUY, BID, ASK, 1_000, 1_250, 100) == 50_007_300
    # Sell: 50_005_000 - 2_250 = 50_002_750 -> floor to 100: 50_002_700.
    assert quote(Side.SELL, BID, ASK, 1_000, 1_250, 100) == 50_002_700
    # On the auction's $0.001 grid: 50_007_250 -> 50_008_000; 50_002_750 -> 50_002_000.
    assert quote(Side.BUY, BID, ASK, 1_000, 1_250, 1_000) == 50_008_000
    assert quote(Side.SELL, BID, ASK, 1_000, 1_250, 1_000) == 50_002_000


def test_quote_caps_at_the_touch_while_cost_is_covered_and_declines_beyond() -> None:
    # Cost 4_000 + markup 3_000 reaches past the ask (50_012_000): the ask covers the cost.
    assert quote(Side.BUY, BID, ASK, 4_000, 3_000, 100) == ASK
    assert quote(Side.SELL, BID, ASK, 4_000, 3_000, 100) == BID
    # Cost alone beyond the half-spread: no trade.
    assert quote(Side.BUY, BID, ASK, 5_001, 0, 100) is None
    assert quote(Side.SELL, BID, ASK, 5_001, 0, 100) is None


def test_quote_respects_the_order_limit() -> None:
    assert quote(Side.BUY, BID, ASK, 0, 5_000, 100, limit_price=50_008_000) == 50_008_000
    assert quote(Side.BUY, BID, ASK, 4_000, 0, 100, limit_price=50_008_000) is None
    assert quote(Side.SELL, BID, ASK, 0, 5_000, 100, limit_price=50_003_000) == 50_003_000


def test_channel_rewards_a_period_with_profit_per_order_competed_for() -> None:
    learner = MarkupLearner(arms=(0.0, 0.5, 1.0), seed=1, explore_start=0.0, explore_floor=0.0)
    channel = Channel("auction", learner, period_ns=1_000)
    assert channel.markup_share(0) == 0.5
    channel.saw_flow(10, shares=4)
    assert channel.filled(20, profit=1_000.0)
    assert channel.filled(30, profit=-200.0)
    channel.marked(
        "ACME", per_share=2.0, now_ns=40
    )  # teaches adverse selection, not this period's reward
    assert learner.periods == 0
    channel.roll(1_500)  # the period ends: settled
    assert learner.periods == 1
    assert learner.values[1] == pytest.approx((1_000.0 - 200.0) / 4)
    assert channel.history == [(0, 0.5, 200.0)]
    assert channel.charge("ACME", 1_500) == 0.0  # one markout is no evidence


def test_a_period_without_flow_teaches_nothing() -> None:
    learner = MarkupLearner(seed=1)
    channel = Channel("internalize", learner, period_ns=1_000)
    channel.roll(0)
    channel.roll(2_000)
    channel.roll(4_000)
    assert learner.periods == 0


def play(n: int, periods: int, seed: int, start: int | None = None) -> list[float]:
    """n learners, each period the lowest markup takes every order (ties split); cost is 0, so
    a learner's profit per order is its markup times its share of the orders."""
    learners = [MarkupLearner(seed=seed * 10 + i, start=start) for i in range(n)]
    orders_rng = random.Random(seed)
    for _ in range(periods):
        arms = [learner.choose() for learner in learners]
        markups = [learner.arms[a] for learner, a in zip(learners, arms, strict=True)]
        low = min(markups)
        winners = markups.count(low)
        orders = orders_rng.randint(5, 15)
        for learner, arm, markup in zip(learners, arms, markups, strict=True):
            share = orders / winners if markup == low else 0.0
            learner.update(arm, markup * share / orders)
    return [learner.markup for learner in learners]


@pytest.mark.parametrize("start", [None, 0, 10])
def test_a_monopolist_learns_to_charge_the_cap(start: int | None) -> None:
    for seed in range(10):
        assert play(1, 300, seed, start) == [1.0]


@pytest.mark.parametrize("start", [None, 0])
def test_bertrand_duopolists_learn_to_price_one_step_above_cost(start: int | None) -> None:
    for seed in range(10):
        assert play(2, 300, seed, start) == [0.1, 0.1]


def test_with_three_bidders_the_winning_markup_is_competed_down() -> None:
    winning = [min(play(3, 300, seed)) for seed in range(10)]
    assert max(winning) <= 0.2
    assert sorted(winning)[5] == 0.1


def test_channel_state_round_trips_through_its_wire_form() -> None:
    channel = Channel("auction", MarkupLearner(seed=3), period_ns=10)
    for k in range(40):
        channel.saw_flow(k * 10, 1)
        channel.filled(k * 10 + 1, float(100 * (k % 7)))
        channel.marked("ACME", float(k % 5 - 2), k * 10 + 2)
    channel.roll(1_000)
    state = channel.snapshot()
    copy = Channel("auction", MarkupLearner(seed=3), period_ns=10)
    copy.restore(state)
    assert copy.snapshot() == state
    assert copy.learner.markup == channel.learner.markup
    assert copy.charge("ACME", 5_000) == pytest.approx(channel.charge("ACME", 1_000), abs=1e-3)
    with pytest.raises(ValueError, match="arms"):
        MarkupLearner(arms=(0.0, 1.0)).load(0, 0, [0, 0, 0], [0, 0, 0])


def test_a_channel_with_a_credit_delay_counts_only_what_follows_it() -> None:
    # The scorecard answers a new markup after 500 ns here: what happens before that in a
    # period was earned by the previous markup and is not credited to this one.
    learner = MarkupLearner(arms=(0.0, 0.5, 1.0), seed=1, explore_start=0.0, explore_floor=0.0)
    channel = Channel("internalize", learner, period_ns=1_000, credit_delay_ns=500)
    channel.roll(0)
    channel.saw_flow(100, shares=7)
    early = channel.filled(200, profit=9_999.0)
    channel.saw_flow(600, shares=2)
    late = channel.filled(700, profit=300.0)
    assert (early, late) == (False, True)
    channel.roll(1_000)
    assert learner.values[1] == pytest.approx(300.0 / 2)


def test_a_late_fill_is_credited_to_the_period_that_saw_its_order() -> None:
    # An auction fill arrives a window after its notice, possibly in the next period: it counts
    # for the period (and markup) that priced it, which settles only after the grace.
    learner = MarkupLearner(arms=(0.0, 0.5, 1.0), seed=1, explore_start=0.0, explore_floor=0.0)
    channel = Channel("auction", learner, period_ns=1_000, settle_grace_ns=300)
    channel.roll(0)  # period 0: [0, 1000)
    token = channel.saw_flow(900, shares=100)
    channel.roll(1_000)  # period 0 ends; period 1 starts
    assert learner.periods == 0
    assert channel.filled(1_100, profit=5_000.0, token=token)
    channel.roll(1_400)  # past the grace: period 0 settles with its late fill
    assert learner.periods == 1 and learner.values[1] == pytest.approx(50.0)
    assert not channel.filled(1_500, profit=1.0, token=token)  # too late: already settled


def test_a_fills_markout_is_credited_to_its_period_until_that_period_settles() -> None:
    # reward = "marked": a fill earns 1_000 against the mid at the fill; its markout (the mid
    # moved 6 against 100 shares: -600) arrives inside the grace and is credited to the same
    # period, so the markup is paid (1_000 - 600) / 50 shares competed for = 8 per share.
    learner = MarkupLearner(arms=(0.0, 0.5, 1.0), seed=1, explore_start=0.0, explore_floor=0.0)
    channel = Channel("auction", learner, period_ns=1_000, settle_grace_ns=300)
    channel.roll(0)
    token = channel.saw_flow(100, shares=50)
    assert channel.filled(200, profit=1_000.0, token=token)
    channel.roll(1_000)  # period 0 ends, settles at 1_300
    assert channel.credit(token, -6.0 * 100)
    channel.roll(1_300)
    assert learner.values[1] == pytest.approx((1_000.0 - 600.0) / 50)
    assert not channel.credit(token, -1.0)  # settled: a later markout is not credited


def test_a_bidder_stranded_above_its_rival_learns_to_undercut_it() -> None:
    """A rival bids a fixed 0.4 and declines one order in ten; the learner starts at the top of
    the grid. By hand: below 0.4 it wins every order and earns its markup m; at or above 0.4 it
    wins only the declined tenth (half of them at a tie), so the top (1.0) earns 0.1 while 0.9
    earns 0.09 — a local optimum. The best response is 0.3 (0.3 > 0.1)."""
    for seed in range(10):
        learner = MarkupLearner(seed=seed, start=10)
        rng = random.Random(seed)
        for _ in range(600):
            arm = learner.choose()
            markup = learner.arms[arm]
            won = 0.0
            orders = 20
            for _ in range(orders):
                declined = rng.random() < 0.1
                if markup < 0.4 or declined:
                    won += markup
                elif markup == 0.4:
                    won += markup / 2
            learner.update(arm, won / orders)
        assert learner.markup == 0.3, seed


def test_without_long_jumps_the_stranded_bidder_stays_at_the_top() -> None:
    """The same game with local exploration only: the local optimum holds (why the learner
    has ``explore_global``)."""
    stuck = 0
    for seed in range(10):
        learner = MarkupLearner(seed=seed, start=10, explore_global=0.0)
        rng = random.Random(seed)
        for _ in range(600):
            arm = learner.choose()
            markup = learner.arms[arm]
            won = sum(markup for _ in range(20) if markup < 0.4 or rng.random() < 0.1)
            learner.update(arm, won / 20)
        stuck += learner.markup >= 0.9
    assert stuck >= 6  # 7 of these 10 seeds


@pytest.mark.parametrize(
    ("side", "shift", "symmetric", "protective"),
    [
        # A buy: a reference below the mid favours the dealer (it sells above its value).
        (Side.BUY, -2_000.0, -2_000.0, 0.0),
        (Side.BUY, 2_000.0, 2_000.0, 2_000.0),
        # A sell: the dealer buys; a reference above the mid favours it.
        (Side.SELL, 2_000.0, -2_000.0, 0.0),
        (Side.SELL, -2_000.0, 2_000.0, 2_000.0),
    ],
)
def test_view_cost_protective_only_ever_raises_the_dealers_cost(
    side: Side, shift: float, symmetric: float, protective: float
) -> None:
    assert view_cost(side, shift, protective=False) == symmetric
    assert view_cost(side, shift, protective=True) == protective


def test_an_informed_dealer_that_shades_keeps_the_gap_a_symmetric_one_gives_away() -> None:
    # The value is $0.0015 below the mid ($50.005) and an investor buys: cost 100, markup 1_000.
    # Symmetric: 50_005_000 - 1_500 + 1_100 = 50_004_600, under the mid (the investor gets the
    # dealer's information). Protective: 50_005_000 + 1_100 = 50_006_100, as an uninformed
    # dealer would quote; the dealer's profit against the value is 1_500 more per share.
    symmetric = quote(Side.BUY, BID, ASK, 100 + view_cost(Side.BUY, -1_500, False), 1_000, 100)
    shaded = quote(Side.BUY, BID, ASK, 100 + view_cost(Side.BUY, -1_500, True), 1_000, 100)
    uninformed = quote(Side.BUY, BID, ASK, 100, 1_000, 100)

    assert (symmetric, shaded, uninformed) == (50_004_600, 50_006_100, 50_006_100)
