"""Pure core of the broker's routing: which destination each regime picks, and the scorecard.

Each regime is a *plan*: an ordered list of steps; a decline or a remainder moves the order to
the next step, and every plan ends with the SOR so that no order is stranded.
- ``pfof``: the wholesaler paying the most PFOF per share among those not demoted by the last
  scorecard review;
- ``pfof-capped``: the same, but the broker takes at most ``cap`` per share (the wholesaler's
  cost of the order falls accordingly); ties on the capped rate go to the lower execution cost;
- ``weighted``: minimise ``w * execution_cost - (1 - w) * pfof`` per share over the wholesalers,
  where execution cost is learned from fills (vs the midpoint at receipt);
- ``auction``: the auction, then per the remainder policy the top wholesaler at the auction's
  price or better, then the SOR; ``hybrid``: always auction, then wholesaler, then SOR;
- ``best-ex`` and ``commission``: the SOR (commission adds a flat fee per order instead of PFOF).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from config.scenario import Regime, RemainderPolicy
from protocol.common import OrderType, Side, TimeInForce
from protocol.money import quote_improvement
from protocol.orders import SubmitOrder


def admission_error(
    order: SubmitOrder,
    regime: str,
    symbols: Collection[str],
    enabled: Collection[str],
    duplicate: bool,
) -> str | None:
    """Why the broker refuses a client's order (``"<field>: <why>"``), or ``None`` to accept it.

    ``regime`` is the order's regime or the broker's default, ``enabled`` the scenario's regimes,
    ``duplicate`` whether the client already sent this ``order_id``.
    """
    if order.symbol not in symbols:
        return f"symbol: unknown symbol {order.symbol!r}"
    if regime not in enabled:
        return f"regime: regime {regime!r} is not enabled (enabled: {', '.join(sorted(enabled))})"
    if order.order_type is OrderType.MIDPOINT:
        return "order_type: retail orders are market or limit"
    if duplicate:
        return "order_id: duplicate order_id"
    if order.expire_ns is not None:
        return "expire_ns: retail orders do not expire at the broker: send day or ioc, or cancel"
    return None


@dataclass(frozen=True, slots=True)
class RouteStep:
    """One destination of a regime's plan, tried immediate-or-cancel."""

    destination: str
    pfof_rate: int | None = None  # cap per share passed to a wholesaler
    at_auction_price: bool = False  # limit the order at the auction's best price or better


@dataclass(slots=True)
class ClientOrder:
    """A client's order at the broker: its plan, its current child, what has filled."""

    identity: bytes
    order: SubmitOrder
    regime: Regime
    plan: list[RouteStep]
    nbbo_bid: int | None
    nbbo_ask: int | None
    cum: int = 0
    child_id: str | None = None
    child_dest: str | None = None
    children: int = 0
    best_auction_price: int | None = None
    commission_due: int = 0
    resting: bool = False  # the current child is a day limit resting on the limit venue
    cancel_requested: str | None = None  # the client's cancel, applied at the next step
    reasons: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.order.qty - self.cum

    @property
    def can_rest(self) -> bool:
        """Whether what is left may rest on the limit venue: a day limit order, not resting
        yet, not being canceled, with shares left."""
        order = self.order
        return (
            order.order_type is OrderType.LIMIT
            and order.tif is TimeInForce.DAY
            and order.limit_price is not None
            and not self.resting
            and self.cancel_requested is None
            and self.remaining > 0
        )


@dataclass(slots=True)
class WholesalerStats:
    """What the broker has seen of one wholesaler's executions."""

    name: str
    pfof_per_share: int
    cost_per_share: float = 0.0  # learned EWMA of D * (price - mid), micro-dollars per share
    cost_samples: int = 0
    period_orders: int = 0
    period_shares: int = 0
    period_improvement: int = 0  # sum of improvement * shares, micro-dollars
    demoted: bool = False

    def record_fill(
        self, qty: int, cost_per_share: float, improvement_per_share: int, alpha: float = 0.05
    ) -> None:
        self.cost_samples += 1
        self.cost_per_share = (
            cost_per_share
            if self.cost_samples == 1
            else (self.cost_per_share + alpha * (cost_per_share - self.cost_per_share))
        )
        self.period_shares += qty
        self.period_improvement += improvement_per_share * qty

    def record_execution(self, side: Side, qty: int, price: int, bid: int, ask: int) -> None:
        """Score a fill against the NBBO at the order's receipt: its cost vs the midpoint
        (``D * (price - mid)``) and its price improvement over the quote."""
        mid2 = bid + ask
        cost = side.sign * (price - mid2 / 2)
        self.record_fill(qty, cost, quote_improvement(side, price, bid, ask))

    @property
    def improvement_per_share(self) -> int:
        return self.period_improvement // self.period_shares if self.period_shares else 0


@dataclass(frozen=True, slots=True)
class Review:
    name: str
    orders: int
    shares: int
    improvement_per_share: int
    best_improvement_per_share: int
    demoted: bool


@dataclass(slots=True)
class RoutingTable:
    """The broker's view of its destinations; pure and synchronous."""

    wholesalers: dict[str, WholesalerStats]
    auction: str
    sor: str
    pfof_cap: int
    execution_weight: float
    remainder_policy: RemainderPolicy
    tolerance: float
    min_orders: int
    history: list[list[Review]] = field(default_factory=list)

    def _eligible(self) -> list[WholesalerStats]:
        live = [w for w in self.wholesalers.values() if not w.demoted]
        return live or list(self.wholesalers.values())

    def top_payer(self) -> WholesalerStats | None:
        eligible = self._eligible()
        return min(eligible, key=lambda w: (-w.pfof_per_share, w.name)) if eligible else None

    def capped_choice(self) -> WholesalerStats | None:
        eligible = self._eligible()
        return (
            min(
                eligible,
                key=lambda w: (-min(w.pfof_per_share, self.pfof_cap), w.cost_per_share, w.name),
            )
            if eligible
            else None
        )

    def weighted_choice(self) -> WholesalerStats | None:
        w = self.execution_weight
        eligible = self._eligible()
        return (
            min(eligible, key=lambda s: (w * s.cost_per_share - (1 - w) * s.pfof_per_share, s.name))
            if eligible
            else None
        )

    def plan(self, regime: Regime) -> list[RouteStep]:
        top = self.top_payer()
        wholesale = [RouteStep(top.name)] if top else []
        match regime:
            case Regime.PFOF:
                return [*wholesale, RouteStep(self.sor)]
            case Regime.PFOF_CAPPED:
                choice = self.capped_choice()
                return [
                    *([RouteStep(choice.name, pfof_rate=self.pfof_cap)] if choice else []),
                    RouteStep(self.sor),
                ]
            case Regime.WEIGHTED:
                choice = self.weighted_choice()
                return [*([RouteStep(choice.name)] if choice else []), RouteStep(self.sor)]
            case Regime.AUCTION:
                returned = self.remainder_policy == RemainderPolicy.RETURN_TO_WHOLESALER
                back = [RouteStep(top.name, at_auction_price=True)] if top and returned else []
                return [RouteStep(self.auction), *back, RouteStep(self.sor)]
            case Regime.HYBRID:
                back = [RouteStep(top.name, at_auction_price=True)] if top else []
                return [RouteStep(self.auction), *back, RouteStep(self.sor)]
            case Regime.BEST_EX | Regime.COMMISSION:
                return [RouteStep(self.sor)]
        raise ValueError(f"regime: unknown {regime!r}")

    def review(self) -> list[Review]:
        """Close a scorecard period: demote wholesalers far below the best, reset the period."""
        rated = [w for w in self.wholesalers.values() if w.period_orders >= self.min_orders]
        best = max((w.improvement_per_share for w in rated), default=0)
        reviews = []
        for w in self.wholesalers.values():
            if w.period_orders >= self.min_orders:
                w.demoted = best > 0 and w.improvement_per_share < self.tolerance * best
            else:
                w.demoted = False  # no evidence this period: back on probation
            reviews.append(
                Review(
                    w.name,
                    w.period_orders,
                    w.period_shares,
                    w.improvement_per_share,
                    best,
                    w.demoted,
                )
            )
            w.period_orders = w.period_shares = w.period_improvement = 0
        self.history.append(reviews)
        return reviews
