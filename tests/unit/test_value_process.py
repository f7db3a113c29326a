"""Spec tests for the latent value core: seeded, mean-reverting, positive integer micro-dollars."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.value import ValueProcess

REFERENCE = 50_000_000  # $50.00


def make_process(
    seed: int,
    reference: int = REFERENCE,
    *,
    vol: float = 8.0,
    half_life: float = 120.0,
    jump_rate: float = 0.02,
    jump_bps: float = 10.0,
) -> ValueProcess:
    return ValueProcess(
        reference,
        np.random.default_rng(seed),
        vol_bps_per_sqrt_s=vol,
        half_life_s=half_life,
        jump_rate_per_s=jump_rate,
        jump_bps=jump_bps,
    )


def path(process: ValueProcess, steps: int, dt_s: float = 0.1) -> list[int]:
    return [process.step(dt_s) for _ in range(steps)]


def test_value_process_new_starts_at_reference() -> None:
    assert make_process(seed=1).value == REFERENCE


def test_value_process_same_seed_gives_identical_paths() -> None:
    # jumps frequent enough that the Poisson branch is exercised too
    first = make_process(seed=7, jump_rate=2.0)
    second = make_process(seed=7, jump_rate=2.0)

    assert path(first, 500) == path(second, 500)


def test_value_process_different_seeds_give_different_paths() -> None:
    assert path(make_process(seed=7), 100) != path(make_process(seed=8), 100)


def test_value_process_zero_vol_no_jumps_stays_at_reference() -> None:
    process = make_process(seed=3, vol=0.0, jump_rate=0.0)

    values = path(process, 1_000)

    assert set(values) == {REFERENCE}


def test_value_process_zero_vol_halves_log_deviation_each_half_life() -> None:
    process = make_process(seed=3, vol=0.0, half_life=10.0, jump_rate=0.0)
    process.log_value = process.anchor + math.log(1.2)  # start 20% above the reference

    after_one = path(process, 100)[-1]  # 100 * 0.1 s = one half-life
    after_two = path(process, 100)[-1]

    # 50_000_000 * 1.2 ** 0.5 = 54_772_255.75; 50_000_000 * 1.2 ** 0.25 = 52_331_756.97
    assert (after_one, after_two) == (54_772_256, 52_331_757)


def test_value_process_far_above_anchor_reverts_over_long_horizon() -> None:
    finals = []
    for seed in range(5):
        process = make_process(seed=seed, half_life=5.0)
        process.log_value = process.anchor + math.log(1.1)

        finals.append(path(process, 600)[-1])  # 60 s = 12 half-lives

    # the stationary spread is 8e-4 / sqrt(2 ln2 / 5) = 15 bps; 1% is several of those
    assert all(abs(math.log(v / REFERENCE)) < 0.01 for v in finals)


def test_value_process_far_below_anchor_reverts_over_long_horizon() -> None:
    finals = []
    for seed in range(5):
        process = make_process(seed=seed, half_life=5.0)
        process.log_value = process.anchor - math.log(1.1)

        finals.append(path(process, 600)[-1])

    assert all(abs(math.log(v / REFERENCE)) < 0.01 for v in finals)


def test_value_process_mean_deviation_halves_after_one_half_life() -> None:
    deviations = []
    for seed in range(200):
        process = make_process(seed=seed, half_life=5.0, jump_rate=0.0)
        process.log_value = process.anchor + math.log(1.1)

        deviations.append(math.log(path(process, 50)[-1] / REFERENCE))  # 5 s

    # expected log(1.1) / 2 = 0.04766; the noise of the mean over 200 paths is ~1e-4
    assert abs(float(np.mean(deviations)) - math.log(1.1) / 2) < 0.002


@settings(max_examples=100, deadline=None)
@given(
    reference=st.integers(1, 1_000_000_000),
    seed=st.integers(0, 2**32 - 1),
    vol=st.floats(0.0, 500.0),
    half_life=st.floats(0.5, 600.0),
    jump_rate=st.floats(0.0, 20.0),
    jump_bps=st.floats(0.0, 2_000.0),
    dt_s=st.floats(0.001, 1.0),
)
def test_value_process_any_parameters_values_are_positive_ints(
    reference: int,
    seed: int,
    vol: float,
    half_life: float,
    jump_rate: float,
    jump_bps: float,
    dt_s: float,
) -> None:
    process = make_process(
        seed, reference, vol=vol, half_life=half_life, jump_rate=jump_rate, jump_bps=jump_bps
    )

    values = path(process, 50, dt_s)

    assert all(type(v) is int and v >= 1 for v in values)
    assert type(process.value) is int


def sv_returns(vol_of_vol: float, steps: int, seed: int = 3) -> np.ndarray:
    """One-second log returns of a near-random-walk value (no jumps) with stochastic vol."""
    process = ValueProcess(
        100_000_000,
        np.random.default_rng(seed),
        vol_bps_per_sqrt_s=8.0,
        half_life_s=1e9,
        jump_rate_per_s=0.0,
        jump_bps=0.0,
        vol_of_vol=vol_of_vol,
        vol_half_life_s=20.0,
    )
    logs = np.log([process.value] + [process.step(1.0) for _ in range(steps)])
    return np.diff(logs)


def test_stochastic_volatility_off_draws_nothing_more() -> None:
    # vol_of_vol 0 (the default) keeps the constant-volatility process draw for draw
    old = make_process(seed=11, jump_rate=2.0)
    new = ValueProcess(
        REFERENCE,
        np.random.default_rng(11),
        vol_bps_per_sqrt_s=8.0,
        half_life_s=120.0,
        jump_rate_per_s=2.0,
        jump_bps=10.0,
        vol_of_vol=0.0,
    )
    assert path(old, 500) == path(new, 500)


def test_stochastic_volatility_gives_the_closed_form_excess_kurtosis() -> None:
    # r = sigma_t sqrt(dt) Z with sigma_t = sigma exp(x - v), x ~ N(0, v) stationary:
    # E r^4 / (E r^2)^2 = 3 E sigma^4 / (E sigma^2)^2 = 3 exp(4v) / exp(0) -> excess 3 (e^{4v} - 1).
    # v = eta^2 / (2 kappa_v): eta chosen for v = 0.1 with a 20 s half-life -> excess 1.475.
    kappa_v = math.log(2.0) / 20.0
    eta = math.sqrt(2 * kappa_v * 0.1)
    r = sv_returns(eta, 200_000)
    d = r - r.mean()
    excess = float(np.mean(d**4) / np.mean(d**2) ** 2 - 3)
    assert excess == pytest.approx(3 * (math.exp(0.4) - 1), abs=0.35)
    # the mean variance is the constant-volatility one: sigma^2 dt = (8 bps)^2
    assert float(np.mean(d**2)) == pytest.approx((8e-4) ** 2, rel=0.05)
    # and |returns| cluster: positive autocorrelation at lag 1 (none with constant volatility)
    a = np.abs(r) - np.abs(r).mean()
    assert float(np.mean(a[:-1] * a[1:]) / np.mean(a * a)) > 0.05
    flat = np.abs(sv_returns(0.0, 50_000))
    f = flat - flat.mean()
    assert abs(float(np.mean(f[:-1] * f[1:]) / np.mean(f * f))) < 0.02
