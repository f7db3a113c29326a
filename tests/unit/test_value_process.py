"""Spec tests for the latent value core: seeded, mean-reverting, positive integer micro-dollars."""

from __future__ import annotations

import math

import numpy as np
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
