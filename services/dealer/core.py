"""One dealer model for every liquidity provider that prices retail orders.

Wholesalers (internalising the flow a broker sends them, paying PFOF, and bidding in auctions)
and lit market makers that answer auctions all price a retail order the same way, in every
channel:

    cost   = expected adverse selection in this channel, learned from the dealer's own markouts
           + inventory charge (what the trade adds to the risk of the position)
           + operating cost per share
           + PFOF per share (only where the dealer pays it) + fees per share
    price  = mid + d * (cost + markup)        d = +1 when the investor buys, -1 when it sells

and never worse for the investor than the NBBO (nor than the order's limit): where cost plus
markup reaches beyond the touch, the dealer offers the touch if the touch still covers its cost,
and declines otherwise.

The markup is not a formula. It is a strategic choice learned from outcomes by one rule,
:class:`MarkupLearner`, the same in every channel: a stochastic hill climb over a grid of
markups (as fractions of the quoted half-spread) whose reward is the dealer's profit in that
channel over a learning period per share of retail flow it could compete for: each fill's spread
captured against the mid, less PFOF, fees, operating cost and the channel's learned expected
adverse selection. (Not each fill's own markout: a one-cent move on a 10,000-share fill is $100
of noise against a markup step worth cents, and the learner would wander; the markouts teach the
adverse selection estimate instead, which enters every later fill's profit.) A lower markup
earns less per share and wins more: the broker's scorecard moves PFOF flow toward the dealers
that improve most, and in an auction the best price wins. The learner finds which markup pays in
the market it is in; nothing here knows which channel should win.

Prices are integer micro-dollars; the learner's arithmetic on rewards is in floats.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.common import Side
from protocol.dealers import ChannelState

# Markups the learner chooses between, as fractions of the quoted half-spread.
DEFAULT_ARMS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(11))


def ceil_to(value: float, step: int) -> int:
    return math.ceil(value / step - 1e-9) * step


def floor_to(value: float, step: int) -> int:
    return math.floor(value / step + 1e-9) * step


@dataclass(frozen=True, slots=True)
class Costs:
    """What filling one share costs a dealer in one channel, before its markup (micro-dollars)."""

    adverse: float = 0.0  # learned expected adverse selection (floored at zero)
    inventory: float = 0.0  # signed: negative when the trade reduces the position's risk
    operating: float = 0.0
    pfof: float = 0.0
    fees: float = 0.0

    @property
    def total(self) -> float:
        return max(0.0, self.adverse) + self.inventory + self.operating + self.pfof + self.fees


def inventory_charge(side: Side, position: int, cost_per_1k: float) -> float:
    """Per-share charge for the inventory a trade adds (negative when it reduces risk).

    ``side`` is the investor's side: an investor buy makes the dealer sell. ``cost_per_1k`` is
    micro-dollars per share per 1,000 shares of position.
    """
    dealer_buys = side is Side.SELL
    return (1 if dealer_buys else -1) * position * cost_per_1k / 1000.0


def view_cost(side: Side, shift: float, protective: bool) -> float:
    """What the dealer's view adds to its cost for an investor order on ``side`` (micro-dollars
    per share; ``shift`` = its reference price less the NBBO midpoint).

    ``symmetric``: the reference moves the whole price, so a view that the value is below the mid
    lowers the price of an investor's buy below the mid-based one — the dealer hands the
    investor what it knows. ``protective``: the view only ever raises the price (for a buy;
    lowers it for a sell): where it favours the dealer, the dealer prices as if it knew nothing
    and keeps the difference — the information rent of a bidder who shades its bid to the
    market rather than to its own value (Engelbrecht-Wiggans, Milgrom & Weber 1983).
    """
    moved = side.sign * shift
    return max(0.0, moved) if protective else moved


def quote(
    side: Side,
    bid: int,
    ask: int,
    cost: float,
    markup: float,
    grid: int,
    limit_price: int | None = None,
) -> int | None:
    """The dealer's price for an investor order, or ``None`` to decline.

    ``cost`` and ``markup`` are micro-dollars per share; ``grid`` is the price grid (the
    sub-penny step of internalised fills, or the auction's increment). The price is rounded in
    the dealer's favour onto the grid, capped at the NBBO and the order's limit; at the cap the
    dealer still trades if its cost is covered there (its expected profit is not negative).
    """
    mid = (bid + ask) / 2
    d = side.sign  # +1: the investor buys, the dealer sells above the mid
    if d > 0:
        worst = ask if limit_price is None else min(ask, limit_price)
        worst = floor_to(worst, grid)  # on the grid and no worse than the cap
        wanted = ceil_to(mid + cost + markup, grid)
        price = min(wanted, worst)
        return price if price >= mid + cost - 1e-9 and price > 0 else None
    worst = bid if limit_price is None else max(bid, limit_price)
    worst = ceil_to(worst, grid)
    wanted = floor_to(mid - cost - markup, grid)
    price = max(wanted, worst)
    return price if price <= mid - cost + 1e-9 and price > 0 else None


@dataclass(slots=True)
class Accounts:
    """Cash, inventory and P&L components in micro-dollars (floats only for mark-to-mid)."""

    cash: int = 0
    inventory: dict[str, int] = field(default_factory=dict)
    spread_capture: float = 0.0
    pfof_paid: int = 0
    fees: int = 0
    hedge_cost: float = 0.0
    # Told every trade's arguments, in order (a restartable service journals them:
    # services/snapshots.py); ``replay`` applies such a record again.
    on_trade: Callable[[tuple[Any, ...]], None] | None = None

    def trade(
        self,
        symbol: str,
        signed_qty: int,
        price: int,
        mid: float,
        *,
        hedge: bool,
        fee: int = 0,
        pfof: int = 0,
    ) -> None:
        """Record a trade: ``signed_qty`` > 0 when the wholesaler buys."""
        self.cash -= signed_qty * price + fee + pfof
        self.inventory[symbol] = self.inventory.get(symbol, 0) + signed_qty
        edge = (mid - price) * signed_qty  # bought below / sold above mid: positive
        if hedge:
            self.hedge_cost += -edge
        else:
            self.spread_capture += edge
        self.fees += fee
        self.pfof_paid += pfof
        if self.on_trade is not None:
            self.on_trade((symbol, signed_qty, price, mid, hedge, fee, pfof))

    def replay(self, record: list[Any] | tuple[Any, ...]) -> None:
        """Apply a trade ``on_trade`` was told (``(symbol, signed_qty, price, mid, hedge, fee,
        pfof)``) again, without telling ``on_trade``."""
        symbol, signed_qty, price, mid, hedge, fee, pfof = record
        listener, self.on_trade = self.on_trade, None
        try:
            self.trade(symbol, signed_qty, price, mid, hedge=hedge, fee=fee, pfof=pfof)
        finally:
            self.on_trade = listener

    def total(self, mids: dict[str, float]) -> float:
        return self.cash + sum(q * mids.get(s, 0.0) for s, q in self.inventory.items())

    def components(self, mids: dict[str, float]) -> dict[str, int]:
        """P&L decomposition; ``inventory_and_adverse_selection`` is what the market did to the
        positions after each trade (the residual), so the components add up to ``total``."""
        total = round(self.total(mids))
        spread_capture = round(self.spread_capture)
        hedge_cost = round(self.hedge_cost)
        known = spread_capture - self.pfof_paid - self.fees - hedge_cost
        return {
            "total": total,
            "spread_capture": spread_capture,
            "pfof_paid": self.pfof_paid,
            "fees": self.fees,
            "hedge_cost": hedge_cost,
            "inventory_and_adverse_selection": total - known,
        }


@dataclass(slots=True)
class MarkoutEstimate:
    """Adverse selection learned from markouts, charged only where the evidence is clear.

    An exponentially weighted mean and variance of the per-share markouts (how far the mid moved
    against each fill). Every markout's weight decays by ``1 - alpha`` per later markout and
    halves every ``half_life_ns`` of time (0: no decay with time). The charge is the mean less
    ``confidence`` standard errors, floored at zero: uninformed flow (markouts that average zero
    but are noisy) costs nothing, while a consistently toxic stream is charged nearly its full
    mean. The standard error is taken over the *discounted count* of markouts, the sum of the
    weights (the count of discounted UCB, Garivier & Moulines 2011), so evidence loses
    confidence as it ages: a dealer that stops getting fills in a symbol (because its learned
    cost priced it out of that symbol's auctions, say) sees its charge fall back toward zero,
    prices again, gets fills and relearns. With markouts only, the count rises to ``1/alpha``;
    a stale estimate does not keep its confidence forever (docs/ECONOMICS.md, "lock-in").
    Early on (few markouts) the interval is wide and no single markout dominates the mean.
    """

    alpha: float = 0.02
    confidence: float = 2.0
    half_life_ns: int = 0
    # > 0: the "posterior" rule instead — the charge is the posterior mean of the adverse
    # selection under a prior centred on zero worth ``prior_n`` markouts, ``sum(w x) / (sum(w) +
    # prior_n)``: unbiased in the limit, shrunk toward zero while evidence is thin or stale, and
    # negative for flow that moves in the dealer's favour (no floor, no confidence discount).
    prior_n: float = 0.0
    seen: int = 0
    _w: float = 0.0  # sum of weights (the discounted count)
    _w2: float = 0.0  # sum of squared weights
    _s: float = 0.0  # weighted sum of markouts
    _q: float = 0.0  # weighted sum of squared markouts
    _at_ns: int = -1  # the time the sums are decayed to (-1: not yet: a new or loaded estimate)

    def age(self, now_ns: int) -> None:
        """Decay the weights to ``now_ns`` (a monotonic clock; earlier times are ignored)."""
        if self._at_ns < 0 or self.half_life_ns <= 0:
            self._at_ns = max(self._at_ns, now_ns)
            return
        if now_ns <= self._at_ns:
            return
        keep = 0.5 ** ((now_ns - self._at_ns) / self.half_life_ns)
        self._w *= keep
        self._w2 *= keep * keep
        self._s *= keep
        self._q *= keep
        self._at_ns = now_ns

    def update(self, markout: float, now_ns: int = 0) -> float:
        """One markout at ``now_ns``; returns the charge."""
        self.age(now_ns)
        keep = 1.0 - self.alpha
        self.seen += 1
        self._w = keep * self._w + 1.0
        self._w2 = keep * keep * self._w2 + 1.0
        self._s = keep * self._s + markout
        self._q = keep * self._q + markout * markout
        return self.charge

    def charge_at(self, now_ns: int) -> float:
        self.age(now_ns)
        return self.charge

    @property
    def mean(self) -> float:
        return self._s / self._w if self._w else 0.0

    @property
    def count(self) -> float:
        """The discounted count of markouts: the sum of their weights."""
        return self._w

    @property
    def effective_n(self) -> float:
        """How many equally weighted markouts the mean is worth, ``(sum w)^2 / sum w^2``."""
        return self._w * self._w / self._w2 if self._w2 else 0.0

    @property
    def charge(self) -> float:
        """The charge as of the last ``age``/``update``."""
        if self.prior_n > 0.0:
            return self._s / (self._w + self.prior_n)
        if self.seen < 2 or self._w <= 0.0:
            return 0.0
        mean = self.mean
        n_eff = self.effective_n
        # Weighted variance with the reliability-weights correction (unbiased for i.i.d. data).
        variance = max(0.0, self._q / self._w - mean * mean) * n_eff / max(n_eff - 1.0, 1e-9)
        return max(0.0, mean - self.confidence * math.sqrt(variance / self.count))

    def state(self) -> list[int]:
        """``[seen, w, w2, s, q]``: weight sums in millionths, sums in micro-dollars (and ²)."""
        return [
            self.seen,
            round(self._w * 1e6),
            round(self._w2 * 1e6),
            round(self._s),
            round(self._q),
        ]

    def load(self, state: list[int]) -> None:
        """A saved state, taken as of the moment it is loaded (its age starts then)."""
        seen, w, w2, s, q = state
        self.seen, self._w, self._w2, self._s, self._q = seen, w / 1e6, w2 / 1e6, float(s), float(q)
        self._at_ns = -1


@dataclass(slots=True)
class MarkupLearner:
    """A markup learned by local search on realised profit: a stochastic hill climb over a grid.

    The learner holds a current arm (a markup). Each learning period it plays that arm, or with
    probability ``explore`` one of its two neighbours on the grid; every period's realised profit
    moves the played arm's estimate toward it by ``step`` (a constant step, so estimates track
    rivals that learn too; an arm's first reward is taken as is). Whenever another played arm's
    estimate beats the current arm's, the learner moves there. Exploration is local on purpose:
    a dealer probing far-away markups at random would hand its rivals a target to exploit, and
    a rival's profit from such probes would keep markups up; trying one step each way is a
    gradient step on profit. Exploration decays from ``explore_start`` to ``explore_floor``
    with a half-life of ``explore_half_life`` periods; the floor keeps it responsive. A share
    ``explore_global`` of the exploring periods tries any arm at random instead: a bidder
    whose rival sits below it and who wins only the orders that rival declines earns a little
    at the top of the grid and less one step down, a local optimum that only a long jump
    (to below the rival) can leave.
    """

    arms: tuple[float, ...] = DEFAULT_ARMS
    seed: int = 0
    start: int | None = None  # the first arm (default: the middle of the grid)
    step: float = 0.3
    explore_start: float = 0.4
    explore_floor: float = 0.15
    explore_half_life: float = 100.0
    # Of the exploring periods, the share that try any other arm at random rather than a
    # neighbour (a rare long jump: the way out of a local optimum no neighbour can show).
    explore_global: float = 0.2
    periods: int = 0
    position: int = -1
    values: list[float] = field(default_factory=list)
    plays: list[int] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if not self.arms:
            raise ValueError("markup learner: at least one arm is needed")
        self.rng = random.Random(self.seed)
        if not self.values:
            self.values = [0.0] * len(self.arms)
            self.plays = [0] * len(self.arms)
        if self.position < 0:
            self.position = len(self.arms) // 2 if self.start is None else self.start
        if not 0 <= self.position < len(self.arms):
            raise ValueError(f"markup learner: start arm {self.position} is not on the grid")

    @property
    def explore(self) -> float:
        decay: float = 0.5 ** (self.periods / self.explore_half_life)
        return self.explore_floor + (self.explore_start - self.explore_floor) * decay

    @property
    def markup(self) -> float:
        """The markup the learner currently holds (its greedy choice)."""
        return self.arms[self.position]

    def _neighbours(self) -> list[int]:
        return [k for k in (self.position - 1, self.position + 1) if 0 <= k < len(self.arms)]

    def choose(self) -> int:
        neighbours = self._neighbours()
        if neighbours and self.rng.random() < self.explore:
            if self.rng.random() < self.explore_global:
                others = [k for k in range(len(self.arms)) if k != self.position]
                return others[self.rng.randrange(len(others))]
            return neighbours[self.rng.randrange(len(neighbours))]
        return self.position

    def update(self, arm: int, reward: float) -> None:
        self.periods += 1
        self.plays[arm] += 1
        if self.plays[arm] == 1:
            self.values[arm] = reward
        else:
            self.values[arm] += self.step * (reward - self.values[arm])
        # Exploitation is global: the learner holds the best estimate of every arm it has
        # played, not only of its neighbours. A dealer whose rivals bid below it wins nothing
        # at its markup or at the neighbouring ones (a flat landscape: an auction lost by a
        # tenth of the spread is lost by two tenths too); a local climb would stay stranded
        # there, while the markups that paid when it did win are still on record. The lowest
        # of equally profitable markups is taken: it wins flow at no cost (and a dealer earning
        # nothing at all can only find flow below its current markup).
        played = [k for k in range(len(self.arms)) if self.plays[k] and k != self.position]
        if played:
            challenger = max(played, key=lambda k: (self.values[k], -k))
            here = self.values[self.position]
            if (
                not self.plays[self.position]
                or self.values[challenger] > here
                or (self.values[challenger] == here and challenger < self.position)
            ):
                self.position = challenger

    def load(self, periods: int, position: int, values: list[int], plays: list[int]) -> None:
        """Resume from a saved state (a warm start)."""
        if len(values) != len(self.arms) or len(plays) != len(self.arms):
            raise ValueError(
                f"markup learner: saved state has {len(values)} arms, this one {len(self.arms)}"
            )
        if not 0 <= position < len(self.arms):
            raise ValueError(f"markup learner: saved position {position} is not on the grid")
        self.values = [float(v) for v in values]
        self.plays = list(plays)
        self.periods = periods
        self.position = position


@dataclass(slots=True)
class Period:
    """One learning period's account: the arm played and the profit it has earned so far."""

    arm: int
    reward: float = 0.0
    opportunities: int = 0  # shares of retail flow the dealer could compete for in this period
    ended: bool = False
    settle_at_ns: int = 0  # once ended: when fills of its opportunities can no longer arrive


@dataclass(slots=True)
class Channel:
    """A dealer's state in one channel (``internalize`` or ``auction``): what it has learned of
    adverse selection there, and its markup learner with the periods still being accounted.

    ``credit_delay_ns``: how long the channel takes to answer a change of markup. An auction
    answers at once (0); the broker's scorecard moves flow only after its reviews have seen the
    new prices (its window of periods). A period's reward counts only what happens after that
    delay from its start, so a markup is credited with the flow it brought — not with the flow
    an earlier markup earned. Without it, a raised markup would look profitable until the
    scorecard caught up, and markups would drift up for no economic reason.
    """

    name: str
    learner: MarkupLearner
    period_ns: int
    credit_delay_ns: int = 0
    # How long after a period ends fills of its opportunities may still arrive (an auction's
    # window and links); they are credited to the period that saw the order, not the next one.
    settle_grace_ns: int = 0
    # How fast a markout's weight in the adverse-selection estimate halves with time (0: never).
    evidence_half_life_ns: int = 0
    # The adverse-selection charge's rule: 0, the proven part (mean less two standard errors,
    # floored at zero); > 0, the posterior mean with a prior worth this many markouts at zero.
    adverse_prior_n: float = 0.0
    adverse: dict[str, MarkoutEstimate] = field(default_factory=dict)
    periods: dict[int, Period] = field(default_factory=dict)
    current: int = -1
    period_end_ns: int = 0
    credit_from_ns: int = 0
    # (period, markup played, profit per share competed for), in the order periods settled
    history: list[tuple[int, float, float]] = field(default_factory=list)
    # Told of every settled period: (channel, period, markup played, shares, reward per share).
    listener: Callable[[str, int, float, int, float], None] | None = None

    def roll(self, now_ns: int) -> None:
        """Settle ended periods that are due; start a new period when the current one is over
        (choosing its arm)."""
        for token in [t for t, p in self.periods.items() if p.ended and p.settle_at_ns <= now_ns]:
            self._settle(token)
        if self.current >= 0 and now_ns < self.period_end_ns:
            return
        if self.current >= 0:
            period = self.periods[self.current]
            period.ended = True
            period.settle_at_ns = now_ns + self.settle_grace_ns
            if self.settle_grace_ns == 0:
                self._settle(self.current)
        self.current += 1
        self.periods[self.current] = Period(self.learner.choose())
        self.period_end_ns = now_ns + self.period_ns
        self.credit_from_ns = now_ns + self.credit_delay_ns

    def markup_share(self, now_ns: int) -> float:
        self.roll(now_ns)
        return self.learner.arms[self.periods[self.current].arm]

    def saw_flow(self, now_ns: int, shares: int) -> int:
        """Retail flow the dealer could compete for in this period (an auction notice's shares,
        or the shares a broker's review shows it routed to all its wholesalers); returns the
        token a fill of it is credited to (-1: not credited, inside the credit delay)."""
        self.roll(now_ns)
        if now_ns < self.credit_from_ns:
            return -1
        self.periods[self.current].opportunities += shares
        return self.current

    def charge(self, symbol: str, now_ns: int) -> float:
        estimate = self.adverse.get(symbol)
        return 0.0 if estimate is None else estimate.charge_at(now_ns)

    def filled(self, now_ns: int, profit: float, token: int | None = None) -> bool:
        """A fill and its expected profit (spread captured against the mid, less PFOF, fees,
        operating cost and expected adverse selection), credited to the period whose flow it
        came from (``token`` from ``saw_flow``; None: the current period). ``False`` when not
        credited (inside the credit delay, or that period already settled)."""
        self.roll(now_ns)
        if token is None:
            if now_ns < self.credit_from_ns:
                return False
            token = self.current
        period = self.periods.get(token)
        if period is None:
            return False
        period.reward += profit
        return True

    def credit(self, token: int, amount: float) -> bool:
        """Add ``amount`` to the reward of period ``token`` (a fill's markout, under
        ``reward = "marked"``); ``False`` when that period has already settled."""
        period = self.periods.get(token)
        if period is None:
            return False
        period.reward += amount
        return True

    def marked(self, symbol: str, per_share: float, now_ns: int) -> None:
        """The markout of a fill: how far the mid moved against it, per share (positive =
        adverse); it teaches the channel's adverse-selection estimate."""
        self._estimate(symbol).update(per_share, now_ns)

    def _estimate(self, symbol: str) -> MarkoutEstimate:
        estimate = self.adverse.get(symbol)
        if estimate is None:
            estimate = self.adverse[symbol] = MarkoutEstimate(
                half_life_ns=self.evidence_half_life_ns, prior_n=self.adverse_prior_n
            )
        return estimate

    def _settle(self, token: int) -> None:
        period = self.periods[token]
        if not period.ended:
            return
        del self.periods[token]
        if period.opportunities:  # a period without retail flow teaches nothing about markups
            reward = period.reward / period.opportunities  # profit per share competed for
            self.learner.update(period.arm, reward)
            self.history.append((token, self.learner.arms[period.arm], reward))
            if self.listener is not None:
                self.listener(
                    self.name, token, self.learner.arms[period.arm], period.opportunities, reward
                )

    def snapshot(self) -> ChannelState:
        """What this channel has learned, as the tape carries it."""
        return ChannelState(
            channel=self.name,
            periods=self.learner.periods,
            position=self.learner.position,
            values=[round(v) for v in self.learner.values],
            plays=list(self.learner.plays),
            adverse={symbol: e.state() for symbol, e in sorted(self.adverse.items())},
        )

    def restore(self, state: ChannelState) -> None:
        """Start from a saved state (a warm start); the current period starts afresh."""
        self.learner.load(state.periods, state.position, state.values, state.plays)
        for symbol, sums in state.adverse.items():
            self._estimate(symbol).load(sums)
