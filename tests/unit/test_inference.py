"""The replication-level statistics: hand-computed tables, and intervals tested as statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orchestration.inference import (
    assess,
    cluster_difference,
    cluster_difference_in_differences,
    cluster_mean,
    format_p,
    holm,
    t_quantile,
    t_two_sided_p,
)


def test_t_quantile_matches_the_tables() -> None:
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)
    assert t_quantile(0.975, 100_000) == pytest.approx(1.95996, abs=1e-4)


def test_t_two_sided_p_matches_the_tables() -> None:
    assert t_two_sided_p(1.0, 1) == pytest.approx(0.5)  # Cauchy: P(|T| > 1) = 1/2
    assert t_two_sided_p(2.2622, 9) == pytest.approx(0.05, abs=1e-4)
    assert t_two_sided_p(0.0, 4) == pytest.approx(1.0)


def test_cluster_difference_equal_weights_is_the_t_interval_of_the_differences() -> None:
    # three replications, 100 shares each: the pooled ratio is the mean of the per-run ratios,
    # a = 0.1, 0.2, 0.3 and b = 1.1, 1.4, 1.8, so the per-run differences are 1.0, 1.2, 1.5:
    # mean 1.2333, s = 0.25166, se = s / sqrt(3) = 0.14530, t(2) = 4.3027
    result = cluster_difference(
        [10, 20, 30], [100, 100, 100], [110, 140, 180], [100, 100, 100], n_boot=40_000, seed=1
    )
    assert result.estimate == pytest.approx(1.23333, abs=1e-5)
    assert result.clusters == 3
    assert result.std_error == pytest.approx(0.14530, rel=0.03)
    assert result.ci_low == pytest.approx(1.23333 - 4.3027 * 0.14530, rel=0.03)
    assert result.ci_high == pytest.approx(1.23333 + 4.3027 * 0.14530, rel=0.03)


def test_cluster_difference_pools_ratios_over_replications() -> None:
    # a: (1+3)/(2+2) = 1.0; b: (4+0)/(1+3) = 1.0 -> difference 0, scaled
    result = cluster_difference([1, 3], [2, 2], [4, 0], [1, 3], scale=100.0, n_boot=500)
    assert result.estimate == pytest.approx(0.0)
    # hand-computed: b = (2+3+4)/(1+1+1) = 3, a = (1+1+1)/(1+1+1) = 1
    hand = cluster_difference([1, 1, 1], [1, 1, 1], [2, 3, 4], [1, 1, 1], n_boot=40_000, seed=3)
    assert hand.estimate == pytest.approx(2.0)
    half = 4.3027 * (1 / math.sqrt(3))  # s = 1, n = 3
    assert hand.ci_low == pytest.approx(2.0 - half, rel=0.03)
    assert hand.ci_high == pytest.approx(2.0 + half, rel=0.03)
    assert hand.p_value == pytest.approx(t_two_sided_p(2.0 / (1 / math.sqrt(3)), 2), rel=0.05)


def test_cluster_difference_one_replication_has_no_interval() -> None:
    result = cluster_difference([1], [1], [2], [1])
    assert result.estimate == pytest.approx(1.0)
    assert result.ci_low is None and result.p_value is None


def test_cluster_difference_rejects_unaligned_clusters() -> None:
    with pytest.raises(ValueError, match="clusters differ"):
        cluster_difference([1, 2], [1, 1], [1], [1])


def test_cluster_mean_half_width_is_1_96_sigma_over_root_n() -> None:
    sigma, n = 2.0, 400
    values = np.random.default_rng(11).normal(5.0, sigma, n)
    result = cluster_mean(values, seed=2)
    assert result.ci_high is not None and result.ci_low is not None
    half = (result.ci_high - result.ci_low) / 2
    assert half == pytest.approx(1.96 * sigma / math.sqrt(n), rel=0.08)


def test_cluster_mean_95_interval_covers_the_truth_92_to_98_percent() -> None:
    rng = np.random.default_rng(2024)
    covered = 0
    trials = 300
    for trial in range(trials):
        values = rng.normal(1.5, 3.0, 8)  # 8 replications: small, as a live lab affords
        result = cluster_mean(values, n_boot=1000, seed=trial)
        covered += result.ci_low <= 1.5 <= result.ci_high  # type: ignore[operator]
    assert 0.92 <= covered / trials <= 0.98


def test_cluster_difference_of_ratios_covers_the_truth_92_to_98_percent() -> None:
    # per replication: shares vary, the per-share cost difference has mean 0.01 and sd 0.02
    rng = np.random.default_rng(7)
    covered = 0
    trials = 300
    for trial in range(trials):
        shares = rng.integers(5_000, 15_000, size=(2, 10)).astype(float)
        cost_a = rng.normal(0.05, 0.02, 10)
        cost_b = cost_a + rng.normal(0.01, 0.02, 10)
        result = cluster_difference(
            cost_a * shares[0], shares[0], cost_b * shares[1], shares[1], n_boot=1000, seed=trial
        )
        covered += result.ci_low <= 0.01 <= result.ci_high  # type: ignore[operator]
    assert 0.92 <= covered / trials <= 0.98


def test_holm_matches_hand_computed_adjustment() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4x, 3x, 2x, 1x, then made monotone
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_skips_missing_tests_and_caps_at_one() -> None:
    assert holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]


def test_format_p_never_prints_zero() -> None:
    assert format_p(0.0) == "p < 0.001"
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0123) == "p = 0.012"
    assert format_p(None) == "p n/a"


def test_assess_below_five_replications_says_why() -> None:
    significant, note = assess(0.0001, 4)
    assert significant is None and "4 replications < 5" in note


def test_assess_names_holm() -> None:
    assert assess(0.01, 5) == (True, "significant (Holm-adjusted p = 0.010 < 0.05)")
    assert assess(0.2, 12)[0] is False


def test_difference_in_differences_is_the_t_interval_of_per_replication_changes() -> None:
    """Three replications, equal weights. Low setting: b - a = 1.0, 1.0, 1.0; high setting:
    b - a = 1.5, 1.2, 1.8 — the change per replication 0.5, 0.2, 0.8: mean 0.5, s = 0.3,
    se = 0.3 / sqrt(3) = 0.17321, t(2) = 4.3027."""
    ones = [1, 1, 1]
    low = ([0, 0, 0], ones, [1.0, 1.0, 1.0], ones)
    high = ([0, 0, 0], ones, [1.5, 1.2, 1.8], ones)
    result = cluster_difference_in_differences(low, high, n_boot=40_000, seed=2)
    assert result.estimate == pytest.approx(0.5)
    assert result.std_error == pytest.approx(0.17321, rel=0.03)
    assert result.ci_low == pytest.approx(0.5 - 4.3027 * 0.17321, rel=0.05)
    # a setting that moves nothing: zero change, every resample agrees
    same = cluster_difference_in_differences(low, low, n_boot=500)
    assert same.estimate == 0.0 and same.p_value == 1.0


def test_difference_in_differences_covers_the_truth_92_to_98_percent() -> None:
    """Simulated replications: per replication, b - a is 0.3 + noise at the low setting and
    0.3 + 0.2 + noise at the high one (shared replication effect: the pairing), 8 replications;
    the 95% interval must cover the true change, 0.2, 92-98% of 300 times."""
    rng = np.random.default_rng(11)
    covered = 0
    for _ in range(300):
        shared = rng.normal(0.0, 0.5, 8)
        low_b = 0.3 + shared + rng.normal(0.0, 0.1, 8)
        high_b = 0.5 + shared + rng.normal(0.0, 0.1, 8)
        ones, zeros = np.ones(8), np.zeros(8)
        result = cluster_difference_in_differences(
            (zeros, ones, low_b, ones), (zeros, ones, high_b, ones), n_boot=400, seed=1
        )
        covered += result.ci_low <= 0.2 <= result.ci_high
    assert 0.92 <= covered / 300 <= 0.98, covered
