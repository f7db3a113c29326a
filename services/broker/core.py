"""Pure core of the broker's routing: which destination each regime picks, and the scorecard.

Each regime is a *plan*: an ordered list of steps; a decline or a remainder moves the order to
the next step, and every plan ends with the SOR so that no order is stranded.
- ``pfof``: a wholesaler drawn with the flow shares of the broker's execution-quality scorecard
  (``services/broker/scorecard.py``: price improvement x fill rate, reviewed every period);
- ``pfof-capped``: the same, but the broker takes at most ``cap`` per share (the wholesaler's
  cost of the order falls accordingly); ties on the capped rate go to the lower execution cost;
- ``weighted``: minimise ``w * execution_cost - (1 - w) * pfof`` per share over the wholesalers,
  where execution cost is learned from fills (vs the midpoint at receipt);
- ``balanced``: the PFOF mini-project's strategy as written (seed document 000, section 5):
  the same score with ``balanced_weight`` over the wholesalers *and* the SOR (the lit market,
  no PFOF, its cost learned from its fills too), so it may skip the wholesalers altogether;
- ``auction``: the auction, then per the remainder policy a wholesaler (drawn as for ``pfof``)
  at the auction's price or better, then the SOR; ``hybrid``: always auction, then wholesaler,
  then SOR;
- ``best-ex`` and ``commission``: the SOR (commission adds a flat fee per order instead of PFOF).
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field

from config.scenario import PfofRouting, Regime, RemainderPolicy
from protocol.common import OrderType, Side, TimeInForce
from protocol.money import format_price, quote_improvement, tick_size
from protocol.orders import SubmitOrder
from services.broker.scorecard import Grade, Scorecard


def admission_error(
    order: SubmitOrder,
    regime: str,
    symbols: Collection[str],
    enabled: Collection[str],
    duplicate: bool,
    *,
    max_qty: int | None = None,
    tick: int | None = None,
) -> str | None:
    """Why the broker refuses a client's order (``"<field>: <why>"``), or ``None`` to accept it.
    ``tick`` is the symbol's Rule 612 increment (``Scenario.tick``; ``None``: ``tick_size``).

    ``regime`` is the order's regime or the broker's default, ``enabled`` the scenario's regimes,
    ``duplicate`` whether the client already sent this ``order_id``, ``max_qty`` the largest
    order in shares (``[broker] max_order_qty``; ``None``: the wire's bound only). Checked
    before routing: symbol, regime, order type, size, the limit price's tick (Reg NMS Rule
    612), then the order's id and expiry.
    """
    if order.symbol not in symbols:
        return f"symbol: unknown symbol {order.symbol!r}"
    if regime not in enabled:
        return f"regime: regime {regime!r} is not enabled (enabled: {', '.join(sorted(enabled))})"
    if order.order_type is OrderType.MIDPOINT:
        return "order_type: retail orders are market or limit"
    if max_qty is not None and order.qty > max_qty:
        return f"qty: {order.qty:,} shares is above the broker's maximum of {max_qty:,} per order"
    error = tick_error(order.limit_price, tick)
    if error is not None:
        return error
    if duplicate:
        return "order_id: duplicate order_id"
    if order.expire_ns is not None:
        return "expire_ns: retail orders do not expire at the broker: send day or ioc, or cancel"
    return None


def tick_error(limit_price: int | None, tick: int | None = None) -> str | None:
    """Why ``limit_price`` is off the Reg NMS Rule 612 grid (``tick``, the symbol's increment;
    else ``protocol.money.tick_size``: $0.01 at or above $1.00, $0.0001 below), or ``None``
    (on the grid, or no limit)."""
    if limit_price is None:
        return None
    tick = tick or tick_size(limit_price)
    if limit_price % tick == 0:
        return None
    return (
        f"limit_price: {format_price(limit_price)} is not a multiple of the "
        f"{format_price(tick)} tick (Reg NMS Rule 612: $0.01 at or above $1.00, $0.0001 below)"
    )


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
    ref: str = ""  # the broker's unique name of the order (child ids derive from it)

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
    """What the broker has learned of one wholesaler's execution cost (the ``weighted`` arm)."""

    name: str
    pfof_per_share: int
    cost_per_share: float = 0.0  # learned EWMA of D * (price - mid), micro-dollars per share
    cost_samples: int = 0

    def record_cost(self, cost_per_share: float, alpha: float = 0.05) -> None:
        self.cost_samples += 1
        self.cost_per_share = (
            cost_per_share
            if self.cost_samples == 1
            else (self.cost_per_share + alpha * (cost_per_share - self.cost_per_share))
        )


@dataclass(slots=True)
class RoutingTable:
    """The broker's view of its destinations; pure and synchronous.

    PFOF flow (``pfof``, and the wholesaler step of ``auction``/``hybrid``) is split across the
    wholesalers by the execution-quality ``scorecard``: each order goes to a wholesaler drawn
    with the scorecard's flow shares (``rng``: the broker's seeded generator).
    """

    wholesalers: dict[str, WholesalerStats]
    scorecard: Scorecard | None
    rng: random.Random
    auction: str
    sor: str
    pfof_cap: int
    execution_weight: float
    remainder_policy: RemainderPolicy
    pfof_routing: PfofRouting = PfofRouting.SCORECARD
    balanced_weight: float = 0.7
    # what the broker has learned of the SOR's execution cost (``balanced``); PFOF 0
    sor_stats: WholesalerStats = field(init=False)

    def __post_init__(self) -> None:
        self.sor_stats = WholesalerStats(self.sor, pfof_per_share=0)

    def _eligible(self) -> list[WholesalerStats]:
        demoted = self.scorecard.demoted if self.scorecard else {}
        live = [w for w in self.wholesalers.values() if not demoted.get(w.name, False)]
        return live or list(self.wholesalers.values())

    def flow_choice(self) -> str | None:
        """The wholesaler this order of PFOF flow goes to: drawn with the scorecard's flow
        shares, or (``top-payer`` routing) the highest PFOF per share not demoted."""
        if self.pfof_routing is PfofRouting.TOP_PAYER:
            eligible = self._eligible()
            top = min(eligible, key=lambda w: (-w.pfof_per_share, w.name)) if eligible else None
            return top.name if top else None
        return self.scorecard.choose(self.rng) if self.scorecard else None

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

    def weighted_choice(self, include_sor: bool = False) -> WholesalerStats | None:
        """The lowest ``w * cost - (1 - w) * PFOF`` per share over the eligible wholesalers
        (``weighted``) or over them and the SOR (``balanced``, with ``balanced_weight``).

        Costs start at 0, so each destination is tried before its learned cost counts."""
        w = self.balanced_weight if include_sor else self.execution_weight
        candidates = [*self._eligible(), *([self.sor_stats] if include_sor else [])]
        return (
            min(
                candidates,
                key=lambda s: (w * s.cost_per_share - (1 - w) * s.pfof_per_share, s.name),
            )
            if candidates
            else None
        )

    def plan(self, regime: Regime, auction_exempt: bool = False) -> list[RouteStep]:
        """The ordered destinations of an order of ``regime``. An order the proposed Rule 615
        exempts from the auction (``auction_exempt``; ``services/auction/rule615.py``) skips it
        in the auction arms: a wholesaler may internalise it, as in the PFOF arm."""
        if auction_exempt and regime in (Regime.AUCTION, Regime.HYBRID):
            regime = Regime.PFOF
        match regime:
            case Regime.PFOF:
                flow = self.flow_choice()
                return [*([RouteStep(flow)] if flow else []), RouteStep(self.sor)]
            case Regime.PFOF_CAPPED:
                choice = self.capped_choice()
                return [
                    *([RouteStep(choice.name, pfof_rate=self.pfof_cap)] if choice else []),
                    RouteStep(self.sor),
                ]
            case Regime.WEIGHTED:
                choice = self.weighted_choice()
                return [*([RouteStep(choice.name)] if choice else []), RouteStep(self.sor)]
            case Regime.BALANCED:
                choice = self.weighted_choice(include_sor=True)
                if choice is None or choice is self.sor_stats:
                    return [RouteStep(self.sor)]
                return [RouteStep(choice.name), RouteStep(self.sor)]
            case Regime.AUCTION | Regime.HYBRID:
                returned = (
                    regime is Regime.HYBRID
                    or self.remainder_policy == RemainderPolicy.RETURN_TO_WHOLESALER
                )
                flow = self.flow_choice() if returned else None
                back = [RouteStep(flow, at_auction_price=True)] if flow else []
                return [RouteStep(self.auction), *back, RouteStep(self.sor)]
            case Regime.BEST_EX | Regime.COMMISSION:
                return [RouteStep(self.sor)]
        raise ValueError(f"regime: unknown {regime!r}")

    def routed(self, name: str, shares: int = 0) -> None:
        """An order of ``shares`` was sent to wholesaler ``name``."""
        if self.scorecard is not None and name in self.wholesalers:
            self.scorecard.sent(name, shares)

    def record_execution(
        self, name: str, side: Side, qty: int, price: int, bid: int, ask: int, fill_ns: int
    ) -> None:
        """Score a wholesaler's fill against the NBBO at the order's receipt: its cost vs the
        midpoint (``D * (price - mid)``) and its price improvement over the quote."""
        if name == self.sor:
            self.sor_stats.record_cost(side.sign * (price - (bid + ask) / 2))
            return
        stats = self.wholesalers.get(name)
        if stats is None:
            return
        stats.record_cost(side.sign * (price - (bid + ask) / 2))
        if self.scorecard is not None:
            self.scorecard.filled(
                name, qty, quote_improvement(side, price, bid, ask), (ask - bid) // 2, fill_ns
            )

    def review(self) -> list[Grade]:
        """Close a scorecard period (the next period's flow shares follow from it)."""
        return self.scorecard.review() if self.scorecard else []
