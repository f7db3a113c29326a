"""Inference over replications: a cluster bootstrap, Holm's adjustment, honest p-values.

In a live market the unit of independence is the replication (one lab run with its own seeds):
orders of one run share its market state, so resampling orders alone (``orchestration.stats``)
ignores the run-to-run variance and the serial dependence within a run. Here a difference of
regimes is measured per replication and the *replications* are resampled:

- each replication contributes, per regime, the sums of a ratio metric's numerator and
  denominator (``sum(top) / sum(bottom) * scale``; for a plain per-run value, top = value and
  bottom = 1, so the ratio is the mean over replications);
- the estimate is the difference of the pooled ratios, ``b - a``; every bootstrap resample draws
  replications with replacement and both regimes take the same draw (replication r of every
  regime and sweep point shares its seeds: common random numbers, so the arms are paired);
- the standard error is the bootstrap standard deviation times ``sqrt(n / (n - 1))`` (the
  bootstrap's plug-in variance divides by n; this makes it the usual standard error of a mean
  when every replication weighs the same), and the 95% interval is
  ``estimate +- t(n - 1) * se`` with Student's t on n - 1 degrees of freedom, so that it keeps its
  coverage with the few replications a live lab affords (a percentile interval over 5
  replications covers far less than it says); p is the matching two-sided t test;
- several tests reported together are adjusted with Holm's step-down method (family-wise error
  5%), and nothing is called significant with fewer than ``MIN_REPLICATIONS`` replications.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

MIN_REPLICATIONS = 5
ALPHA = 0.05
LEVEL = 0.95
N_BOOT = 2000


@dataclass(frozen=True, slots=True)
class ClusterInterval:
    """A replication-level (cluster bootstrap) estimate with its 95% interval and t test."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    p_value: float | None
    clusters: int
    n_boot: int

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def cluster_difference(
    top_a: Sequence[float] | np.ndarray,
    bottom_a: Sequence[float] | np.ndarray,
    top_b: Sequence[float] | np.ndarray,
    bottom_b: Sequence[float] | np.ndarray,
    *,
    scale: float = 1.0,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> ClusterInterval:
    """``b - a`` of pooled ratios over clusters (replications), aligned by position: element i of
    every array belongs to cluster i. Resamples with a zero denominator are dropped."""
    arrays = [np.asarray(x, dtype="float64") for x in (top_a, bottom_a, top_b, bottom_b)]
    n = len(arrays[0])
    if any(len(x) != n for x in arrays):
        raise ValueError(f"cannot bootstrap: clusters differ in number {[len(x) for x in arrays]}")
    estimate = _ratio_difference(*(x[None, :] for x in arrays))[0] * scale
    estimate_or_none = None if math.isnan(estimate) else float(estimate)
    if n < 2 or estimate_or_none is None:
        return ClusterInterval(estimate_or_none, None, None, None, None, n, 0)
    picks = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    diffs = _ratio_difference(*(x[picks] for x in arrays)) * scale
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size < 2:
        return ClusterInterval(estimate_or_none, None, None, None, None, n, int(diffs.size))
    std_error = float(np.std(diffs, ddof=1)) * math.sqrt(n / (n - 1))
    return _t_interval(estimate_or_none, std_error, n, int(diffs.size))


def cluster_difference_in_differences(
    low: Sequence[Sequence[float] | np.ndarray],
    high: Sequence[Sequence[float] | np.ndarray],
    *,
    scale: float = 1.0,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> ClusterInterval:
    """How much ``b - a`` moves between two settings run on the same replications (common
    random numbers): ``(b - a at high) - (b - a at low)``, each a difference of pooled ratios,
    ``low`` and ``high`` each ``(top_a, bottom_a, top_b, bottom_b)`` aligned by replication.
    Resamples draw replications once for both settings (they are paired); the interval is the
    same t interval as ``cluster_difference``'s."""
    lows = [np.asarray(x, dtype="float64") for x in low]
    highs = [np.asarray(x, dtype="float64") for x in high]
    n = len(lows[0])
    if any(len(x) != n for x in (*lows, *highs)):
        raise ValueError("cannot bootstrap: the two settings' replications differ in number")

    def did(picks: np.ndarray | slice) -> np.ndarray:
        hi = _ratio_difference(*(x[picks] for x in highs))
        lo = _ratio_difference(*(x[picks] for x in lows))
        return np.asarray(hi - lo, dtype="float64") * scale

    estimate = float(did(np.arange(n)[None, :])[0])
    if n < 2 or math.isnan(estimate):
        return ClusterInterval(
            None if math.isnan(estimate) else estimate, None, None, None, None, n, 0
        )
    picks = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    diffs = did(picks)
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size < 2:
        return ClusterInterval(estimate, None, None, None, None, n, int(diffs.size))
    std_error = float(np.std(diffs, ddof=1)) * math.sqrt(n / (n - 1))
    return _t_interval(estimate, std_error, n, int(diffs.size))


def cluster_mean(
    values: Sequence[float] | np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0
) -> ClusterInterval:
    """The mean of one value per cluster (e.g. an SOR round's difference to its best baseline),
    with the same interval as ``cluster_difference`` (it is that difference against zero)."""
    values = np.asarray(values, dtype="float64")
    zeros, ones = np.zeros(len(values)), np.ones(len(values))
    return cluster_difference(zeros, ones, values, ones, n_boot=n_boot, seed=seed)


def _ratio_difference(
    top_a: np.ndarray, bottom_a: np.ndarray, top_b: np.ndarray, bottom_b: np.ndarray
) -> np.ndarray:
    """Row-wise ``sum(top_b)/sum(bottom_b) - sum(top_a)/sum(bottom_a)`` (NaN on a zero sum)."""
    sums = [x.sum(axis=-1) for x in (top_a, bottom_a, top_b, bottom_b)]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(sums[1] != 0, sums[0] / np.where(sums[1] != 0, sums[1], 1), np.nan)
        b = np.where(sums[3] != 0, sums[2] / np.where(sums[3] != 0, sums[3], 1), np.nan)
    return np.asarray(b - a, dtype="float64")


def _t_interval(estimate: float, std_error: float, n: int, n_boot: int) -> ClusterInterval:
    df = n - 1
    if std_error == 0:  # every replication agrees: a point interval, p decided by the estimate
        p = 1.0 if estimate == 0 else 0.0
        return ClusterInterval(estimate, estimate, estimate, 0.0, p, n, n_boot)
    half = t_quantile(1 - (1 - LEVEL) / 2, df) * std_error
    p_value = t_two_sided_p(estimate / std_error, df)
    return ClusterInterval(
        estimate, estimate - half, estimate + half, std_error, p_value, n, n_boot
    )


# ---------------------------------------------------------------------- Student's t
def t_two_sided_p(t: float, df: int) -> float:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom:
    ``P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2)`` (regularized incomplete beta)."""
    if df < 1:
        raise ValueError(f"t test: df must be >= 1, got {df}")
    return _incomplete_beta(df / (df + t * t), df / 2, 0.5)


def t_quantile(prob: float, df: int) -> float:
    """The ``prob`` quantile (``prob`` > 0.5) of Student's t, by bisection on the p-value."""
    target = 2 * (1 - prob)
    low, high = 0.0, 1e6
    for _ in range(200):
        mid = (low + high) / 2
        if t_two_sided_p(mid, df) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)`` by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _incomplete_beta(1 - x, b, a)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return math.exp(log_front) * result / a


# ---------------------------------------------------------------------- several tests
def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (family-wise error control) over the p-values given;
    ``None`` (a test that could not be made) stays ``None`` and does not count in the family."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def format_p(p: float | None) -> str:
    """``p < 0.001`` below a thousandth (never ``p = 0.0``), else ``p = 0.012``."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def assess(
    p_adjusted: float | None, clusters: int, unit: str = "replications"
) -> tuple[bool | None, str]:
    """Whether a (Holm-adjusted) test may be called significant, and why in words.

    ``None`` = not assessed: fewer than ``MIN_REPLICATIONS`` clusters, or no test."""
    if clusters < MIN_REPLICATIONS:
        counted = unit.removesuffix("s") if clusters == 1 else unit
        return None, (
            f"not assessed: {clusters} {counted} < {MIN_REPLICATIONS} (too few independent "
            f"{unit} for a replication-level test)"
        )
    if p_adjusted is None:
        return None, "not assessed: no replication-level test (a regime had no data)"
    if p_adjusted < ALPHA:
        return True, f"significant (Holm-adjusted {format_p(p_adjusted)} < {ALPHA})"
    return False, f"not significant (Holm-adjusted {format_p(p_adjusted)})"
