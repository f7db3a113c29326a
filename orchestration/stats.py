"""Bootstrap confidence intervals for differences of share-weighted ratio metrics.

A ratio metric of a group of orders is ``sum(top) / sum(bottom) * scale`` over per-order rows
(``orchestration.metrics.RATIO_METRICS``): resampling *orders* resamples the share weights too,
so the interval reflects how many shares each order carried.

- Independent arms (random assignment): each arm's orders are resampled with replacement,
  within each stratum (a replication of the experiment) so that every resample keeps the design's
  number of orders per run.
- Paired arms (the sequential design runs the same stream once per regime): the stream's orders
  are resampled once and both arms take the same draw, which removes the order-mix noise from
  the difference.

The test statistic is ``z = difference / bootstrap standard error``; the p-value is the
two-sided bootstrap one, ``2 * min(share of resampled differences <= 0, share >= 0)`` (its
resolution is 1 / resamples), and the 95% interval is the percentile interval of the resampled
differences. "Significant" means the interval excludes 0 (then p < 0.05).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_BOOTSTRAP_CELLS = 4_000_000  # resampled order indices held in memory at once


@dataclass(frozen=True, slots=True)
class RegimeDifference:
    """Bootstrap comparison of one metric between two regimes (``difference = b - a``)."""

    metric: str
    regime_a: str
    regime_b: str
    value_a: float | None
    value_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool
    n_boot: int
    std_error: float | None = None
    z: float | None = None
    p_value: float | None = None
    paired: bool = False

    def to_dict(self) -> dict[str, str | float | bool | int | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Arm:
    """One regime's per-order ratio terms and the stratum (replication) of each order."""

    top: np.ndarray
    bottom: np.ndarray
    strata: np.ndarray

    @property
    def value(self) -> float | None:
        total = self.bottom.sum()
        return float(self.top.sum() / total) if total != 0 else None


def compare_arms(
    metric: str,
    names: tuple[str, str],
    arms: tuple[Arm, Arm],
    *,
    scale: float,
    n_boot: int,
    seed: int,
    paired: bool = False,
) -> RegimeDifference:
    """``b - a`` with a 95% percentile bootstrap CI, a z statistic and a p-value.

    With ``paired``, both arms must list the same orders in the same order (one row per stream
    order); resamples draw rows jointly. Resamples with a zero denominator are dropped.
    """
    rng = np.random.default_rng(seed)
    a, b = arms
    if paired:
        if len(a.top) != len(b.top):
            raise ValueError(f"cannot pair {metric!r}: {len(a.top)} and {len(b.top)} rows")
        boot_a, boot_b = _bootstrap([a, b], n_boot, rng)
    else:
        (boot_a,), (boot_b,) = _bootstrap([a], n_boot, rng), _bootstrap([b], n_boot, rng)
    diffs = (boot_b - boot_a) * scale
    diffs = diffs[~np.isnan(diffs)]
    values = [None if v is None else v * scale for v in (a.value, b.value)]
    difference = None if values[0] is None or values[1] is None else values[1] - values[0]
    low = high = std_error = z = p_value = None
    if diffs.size >= 2:
        low, high = (float(q) for q in np.percentile(diffs, [2.5, 97.5]))
        std_error = float(np.std(diffs, ddof=1))
    if difference is not None and std_error is not None:
        z = difference / std_error if std_error > 0 else None
        # two-sided bootstrap p-value: consistent with the percentile interval excluding 0
        share_below, share_above = float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))
        p_value = min(1.0, 2 * min(share_below, share_above))
    significant = low is not None and high is not None and (low > 0 or high < 0)
    return RegimeDifference(
        metric,
        names[0],
        names[1],
        values[0],
        values[1],
        difference,
        low,
        high,
        significant,
        int(diffs.size),
        std_error,
        z,
        p_value,
        paired,
    )


def _bootstrap(arms: list[Arm], n_boot: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Ratio sum(top)/sum(bottom) per resample for each arm, all arms taking the same draws of
    row indices within each stratum of the first arm (NaN where the denominator is 0)."""
    strata = arms[0].strata
    sums = [(np.zeros(n_boot), np.zeros(n_boot)) for _ in arms]
    for stratum in _unique_in_order(strata):
        rows = np.flatnonzero(strata == stratum)
        chunk = max(1, _BOOTSTRAP_CELLS // len(rows))
        for start in range(0, n_boot, chunk):
            size = min(chunk, n_boot - start)
            picks = rows[rng.integers(0, len(rows), size=(size, len(rows)))]
            for arm, (top, bottom) in zip(arms, sums, strict=True):
                top[start : start + size] += arm.top[picks].sum(axis=1)
                bottom[start : start + size] += arm.bottom[picks].sum(axis=1)
    out = []
    for top, bottom in sums:
        ratio = np.full(n_boot, np.nan)
        np.divide(top, bottom, out=ratio, where=bottom != 0)
        out.append(ratio)
    return out


def _unique_in_order(values: np.ndarray) -> list:
    seen: dict = {}
    for value in values.tolist():
        seen.setdefault(value, None)
    return list(seen)
