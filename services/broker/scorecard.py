"""The broker's execution-quality scorecard and the PFOF flow split it drives (pure core).

Retail brokers that take PFOF route across several wholesalers and say in their Rule 606
disclosures that they allocate by execution quality — price improvement, fill rate, speed —
reviewed regularly. Here the broker keeps, per wholesaler, the last ``window`` review periods of
what it saw: orders sent, orders filled, shares, share-weighted price improvement (micro-dollars
per share, computed by the caller with ``protocol.money.price_improvement``), the quoted
half-spread it was measured against, and time to fill.

Score = price improvement as a share of the quoted half-spread over the window (share-weighted:
1 - E/Q, the Rule 605 ratio brokers publish) x fill rate (a declined order brings no
improvement). Relative to the spread, not in dollars: a dollar figure would rank wholesalers by
which symbols they happened to be sent in the window (a $118 stock's half-spread is three times
a $38 one's) rather than by how much of the spread they give back.

Flow shares: every wholesaler keeps ``floor`` of the flow (so a demoted one is
still measured and can win its flow back); the rest is split in proportion to the positive
scores. A wholesaler whose score is below ``tolerance`` of the best is *demoted* for the next
period: it keeps only the floor. A wholesaler with no orders in the window is ranked on the
last score it earned; with no evidence for anyone yet the flow is split evenly. Nothing here
looks at the PFOF a wholesaler pays.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class PeriodStats:
    """One wholesaler's orders in one review period."""

    sent: int = 0
    sent_shares: int = 0
    filled: int = 0
    shares: int = 0
    improvement: int = 0  # sum of improvement per share x shares, micro-dollars
    quoted: int = 0  # sum of the quoted half-spread x shares, micro-dollars
    fill_ns: int = 0  # sum of time to first fill, nanoseconds


@dataclass(frozen=True, slots=True)
class Grade:
    """A wholesaler's grade at a review: what the next period's flow share follows from."""

    name: str
    sent: int  # over the window
    filled: int
    shares: int
    improvement_per_share: int
    improvement_bp: int  # share of the quoted half-spread given back, basis points
    fill_rate: float
    score: float
    share: float
    demoted: bool
    period_sent: int = 0  # routed to it in the period being reviewed
    period_sent_shares: int = 0


@dataclass(slots=True)
class Scorecard:
    names: list[str]
    window: int = 3
    floor: float = 0.05
    tolerance: float = 0.8
    history: dict[str, deque[PeriodStats]] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    demoted: dict[str, bool] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)  # the last score earned on evidence

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("scorecard: no wholesalers")
        if not 0.0 <= self.floor * len(self.names) <= 1.0:
            raise ValueError(f"scorecard: floor {self.floor} x {len(self.names)} exceeds 1")
        for name in self.names:
            self.history[name] = deque([PeriodStats()], maxlen=self.window)
            self.shares[name] = 1.0 / len(self.names)
            self.demoted[name] = False

    def _now(self, name: str) -> PeriodStats:
        return self.history[name][-1]

    def sent(self, name: str, shares: int = 0) -> None:
        now = self._now(name)
        now.sent += 1
        now.sent_shares += shares

    def filled(
        self, name: str, shares: int, improvement_per_share: int, half_spread: int, fill_ns: int
    ) -> None:
        """The order's fill (all its shares at one price: wholesalers fill whole orders) and the
        quoted half-spread (micro-dollars) its improvement was measured against."""
        now = self._now(name)
        now.filled += 1
        now.shares += shares
        now.improvement += improvement_per_share * shares
        now.quoted += max(0, half_spread) * shares
        now.fill_ns += max(0, fill_ns)

    def choose(self, rng: random.Random) -> str:
        """A wholesaler drawn with the current flow shares."""
        u = rng.random()
        total = 0.0
        for name in self.names:
            total += self.shares[name]
            if u < total:
                return name
        return self.names[-1]

    def grades(self) -> list[Grade]:
        """Scores over the window and the flow shares they give (without closing the period)."""
        rows = {}
        for name in self.names:
            periods = self.history[name]
            sent = sum(p.sent for p in periods)
            filled = sum(p.filled for p in periods)
            shares = sum(p.shares for p in periods)
            improvement = sum(p.improvement for p in periods)
            quoted = sum(p.quoted for p in periods)
            pi = improvement // shares if shares else 0
            given_back = improvement / quoted if quoted else 0.0
            fill_rate = filled / sent if sent else 0.0
            rows[name] = (
                sent,
                filled,
                shares,
                pi,
                round(given_back * 10_000),
                fill_rate,
                given_back * fill_rate,
            )
        # The score each wholesaler is ranked on: the window's when it has evidence there (an
        # order filled, or orders sent and none filled: a score of 0); otherwise the last one it
        # earned. Without that memory a leader whose rivals are held at the floor — and so
        # rarely show a fill inside the window — would be ranked against nobody and could
        # charge what it liked until a rival's next floor order was filled.
        scores = {n: r[6] if r[1] or r[0] else self.last.get(n) for n, r in rows.items()}
        ranked = {n: v for n, v in scores.items() if v is not None}
        best = max(ranked.values(), default=0.0)
        demoted = {n: best > 0 and v < self.tolerance * best for n, v in ranked.items()}
        eligible = {n: v for n, v in ranked.items() if v > 0 and not demoted[n]}
        mass = sum(eligible.values())
        free = 1.0 - self.floor * len(self.names)
        return [
            Grade(
                name,
                *rows[name],
                share=self.floor + free * eligible.get(name, 0.0) / mass
                if mass > 0
                else 1.0 / len(self.names),
                demoted=demoted.get(name, False),
                period_sent=self.history[name][-1].sent,
                period_sent_shares=self.history[name][-1].sent_shares,
            )
            for name in self.names
        ]

    def review(self) -> list[Grade]:
        """Close the period: grade every wholesaler, set the next period's flow shares."""
        grades = self.grades()
        for grade in grades:
            if grade.filled or grade.sent:
                self.last[grade.name] = grade.score
            self.shares[grade.name] = grade.share
            self.demoted[grade.name] = grade.demoted
            self.history[grade.name].append(PeriodStats())
        return grades
