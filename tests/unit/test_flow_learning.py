"""Market makers' flow learning: flow memory, the learned coefficient, the late view."""

from __future__ import annotations

import numpy as np

from services.flow_learning import DelayedSignal, FlowImpactEstimate, SignedFlow

SECOND = 10**9


def fitted(xs: np.ndarray, ys: np.ndarray) -> FlowImpactEstimate:
    estimate = FlowImpactEstimate(horizon_ns=SECOND)
    for x, y in zip(xs, ys, strict=True):
        estimate.update(float(x), float(y))
    return estimate


def ols_by_hand(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
    """Slope and its textbook standard error, from numpy's least squares and residuals."""
    slope, intercept = np.polyfit(xs, ys, 1)
    residuals = ys - (intercept + slope * xs)
    s2 = float(residuals @ residuals) / (len(xs) - 2)
    return float(slope), float(np.sqrt(s2 / float(((xs - xs.mean()) ** 2).sum())))


def test_signed_flow_halves_every_half_life() -> None:
    flow = SignedFlow(half_life_ns=SECOND)
    flow.add(100, 0)
    # a second later: 100 / 2 = 50 left, then a 40-share sell: 10
    assert flow.add(-40, SECOND) == 10.0
    # two more half-lives: 10 / 4
    assert flow.at(3 * SECOND) == 2.5
    # reading an earlier time does not un-decay it
    assert flow.at(2 * SECOND) == 2.5


def test_signed_flow_is_zero_before_any_print() -> None:
    assert SignedFlow(half_life_ns=SECOND).at(5 * SECOND) == 0.0


def test_estimate_slope_and_stderr_are_the_ols_ones_on_a_constructed_series() -> None:
    rng = np.random.default_rng(3)
    xs = rng.normal(0.0, 1_000.0, 400)
    ys = 2e-4 + 3e-7 * xs + rng.normal(0.0, 1e-3, 400)
    estimate = fitted(xs, ys)
    slope, se = ols_by_hand(xs, ys)
    assert abs(estimate.slope - slope) < 1e-12
    assert estimate.stderr is not None and abs(estimate.stderr - se) < 1e-12
    # converges to the slope the series was built with: within 4 standard errors of 3e-7
    assert abs(estimate.slope - 3e-7) < 4 * se
    # and the coefficient used is the slope less two standard errors
    assert abs(estimate.beta - (slope - 2 * se)) < 1e-12


def test_estimate_of_flow_independent_of_later_moves_is_zero() -> None:
    rng = np.random.default_rng(11)
    xs = rng.normal(0.0, 1_000.0, 2_000)
    ys = rng.normal(0.0, 1e-3, 2_000)
    estimate = fitted(xs, ys)
    slope, se = ols_by_hand(xs, ys)
    assert abs(slope) < 2 * se  # this seed's slope is inside its noise ...
    assert estimate.beta == 0.0  # ... so nothing of it is used


def test_estimate_of_a_negative_relation_shrinks_toward_zero_from_below() -> None:
    xs = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    ys = -2.0 * xs + np.array([0.1, -0.1, 0.0, 0.1, -0.1, 0.0])
    estimate = fitted(xs, ys)
    slope, se = ols_by_hand(xs, ys)
    assert slope < -1.9
    assert abs(estimate.beta - (slope + 2 * se)) < 1e-12


def test_estimate_without_evidence_uses_nothing() -> None:
    estimate = fitted(np.array([1.0, 2.0]), np.array([0.1, 0.2]))  # two points: no stderr
    assert estimate.stderr is None and estimate.beta == 0.0
    constant = fitted(np.full(10, 7.0), np.arange(10.0))  # flow never varied: no slope
    assert constant.slope == 0.0 and constant.beta == 0.0


def test_fair_value_moves_by_the_learned_coefficient_times_the_flow() -> None:
    # an exact line y = 1e-6 x: slope 1e-6, no residual, so beta = 1e-6 per share; a view of
    # $50 (50,000,000 micro-dollars) after 2,000 shares bought: 50e6 x (1 + 0.002) = 50.1e6
    xs = np.array([-3_000.0, -1_000.0, 0.0, 500.0, 2_000.0])
    estimate = fitted(xs, 1e-6 * xs)
    assert abs(estimate.beta - 1e-6) < 1e-13  # float rounding of a zero residual
    assert abs(estimate.fair(50_000_000, 2_000.0) - 50_100_000) < 0.5
    assert abs(estimate.fair(50_000_000, -500.0) - 49_975_000) < 0.5


def test_estimate_reads_each_sample_once_its_horizon_has_passed() -> None:
    estimate = FlowImpactEstimate(horizon_ns=2 * SECOND)
    estimate.observe(100.0, 10.0, 0)  # sample: flow 10, view 100
    estimate.observe(101.0, 20.0, SECOND)  # too soon: nothing read, no new sample
    assert estimate.n == 0 and estimate.pending == (0, 10.0, 100.0)
    estimate.observe(102.0, 30.0, 2 * SECOND)  # read: x = 10, y = 102 / 100 - 1
    assert estimate.n == 1 and estimate.pending == (2 * SECOND, 30.0, 102.0)
    for k, view in enumerate((102.0 * 1.01, 102.0 * 1.01 * 0.995), start=2):
        estimate.observe(view, [-40.0, 0.0][k - 2], 2 * k * SECOND)
    # samples (10, +2%), (30, +1%), (-40, -0.5%): the slope of those three points
    slope, _ = ols_by_hand(np.array([10.0, 30.0, -40.0]), np.array([0.02, 0.01, -0.005]))
    assert estimate.n == 3 and abs(estimate.slope - slope) < 1e-12


def test_delayed_signal_gives_the_value_as_of_the_delay_ago() -> None:
    late = DelayedSignal(delay_ns=SECOND)
    assert late.push(1, 0) is None  # nothing a second old yet
    assert late.push(2, SECOND // 2) is None
    assert late.push(3, SECOND) == 1  # published at 0, now a second old
    assert late.push(4, SECOND * 16 // 10) == 2  # at 1.6 s: the one of 0.5 s
    assert late.push(5, 3 * SECOND) == 4  # at 3 s: the one of 1.6 s
