"""The intraday session clock: where in its trading day the lab is, and how busy that part is.

Real equity markets are not the same all day: volume is U-shaped (heaviest at the open and the
close: Jain & Joh 1988, Admati & Pfleiderer 1988), quoted spreads are widest at the open and
narrow through the morning with a small rise into the close (a reverse J: McInish & Wood 1992),
and volatility is highest at the open (Wood, McInish & Ord 1985; Harris 1986). With
``[session] day_s`` > 0 the lab's day is ``day_s`` seconds of wall time, repeating, and three
intensities follow one profile shape each:

    m(u) = 1 + (open_x - 1) e^(-u / w) + (close_x - 1) e^(-(1 - u) / w),   u in [0, 1)

(``u`` the phase of the day, ``w`` = ``edge_share``), divided by its mean over the day,
``1 + (open_x + close_x - 2) w (1 - e^(-1/w))``, so that each configured level — the arrival
rates of noise traders (``rate_per_s``), informed traders (``rate_per_s``) and institutions
(their children's ``child_interval_ms`` and parents' ``pause_ms``, through ``gap_s``), market
makers' ``half_spread_bps``, the value's variance (``vol_bps_per_sqrt_s`` squared) — is the
day's average and the clock only moves it around the day.
The open is then ``open_x`` times midday (up to the other edge's ``e^(-1/w)`` tail).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from config.scenario import SessionSpec

_WARP_POINTS = 20_000  # steps of the table of the profile's integral over a day


def profile_mean(open_x: float, close_x: float, edge_share: float) -> float:
    """The mean of ``m(u)`` over the day, in closed form."""
    w = edge_share
    return 1.0 + (open_x + close_x - 2.0) * w * (1.0 - math.exp(-1.0 / w))


def profile(u: float, open_x: float, close_x: float, edge_share: float) -> float:
    """``m(u) / mean``: the multiplier at phase ``u`` of the day (mean 1 over the day)."""
    w = edge_share
    raw = 1.0 + (open_x - 1.0) * math.exp(-u / w) + (close_x - 1.0) * math.exp(-(1.0 - u) / w)
    return raw / profile_mean(open_x, close_x, edge_share)


class SessionClock:
    """The session's phase and multipliers at a wall-clock time (``time.time_ns``).

    ``origin_ns`` is the day's start (the run config's ``session_origin_ns``; 0: now). With
    ``day_s`` = 0 every multiplier is 1."""

    def __init__(self, spec: SessionSpec, origin_ns: int = 0) -> None:
        self.spec = spec
        self.origin_ns = origin_ns or time.time_ns()

    @property
    def on(self) -> bool:
        return self.spec.day_s > 0

    def phase(self, now_ns: int | None = None) -> float:
        """Where in the day ``now_ns`` is, in [0, 1) (0 without a clock)."""
        if not self.on:
            return 0.0
        now = time.time_ns() if now_ns is None else now_ns
        day_ns = self.spec.day_s * 1e9
        return ((now - self.origin_ns) % day_ns) / day_ns

    def _at(self, open_x: float, close_x: float, now_ns: int | None) -> float:
        if not self.on:
            return 1.0
        return profile(self.phase(now_ns), open_x, close_x, self.spec.edge_share)

    def volume(self, now_ns: int | None = None) -> float:
        return self._at(self.spec.open_volume_x, self.spec.close_volume_x, now_ns)

    def gap_s(
        self, mean_gap_s: float, rng: np.random.Generator, now_ns: int | None = None
    ) -> float:
        """The wait (s) to an agent's next arrival: exponential with mean ``mean_gap_s`` divided
        by the volume multiplier now, so that arrivals come ``volume()`` times as fast as the
        configured rate (``1 / mean_gap_s``) and the day's mean rate is the configured one.
        Without a clock the draw is ``rng.exponential(mean_gap_s)`` exactly."""
        return float(rng.exponential(mean_gap_s / self.volume(now_ns)))

    def spread(self, now_ns: int | None = None) -> float:
        return self._at(self.spec.open_spread_x, self.spec.close_spread_x, now_ns)

    def warp(self, offsets_ns: Sequence[int], start_ns: int) -> list[int]:
        """Real offsets (ns after ``start_ns``, a wall-clock time) at which a stream whose
        ``offsets_ns`` are in *operational* time — the day's volume profile integrated, so that
        a Poisson stream of the day's mean rate becomes one whose rate follows the profile —
        reaches each offset. Order and count are kept; without a clock, the offsets as given.
        The profile's integral over a day is ``day_s`` (its mean is 1), so whole days map to
        whole days; within a day the inverse is read off a fine table of the integral."""
        if not self.on:
            return list(offsets_ns)
        spec, day_s = self.spec, self.spec.day_s
        grid = np.linspace(0.0, 1.0, _WARP_POINTS + 1)
        middle = (grid[:-1] + grid[1:]) / 2  # the midpoint rule on each step of the table
        heights = [
            profile(u, spec.open_volume_x, spec.close_volume_x, spec.edge_share) for u in middle
        ]
        cumulative = np.concatenate([[0.0], np.cumsum(heights) / _WARP_POINTS]) * day_s
        cumulative *= day_s / cumulative[-1]  # exactly one day of operational time per day
        u0 = self.phase(start_ns)
        before = float(np.interp(u0, grid, cumulative))  # operational time from the day's open
        targets = np.asarray(offsets_ns, dtype=float) / 1e9 + before
        days = np.floor(targets / day_s)
        within = np.interp(targets - days * day_s, cumulative, grid)
        real = np.rint((days + within - u0) * day_s * 1e9).astype(np.int64)
        return [int(x) for x in real]

    def volatility(self, now_ns: int | None = None) -> float:
        """The volatility's multiplier: the profile is the *variance's* (``open_vol_x`` squared
        at the open), so the day's mean variance stays the configured one."""
        spec = self.spec
        return math.sqrt(self._at(spec.open_vol_x**2, spec.close_vol_x**2, now_ns))
