"""The session clock: a U-shaped day whose mean is the configured level, on a wall-clock phase."""

from __future__ import annotations

import math

import numpy as np
import pytest

from config.scenario import SessionSpec
from services.session import SessionClock, profile, profile_mean
from services.value import ValueProcess

DAY = SessionSpec(day_s=390.0)  # the defaults: open 2.5x / close 2x volume, edge 8% of the day
ORIGIN = 1_800_000_000 * 10**9


def raw(u: float, open_x: float, close_x: float, w: float) -> float:
    return 1 + (open_x - 1) * math.exp(-u / w) + (close_x - 1) * math.exp(-(1 - u) / w)


@pytest.mark.parametrize(
    ("open_x", "close_x", "w"), [(2.5, 2.0, 0.08), (1.0, 1.0, 0.2), (0.5, 3.0, 0.5)]
)
def test_profile_mean_matches_a_numerical_integral_and_the_profile_averages_one(
    open_x: float, close_x: float, w: float
) -> None:
    u = np.linspace(0.0, 1.0, 200_001)
    integral = np.trapezoid([raw(x, open_x, close_x, w) for x in u], u)
    assert profile_mean(open_x, close_x, w) == pytest.approx(integral, rel=1e-9)
    scaled = np.trapezoid([profile(x, open_x, close_x, w) for x in u], u)
    assert scaled == pytest.approx(1.0, rel=1e-9)


def test_the_open_is_open_x_times_midday_and_the_close_close_x() -> None:
    # with w = 0.08 the other edge's tail at u = 0 is e^(-12.5) ~ 4e-6, at midday e^(-6.25)
    midday = profile(0.5, 2.5, 2.0, 0.08)
    assert profile(0.0, 2.5, 2.0, 0.08) / midday == pytest.approx(2.5, rel=0.01)
    assert profile(1.0 - 1e-12, 2.5, 2.0, 0.08) / midday == pytest.approx(2.0, rel=0.01)


def test_clock_phase_repeats_every_day_and_off_means_one() -> None:
    clock = SessionClock(DAY, ORIGIN)
    day_ns = int(390 * 1e9)
    assert clock.phase(ORIGIN) == 0.0
    assert clock.phase(ORIGIN + day_ns // 4) == pytest.approx(0.25)
    assert clock.phase(ORIGIN + 2 * day_ns + day_ns // 2) == pytest.approx(0.5)
    assert clock.volume(ORIGIN) == pytest.approx(profile(0.0, 2.5, 2.0, 0.08))
    off = SessionClock(SessionSpec(), ORIGIN)
    assert not off.on
    assert (off.volume(ORIGIN), off.spread(ORIGIN), off.volatility(ORIGIN)) == (1.0, 1.0, 1.0)


def test_volatility_profile_keeps_the_days_mean_variance() -> None:
    clock = SessionClock(DAY, ORIGIN)
    times = ORIGIN + np.linspace(0, 390e9, 100_001, endpoint=False).astype("int64")
    variance = np.mean([clock.volatility(int(t)) ** 2 for t in times])
    assert variance == pytest.approx(1.0, rel=1e-3)
    # the open's volatility is open_vol_x (2.0) times midday's
    assert clock.volatility(ORIGIN) / clock.volatility(ORIGIN + int(195e9)) == pytest.approx(
        2.0, rel=0.01
    )


def test_value_step_scales_the_diffusion_exactly() -> None:
    def first_log_move(scale: float) -> float:
        process = ValueProcess(
            50_000_000,
            np.random.default_rng(7),
            vol_bps_per_sqrt_s=8.0,
            half_life_s=120.0,
            jump_rate_per_s=0.0,
            jump_bps=0.0,
        )
        process.step(0.1, scale)
        return process.log_value - process.anchor

    assert first_log_move(2.0) == pytest.approx(2.0 * first_log_move(1.0), rel=1e-12)


def test_warp_sends_a_stream_faster_at_the_open_as_the_profile_says() -> None:
    # 39,000 orders evenly spaced in operational time over one 390 s day, from the open: the
    # share that lands in each part of the real day is the profile's integral over that part
    clock = SessionClock(DAY, ORIGIN)
    n = 39_000
    offsets = [int(k * 390e9 / n) for k in range(n)]
    real = np.array(clock.warp(offsets, ORIGIN)) / 390e9  # phase of each real send time
    assert np.all(np.diff(real) >= 0) and real[-1] < 1.0  # order kept, still one day
    u = np.linspace(0.0, 1.0, 400_001)
    m = np.array([profile(x, 2.5, 2.0, 0.08) for x in u])
    for lo, hi in [(0.0, 0.1), (0.4, 0.6), (0.9, 1.0)]:
        inside = (u >= lo) & (u <= hi)
        expected = np.trapezoid(m[inside], u[inside])  # the share of the day's orders
        got = float(((real >= lo) & (real < hi)).mean())
        assert got == pytest.approx(expected, abs=2e-4), (lo, hi)


def test_warp_from_midday_and_across_days_and_off() -> None:
    clock = SessionClock(DAY, ORIGIN)
    start = ORIGIN + int(195e9)  # midday of the first day
    # a whole day of operational time from any phase is a whole day of real time
    (one_day,) = clock.warp([int(390e9)], start)
    assert one_day == pytest.approx(390e9, rel=1e-6)
    # from midday, operational seconds pass at the profile's midday rate, m(0.5) < 1
    (ten,) = clock.warp([int(10e9)], start)
    assert ten / 1e9 == pytest.approx(10 / profile(0.5, 2.5, 2.0, 0.08), rel=0.01)
    assert SessionClock(SessionSpec(), ORIGIN).warp([5, 7], start) == [5, 7]


def test_a_day_shorter_than_a_second_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"session.day_s: 0.5 s is shorter than a second"):
        SessionSpec(day_s=0.5)
    assert SessionSpec(day_s=0.0).day_s == 0.0 and SessionSpec(day_s=1.0).day_s == 1.0


def test_agent_gaps_follow_the_volume_profile_by_its_closed_form() -> None:
    # the defaults (open 2.5, close 2, w = 0.08): the profile's mean is 1 + 2.5 w (1 - e^(-1/w))
    # = 1.2 (to 1e-6), so at the open arrivals come (2.5 + e^(-12.5)) / 1.2 = 2.083 times the
    # configured rate and at midday (1 + 2.5 e^(-6.25)) / 1.2 = 0.837 times
    mean = 1 + 2.5 * 0.08 * (1 - math.exp(-12.5))
    at_open = (2.5 + math.exp(-12.5)) / mean
    at_midday = (1 + 2.5 * math.exp(-6.25)) / mean
    assert at_open == pytest.approx(2.0833, abs=1e-4) and at_midday == pytest.approx(
        0.8374, abs=1e-4
    )
    clock = SessionClock(DAY, ORIGIN)
    # one draw: the same standard exponential, scaled to the configured mean gap over the
    # multiplier; many: their mean is that gap (50,000 draws, a standard error of 0.45%)
    first = clock.gap_s(0.25, np.random.default_rng(1), ORIGIN)
    assert first == pytest.approx(np.random.default_rng(1).exponential(0.25 / at_open), rel=1e-12)
    for now, multiplier, seed in [(ORIGIN, at_open, 1), (ORIGIN + int(195e9), at_midday, 2)]:
        rng = np.random.default_rng(seed)
        draws = np.array([clock.gap_s(0.25, rng, now) for _ in range(50_000)])
        assert draws.mean() == pytest.approx(0.25 / multiplier, rel=0.02)


def test_agent_gaps_without_a_clock_are_the_unscaled_draws() -> None:
    # the default scenario (no clock) keeps its arrival times to the last bit
    off = SessionClock(SessionSpec(), ORIGIN)
    mine, plain = np.random.default_rng(5), np.random.default_rng(5)
    for mean_gap in (0.25, 2.0, 0.5, 1 / 4.0):
        assert off.gap_s(mean_gap, mine, ORIGIN + 123) == plain.exponential(mean_gap)


def test_agent_arrivals_over_days_crowd_the_open_as_the_profile_integrates() -> None:
    # an agent drawing gaps with mean 0.1 s on a 39 s day for 20 days: the share of its arrivals
    # in a part [lo, hi) of the day is the profile's integral there over the day's, in closed
    # form: (hi - lo) + (open-1) w (e^(-lo/w) - e^(-hi/w)) + (close-1) w (e^(-(1-hi)/w) -
    # e^(-(1-lo)/w)), divided by the mean 1.2
    spec = SessionSpec(day_s=39.0)
    clock = SessionClock(spec, ORIGIN)
    rng = np.random.default_rng(9)
    w, mean = 0.08, 1 + 2.5 * 0.08 * (1 - math.exp(-12.5))

    def share(lo: float, hi: float) -> float:
        opening = 1.5 * w * (math.exp(-lo / w) - math.exp(-hi / w))
        closing = 1.0 * w * (math.exp(-(1 - hi) / w) - math.exp(-(1 - lo) / w))
        return (hi - lo + opening + closing) / mean

    t, phases = 0.0, []
    while t < 20 * 39.0:
        t += clock.gap_s(0.1, rng, ORIGIN + int(t * 1e9))
        phases.append((t % 39.0) / 39.0)
    arrivals = np.array(phases)
    # 7,800 arrivals at the day's mean rate; about 1,500 in the open's tenth (se ~2.5%)
    assert len(arrivals) == pytest.approx(7_800, rel=0.03)
    for lo, hi in [(0.0, 0.1), (0.4, 0.6), (0.9, 1.0)]:
        got = float(((arrivals >= lo) & (arrivals < hi)).mean())
        assert got == pytest.approx(share(lo, hi), rel=0.08), (lo, hi)
    assert share(0.0, 0.1) / 0.1 > 1.5 * share(0.4, 0.6) / 0.2  # the open is busier
