"""A dealer's desk inside a service: the one dealer model (``services.dealer.core``) wired to
the live market.

The desk holds what a dealer knows and owns — its private noisy view of the latent value, its
channels (markup learner and markout estimates per channel), its accounts — and does the timed
parts: markouts ``markout_horizon_ms`` after each fill, the end of each learning period, the
tape events (``MarkupSettled`` per settled period, ``DealerState`` and ``PnlReport`` at stop).
Wholesalers use one with channels ``internalize`` and ``auction``; the auction-responding
market makers of the agents process one each with ``auction`` only.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec
import numpy as np

from config.scenario import DealersConfig, warm_start_path
from protocol.base import Message
from protocol.common import Side
from protocol.control import PnlReport
from protocol.dealers import DealerState, MarkupSettled
from protocol.money import to_micros
from services.dealer.core import (
    Accounts,
    Channel,
    Costs,
    MarkupLearner,
    inventory_charge,
    quote,
    view_cost,
)

M = TypeVar("M", bound=Message)
# Under reward = "marked", how long after the markout horizon a period still waits for it (the
# markout runs on the event loop's timer and may fire a little late on a loaded machine).
MARKOUT_SLACK_S = 0.5


class Host(Protocol):
    """The service a desk lives in: it stamps messages and writes the tape."""

    counters: dict[str, int]

    def make(self, cls: type[M], **fields: Any) -> M: ...

    def tape(self, payload: bytes | Message, recv_ns: int = 0) -> None: ...


INTERNALIZE = "internalize"
AUCTION = "auction"
BP = 10_000  # a markup's wire unit: basis points of the half-spread


@dataclass(slots=True)
class PrivateSignal:
    """A dealer's view of the latent value: value x (1 + e), e an AR(1) noise with standard
    deviation ``sd`` (a fraction) and half-life ``half_life_s``, advanced at every value."""

    rng: np.random.Generator
    sd: float
    half_life_s: float
    error: float = 0.0
    last_ns: int = 0

    def observe(self, value: int, now_ns: int) -> float:
        if self.sd <= 0:
            return float(value)
        if self.last_ns == 0:
            self.error = self.sd * float(self.rng.standard_normal())
        else:
            dt = max(0.0, (now_ns - self.last_ns) / 1e9)
            rho = 0.5 ** (dt / self.half_life_s)
            self.error = rho * self.error + self.sd * math.sqrt(max(0.0, 1 - rho * rho)) * float(
                self.rng.standard_normal()
            )
        self.last_ns = now_ns
        return value * (1.0 + self.error)


@dataclass(slots=True)
class Fill:
    """What a fill's markout needs: its channel and the mid it is marked from."""

    channel: str
    symbol: str
    signed_qty: int  # the dealer's: > 0 when it bought
    mid: float
    token: int | None = None  # the period credited with it, when its markout is credited too


@dataclass(slots=True)
class Desk:
    name: str
    role: str
    spec: DealersConfig
    channels: dict[str, Channel]
    rng: np.random.Generator
    host: Host
    mid_now: Callable[[str], float | None]
    accounts: Accounts = field(default_factory=Accounts)
    signals: dict[str, PrivateSignal] = field(default_factory=dict)
    views: dict[str, float] = field(default_factory=dict)
    operating: int = 0
    inventory_cost: int = 0

    @classmethod
    def build(
        cls,
        name: str,
        role: str,
        spec: DealersConfig,
        channels: Iterable[str],
        rng: np.random.Generator,
        host: Host,
        mid_now: Callable[[str], float | None],
        credit_delay_s: dict[str, float] | None = None,
        settle_grace_s: dict[str, float] | None = None,
    ) -> Desk:
        """``credit_delay_s``: per channel, how long it takes to answer a change of markup;
        ``settle_grace_s``: how long after a period fills of its flow may still arrive (see
        ``Channel``); 0 where not given."""
        arms = tuple(spec.markups)
        prior_n = spec.adverse_prior_markouts if spec.adverse_charge == "posterior" else 0.0
        delays = credit_delay_s or {}
        graces = dict(settle_grace_s or {})
        if spec.reward == "marked":  # a period waits for its fills' markouts before it settles
            horizon_s = spec.markout_horizon_ms / 1e3 + MARKOUT_SLACK_S
            graces = {c: max(graces.get(c, 0.0), horizon_s) for c in channels}
        made = {
            channel: Channel(
                channel,
                MarkupLearner(
                    arms=arms,
                    seed=int(rng.integers(2**31)),
                    start=arms.index(spec.start_markup),
                    step=spec.learning_step,
                    explore_start=spec.explore_start,
                    explore_floor=spec.explore_floor,
                    explore_half_life=spec.explore_half_life,
                    explore_global=spec.explore_global,
                ),
                period_ns=round(spec.learning_period_s * 1e9),
                credit_delay_ns=round(delays.get(channel, 0.0) * 1e9),
                settle_grace_ns=round(graces.get(channel, 0.0) * 1e9),
                evidence_half_life_ns=round(spec.markout_half_life_s * 1e9),
                adverse_prior_n=prior_n,
            )
            for channel in channels
        }
        desk = cls(name, role, spec, made, rng, host, mid_now)
        desk.operating = to_micros(spec.operating_cost_per_share)
        desk.inventory_cost = to_micros(spec.inventory_cost_per_1k)
        for channel in made.values():
            channel.listener = desk._on_settled
        return desk

    # ------------------------------------------------------------------ information
    def observe(self, symbol: str, value: int) -> None:
        """The latent value arrived: only its noisy private view is kept."""
        signal = self.signals.get(symbol)
        if signal is None:
            signal = self.signals[symbol] = PrivateSignal(
                np.random.default_rng(int(self.rng.integers(2**31))),
                self.spec.signal_noise_bps / 1e4,
                self.spec.signal_half_life_s,
            )
        self.views[symbol] = signal.observe(value, time.monotonic_ns())

    def reference(self, symbol: str, mid: float) -> float:
        """The dealer's fair price: the mid moved ``signal_weight`` of the way to its view."""
        view = self.views.get(symbol)
        return mid if view is None else mid + self.spec.signal_weight * (view - mid)

    # ------------------------------------------------------------------ pricing
    def price(
        self,
        channel: str,
        symbol: str,
        side: Side,
        bid: int,
        ask: int,
        grid: int,
        limit_price: int | None = None,
        pfof_per_share: float = 0.0,
        fees_per_share: float = 0.0,
    ) -> int | None:
        """Our price for an investor order in ``channel``, or ``None`` to decline."""
        state = self.channels[channel]
        now = time.monotonic_ns()
        position = self.accounts.inventory.get(symbol, 0)
        costs = Costs(
            adverse=state.charge(symbol, now),
            inventory=inventory_charge(side, position, self.inventory_cost),
            operating=self.operating,
            pfof=pfof_per_share,
            fees=fees_per_share,
        )
        half = (ask - bid) / 2
        markup = state.markup_share(now) * half
        mid = (bid + ask) / 2
        shift = self.reference(symbol, mid) - mid
        # The reference moves the price: the core's rule around ``mid + shift`` is the rule around
        # the mid with ``d * shift`` added to the cost (d = the investor's side); under
        # ``view_pricing = "protective"`` only where it raises the dealer's cost.
        moved = view_cost(side, shift, self.spec.view_pricing == "protective")
        return quote(side, bid, ask, costs.total + moved, markup, grid, limit_price)

    def saw_flow(self, channel: str, shares: int) -> int:
        """Retail flow this dealer could compete for: ``shares`` (the learner's reward is
        profit per share of it); returns the token to credit a fill of it to."""
        return self.channels[channel].saw_flow(time.monotonic_ns(), shares)

    # ------------------------------------------------------------------ fills and markouts
    def filled(
        self,
        channel: str,
        symbol: str,
        investor_side: Side,
        qty: int,
        price: int,
        mid: float,
        *,
        pfof: int = 0,
        fee: int = 0,
        token: int | None = None,
    ) -> None:
        """A fill with an investor (we take the other side) against ``mid``: accounts, the
        period's expected profit, and the markout ``markout_horizon_ms`` later."""
        signed = -qty if investor_side is Side.BUY else qty
        # The inventory charge the price was set with (the position before this trade): the
        # reward is the profit the one cost model expected, inventory included — a trade that
        # reduces risk earns its credit, one that adds risk pays its charge.
        held = inventory_charge(
            investor_side, self.accounts.inventory.get(symbol, 0), self.inventory_cost
        )
        self.accounts.trade(symbol, signed, price, mid, hedge=False, fee=fee, pfof=pfof)
        state = self.channels[channel]
        now = time.monotonic_ns()
        edge = (mid - price) * signed  # sold above / bought below the mid: positive
        marked = self.spec.reward == "marked"
        # "expected": the adverse selection the estimate has proven is charged now; "marked":
        # none now, the fill's own markout is credited when it comes (_markout).
        adverse = 0.0 if marked else state.charge(symbol, now)
        profit = edge - pfof - fee - (self.operating + adverse + held) * qty
        credited = state.filled(now, profit, token)
        period = (token if token is not None else state.current) if marked and credited else None
        fill = Fill(channel, symbol, signed, mid, period)
        asyncio.get_running_loop().call_later(
            self.spec.markout_horizon_ms / 1e3, self._markout, fill
        )

    def _markout(self, fill: Fill) -> None:
        mid = self.mid_now(fill.symbol)
        state = self.channels[fill.channel]
        prefix = f"{fill.channel}." if self.role != "auction-responder" else f"{self.name}."
        counters = self.host.counters
        if mid is None:  # no usable NBBO at the horizon: the fill is not marked
            counters[f"{prefix}unmarked"] = counters.get(f"{prefix}unmarked", 0) + 1
            return
        moved_against = (fill.mid - mid) * (1 if fill.signed_qty > 0 else -1)
        now = time.monotonic_ns()
        state.marked(fill.symbol, moved_against, now)
        if fill.token is not None:  # reward = "marked": the fill's realised outcome
            state.credit(fill.token, -moved_against * abs(fill.signed_qty))
        # On the heartbeat: "<channel>.adverse_micros.<symbol>", "<channel>.markouts" (an
        # auction-responding market maker's under its own name).
        counters[f"{prefix}adverse_micros.{fill.symbol}"] = round(state.charge(fill.symbol, now))
        counters[f"{prefix}markouts"] = counters.get(f"{prefix}markouts", 0) + 1

    def tick(self) -> None:
        """End learning periods that are over (call it a few times per period)."""
        now = time.monotonic_ns()
        for state in self.channels.values():
            state.roll(now)

    def _on_settled(
        self, channel: str, period: int, markup: float, orders: int, reward: float
    ) -> None:
        held = self.channels[channel].learner.markup
        self.host.tape(
            self.host.make(
                MarkupSettled,
                dealer=self.name,
                channel=channel,
                period=period,
                markup_bp=round(markup * BP),
                shares=orders,
                reward=round(reward * 100),  # per 100 shares
                held_bp=round(held * BP),
            )
        )

    # ------------------------------------------------------------------ state
    def report(self, mids: dict[str, float]) -> None:
        """At stop: the P&L (marked to ``mids``) and the learned state, on the tape."""
        self.host.tape(
            self.host.make(
                PnlReport,
                name=self.name,
                role=self.role,
                components=self.accounts.components(mids),
                inventory=dict(self.accounts.inventory),
            )
        )
        self.host.tape(self.host.make(DealerState, **self.state_fields()))

    def state_fields(self) -> dict[str, Any]:
        return dict(
            dealer=self.name,
            role=self.role,
            arms=[round(a * BP) for a in self.spec.markups],
            channels=[c.snapshot() for c in self.channels.values()],
        )

    def restore(self, path: str) -> bool:
        """Warm start from a calibration file (``{dealer: DealerState}``); ``False`` when the
        file has nothing for this dealer."""
        saved = msgspec.json.decode(warm_start_path(path).read_bytes(), type=dict[str, DealerState])
        mine = saved.get(self.name)
        if mine is None:
            return False
        self.restore_state(mine, f"dealers.warm_start {path}")
        return True

    def restore_state(self, state: DealerState, source: str) -> None:
        """Resume from a learned state (a warm start, or a restarted process's snapshot)."""
        if state.arms != [round(a * BP) for a in self.spec.markups]:
            raise ValueError(
                f"{source}: {self.name}'s markups {state.arms} differ from the scenario's"
            )
        for channel_state in state.channels:
            if channel_state.channel in self.channels:
                self.channels[channel_state.channel].restore(channel_state)
