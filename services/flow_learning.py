"""Lit market makers that learn from order flow: the background market's permanent impact.

A market maker that does not know the value better than the traders it meets reads their flow:
buying that predicts a rising value should raise its quotes (Kyle 1985, Glosten & Milgrom 1985).
How much is not a parameter here but learned, from what the maker observes:

- ``SignedFlow``: the signed volume it sees printed on the lit tape (aggressor buys +, sells -),
  each print's weight halving every ``half_life_ns`` — its memory of recent flow.
- ``FlowImpactEstimate``: an online least-squares regression of the maker's own view's later
  change (its noisy, possibly late signal of the value ``horizon_ns`` after a sample, relative
  to the view at the sample) on the flow memory at the sample. Samples do not overlap (the next
  one starts when the last is read), so the slope's standard error is the ordinary one. The
  coefficient used is the slope less ``confidence`` standard errors toward zero (zero while the
  evidence is unclear), as the dealers' ``MarkoutEstimate`` charges toxicity only where the
  evidence is clear.

The regression's target is the maker's own signal, which its quotes cannot move: a maker that
learned from the mid would find its own flow-driven requotes confirming what it learned. Its
fair value is ``view x (1 + beta x flow)``: flow that carries information the view does not yet
hold (informed traders who see the value sooner) teaches ``beta > 0``; flow that is independent
of the value's later moves teaches ``beta ~ 0``. An uninformed metaorder is then priced as the
average flow is: its impact grows while it trades and fades with the flow memory afterwards.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class SignedFlow:
    """Signed traded volume with memory: ``sum(q_i x 0.5^((now - t_i) / half_life))``."""

    half_life_ns: int
    total: float = 0.0
    at_ns: int = -1  # the time ``total`` is decayed to (-1: nothing seen yet)

    def at(self, now_ns: int) -> float:
        """The memory as of ``now_ns`` (earlier times than the last seen read as the last)."""
        if self.at_ns >= 0 and now_ns > self.at_ns:
            self.total *= 0.5 ** ((now_ns - self.at_ns) / self.half_life_ns)
            self.at_ns = now_ns
        return self.total

    def add(self, signed_qty: int, now_ns: int) -> float:
        """A print of ``signed_qty`` shares (> 0: the aggressor bought) at ``now_ns``."""
        self.at(now_ns)
        self.at_ns = max(self.at_ns, now_ns)
        self.total += signed_qty
        return self.total


@dataclass(slots=True)
class FlowImpactEstimate:
    """How far the maker's view moves, ``horizon_ns`` later, per share of flow memory now.

    Running sums of an ordinary least-squares fit (with intercept) of ``y = view_later / view
    - 1`` on ``x = flow memory``; ``slope`` is the fitted coefficient, ``stderr`` its standard
    error, ``beta`` the coefficient used in quotes."""

    horizon_ns: int
    confidence: float = 2.0
    n: int = 0
    _sx: float = 0.0
    _sy: float = 0.0
    _sxx: float = 0.0
    _sxy: float = 0.0
    _syy: float = 0.0
    pending: tuple[int, float, float] | None = None  # (time, flow memory, view) of the sample

    def observe(self, view: float, flow: float, now_ns: int) -> None:
        """The maker's view and the flow memory at ``now_ns``: reads the pending sample once
        its horizon has passed, and starts the next one."""
        if view <= 0:
            return
        if self.pending is not None:
            then, x, before = self.pending
            if now_ns - then < self.horizon_ns:
                return
            self.update(x, view / before - 1.0)
        self.pending = (now_ns, flow, view)

    def update(self, x: float, y: float) -> None:
        self.n += 1
        self._sx += x
        self._sy += y
        self._sxx += x * x
        self._sxy += x * y
        self._syy += y * y

    def _centred(self) -> tuple[float, float, float] | None:
        if self.n < 3:
            return None
        sxx = self._sxx - self._sx * self._sx / self.n
        if sxx <= 0:
            return None
        sxy = self._sxy - self._sx * self._sy / self.n
        syy = self._syy - self._sy * self._sy / self.n
        return sxx, sxy, syy

    @property
    def slope(self) -> float:
        sums = self._centred()
        return 0.0 if sums is None else sums[1] / sums[0]

    @property
    def stderr(self) -> float | None:
        """The slope's standard error: residual variance over ``n - 2``, over ``Sxx``."""
        sums = self._centred()
        if sums is None:
            return None
        sxx, sxy, syy = sums
        residual = max(0.0, syy - sxy * sxy / sxx)
        return math.sqrt(residual / (self.n - 2) / sxx)

    @property
    def beta(self) -> float:
        """The slope shrunk ``confidence`` standard errors toward zero (0 without evidence)."""
        se = self.stderr
        if se is None:
            return 0.0
        b = self.slope
        shrunk = abs(b) - self.confidence * se
        return math.copysign(shrunk, b) if shrunk > 0 else 0.0

    def fair(self, view: float, flow: float) -> float:
        """The maker's fair value: its view moved by what the flow memory predicts."""
        return view * (1.0 + self.beta * flow)


@dataclass(slots=True)
class DelayedSignal:
    """The value as a maker learns it ``delay_ns`` late: what was published at or before
    ``now - delay`` (``None`` until something that old exists)."""

    delay_ns: int
    seen: deque[tuple[int, int]] = field(default_factory=deque)

    def push(self, value: int, now_ns: int) -> int | None:
        self.seen.append((now_ns, value))
        cutoff = now_ns - self.delay_ns
        while len(self.seen) > 1 and self.seen[1][0] <= cutoff:
            self.seen.popleft()
        first_ns, first = self.seen[0]
        return first if first_ns <= cutoff else None
