"""The dealer's accounts (P&L decomposed) and its markout estimate of adverse selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dealer.core import Accounts, MarkoutEstimate

P100 = 100_000_000

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


# --- MarkoutEstimate -----------------------------------------------------------------------


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


# --- MarkoutEstimate: evidence that ages ---------------------------------------------------
HALF_LIFE_NS = 10_000_000_000  # 10 s


def _two_point_estimate(n: int, mean: float, spread: float, half_life_ns: int) -> MarkoutEstimate:
    """``n`` markouts at one instant, half at ``mean + spread`` and half at ``mean - spread``,
    with no per-markout forgetting: equal weights, so the mean, the count and the sample
    variance are those of the plain sample (by hand: mean, n, spread^2 * n / (n - 1))."""
    estimate = MarkoutEstimate(alpha=0.0, half_life_ns=half_life_ns)
    for k in range(n):
        estimate.update(mean + (spread if k % 2 else -spread), now_ns=0)
    return estimate


def test_markout_estimate_charges_the_mean_less_two_standard_errors_over_the_count() -> None:
    estimate = _two_point_estimate(100, 30_000.0, 10_000.0, HALF_LIFE_NS)

    # 30,000 - 2 * sqrt(10,000^2 * 100/99 / 100) = 30,000 - 20,000 / sqrt(99)
    assert estimate.count == pytest.approx(100.0)
    assert estimate.charge == pytest.approx(30_000.0 - 20_000.0 / math.sqrt(99.0))


@pytest.mark.parametrize("half_lives", [1, 2, 4])
def test_markout_estimate_loses_confidence_as_its_evidence_ages(half_lives: int) -> None:
    estimate = _two_point_estimate(100, 30_000.0, 10_000.0, HALF_LIFE_NS)

    charge = estimate.charge_at(half_lives * HALF_LIFE_NS)

    # No markout since: the mean and the variance stand, the count halves every half-life, so
    # the standard error grows by sqrt(2) per half-life.
    assert estimate.mean == pytest.approx(30_000.0)
    assert estimate.count == pytest.approx(100.0 / 2**half_lives)
    assert charge == pytest.approx(30_000.0 - 20_000.0 * 2 ** (half_lives / 2) / math.sqrt(99.0))


def test_a_stale_cost_falls_to_nothing_and_without_ageing_it_never_would() -> None:
    ageing = _two_point_estimate(100, 30_000.0, 10_000.0, HALF_LIFE_NS)
    frozen = _two_point_estimate(100, 30_000.0, 10_000.0, 0)

    # Zero once 2 * 10,000 * 2^(k/2) / sqrt(99) >= 30,000, i.e. after k >= 7.8 half-lives.
    assert ageing.charge_at(7 * HALF_LIFE_NS) > 0.0
    assert ageing.charge_at(8 * HALF_LIFE_NS) == 0.0
    assert frozen.charge_at(100 * HALF_LIFE_NS) == pytest.approx(frozen.charge_at(0))


def test_markout_estimate_count_settles_where_forgetting_balances_arrivals() -> None:
    # Markouts every 1 s, each decaying 2% per later markout and by 2^(-1/10) per second:
    # the count settles at 1 / (1 - 0.98 * 2^(-0.1)) (a geometric series).
    estimate = MarkoutEstimate(alpha=0.02, half_life_ns=HALF_LIFE_NS)
    for k in range(2_000):
        estimate.update(0.0, now_ns=k * 1_000_000_000)

    assert estimate.count == pytest.approx(1.0 / (1.0 - 0.98 * 2**-0.1))


def test_a_loaded_estimate_starts_ageing_when_it_is_loaded() -> None:
    source = _two_point_estimate(100, 30_000.0, 10_000.0, HALF_LIFE_NS)
    copy = MarkoutEstimate(alpha=0.0, half_life_ns=HALF_LIFE_NS)
    copy.load(source.state())

    # A warm start is as fresh as the lab that loads it, whatever that lab's clock reads...
    assert copy.charge_at(123 * HALF_LIFE_NS) == pytest.approx(source.charge, abs=1.0)
    # ...and ages from there.
    assert copy.charge_at(125 * HALF_LIFE_NS) == pytest.approx(
        source.charge_at(2 * HALF_LIFE_NS), abs=1.0
    )


# --- MarkoutEstimate: the "posterior" rule ------------------------------------------------


def test_posterior_charge_is_the_shrunk_weighted_mean_by_hand() -> None:
    estimate = MarkoutEstimate(prior_n=20.0)  # alpha 0.02: each later markout keeps 98%
    for markout in (3.0, 5.0, -1.0):
        estimate.update(markout)

    # weights 0.98^2, 0.98, 1: (3 x 0.9604 + 5 x 0.98 - 1) / (0.9604 + 0.98 + 1 + 20)
    assert estimate.charge == pytest.approx(6.7812 / 22.9404)


def test_posterior_charge_goes_negative_for_favourable_flow_and_back_to_zero_when_stale() -> None:
    estimate = MarkoutEstimate(alpha=0.0, prior_n=10.0, half_life_ns=1_000)
    for _ in range(10):
        estimate.update(-4.0, now_ns=0)
    assert estimate.charge == pytest.approx(-40.0 / 20.0)  # no floor at zero

    # after two half-lives the evidence weighs a quarter: -10 / (2.5 + 10)
    assert estimate.charge_at(2_000) == pytest.approx(-10.0 / 12.5)


def test_posterior_charge_of_uninformed_flow_is_unbiased_unlike_a_floored_rule() -> None:
    rng = np.random.default_rng(7)
    posterior, floored = [], []
    for _ in range(400):
        estimate = MarkoutEstimate(prior_n=20.0)
        for markout in rng.normal(0.0, 5.0, 60):
            estimate.update(float(markout))
        posterior.append(estimate.charge)
        floored.append(max(0.0, estimate.mean))
    # zero on average (the standard error of the mean of 400 charges is about 0.02)
    assert abs(float(np.mean(posterior))) < 0.1
    assert float(np.mean(floored)) > 0.2  # a floor at zero would charge noise
