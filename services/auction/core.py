"""Pure clearing core for order-by-order auctions after the SEC's proposed Rule 615.

One auction is held per retail order. Responders submit priced responses while the window
``[start_ns, end_ns)`` is open; the best price wins, ties go to the earlier response, and when
responses are smaller than the order several responders are filled in price-time order, each at
its own price. Whatever is left (``remainder_qty``) is handled by a :class:`RemainderPolicy`.

Everything here is synchronous and side-effect free: prices are integer micro-dollars,
quantities integer shares, times integer nanoseconds.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from config.scenario import RemainderPolicy
from protocol.common import OrderType, Side
from protocol.money import format_price, outside_quote, quote_improvement
from protocol.orders import SubmitOrder


@dataclass(frozen=True, slots=True)
class AuctionSpec:
    """One auction for one retail order.

    ``side`` is the side of the retail order: for a buy, responders sell to it and a lower price
    is better. ``nbbo_bid``/``nbbo_ask`` are the NBBO at auction start; ``increment`` is the
    price grid responses must sit on (1_000 micro-dollars == $0.001). The response window is
    half-open: a response stamped exactly ``end_ns`` is too late.
    """

    auction_id: str
    symbol: str
    side: Side
    qty: int
    limit_price: int | None
    nbbo_bid: int
    nbbo_ask: int
    increment: int
    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"cannot build auction {self.auction_id}: qty must be > 0")
        if self.increment <= 0:
            raise ValueError(f"cannot build auction {self.auction_id}: increment must be > 0")
        if self.end_ns < self.start_ns:
            raise ValueError(f"cannot build auction {self.auction_id}: end_ns before start_ns")


@dataclass(frozen=True, slots=True)
class AuctionResponse:
    """A responder's offer to trade with the retail order at ``price`` for up to ``qty``."""

    response_id: str
    responder: str
    price: int
    qty: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class ResponseAllocation:
    """Shares awarded to one response, executed at that response's own price."""

    response_id: str
    responder: str
    price: int
    qty: int


@dataclass(frozen=True, slots=True)
class Clearing:
    """The outcome of one auction.

    ``allocations`` are in priority order (best price first). ``best_price`` is the best valid
    response price (``None`` without valid responses); ``responses`` counts the valid responses
    that competed, invalid and duplicate ones excluded. ``through_nbbo`` counts the valid
    responses left unexecuted because, at execution, their price would trade through the NBBO
    then prevailing (Reg NMS Rule 611(a)).
    """

    allocations: tuple[ResponseAllocation, ...]
    filled_qty: int
    remainder_qty: int
    best_price: int | None
    responses: int
    through_nbbo: int = 0


@dataclass(frozen=True, slots=True)
class RemainderPlan:
    """Instructions for the unfilled part of an auctioned order.

    ``worst_price`` is the worst price the remainder may execute at: a cap for buy orders, a
    floor for sell orders; ``None`` means no price constraint (a market order sent to the SOR).
    ``qty == 0`` means there is nothing left to do.
    """

    policy: RemainderPolicy
    qty: int
    worst_price: int | None


def admission_error(
    order: SubmitOrder, symbols: Collection[str], start_ns: int, window_ns: int
) -> str | None:
    """Why the auction house refuses a broker's order (``"<field>: <why>"``), or ``None``.

    The order executes when the window closes (``start_ns + window_ns``): it must still be
    valid then. Midpoint orders and unknown symbols cannot be auctioned.
    """
    if order.expire_ns is not None and order.expire_ns <= start_ns + window_ns:
        window_ms = window_ns / 1e6
        return f"expire_ns: expires before the auction window ({window_ms:g} ms) would close"
    if order.symbol not in symbols:
        return "symbol: cannot auction this symbol"
    if order.order_type is OrderType.MIDPOINT:
        return "order_type: cannot auction this order_type"
    return None


def is_better(side: Side, price: int, other: int) -> bool:
    """True if ``price`` is strictly better than ``other`` for a retail order on ``side``."""
    return price < other if side is Side.BUY else price > other


def validate_response(spec: AuctionSpec, response: AuctionResponse) -> str | None:
    """Return ``None`` if ``response`` may compete in ``spec``'s auction, else a reason.

    The reason names the offending field first, e.g. ``"price: outside the order's limit"``.
    """
    if response.qty <= 0:
        return "qty: must be > 0"
    if response.price <= 0:
        return "price: must be > 0"
    if response.price % spec.increment != 0:
        return f"price: not a multiple of the {format_price(spec.increment)} increment"
    nbbo_far_side = spec.nbbo_ask if spec.side is Side.BUY else spec.nbbo_bid
    if is_better(spec.side, nbbo_far_side, response.price):
        return "price: worse than the NBBO at auction start"
    if spec.limit_price is not None and is_better(spec.side, spec.limit_price, response.price):
        return "price: outside the order's limit"
    if response.ts_ns < spec.start_ns:
        return "ts_ns: before the auction window opened"
    if response.ts_ns >= spec.end_ns:
        return "ts_ns: after the auction window closed"
    return None


def clear(
    spec: AuctionSpec,
    responses: Iterable[AuctionResponse],
    exec_nbbo: tuple[int | None, int | None] = (None, None),
) -> Clearing:
    """Clear one auction: best price first, then earlier ``ts_ns``, then arrival order.

    Invalid responses (see :func:`validate_response`) are skipped, and so is every response
    repeating an earlier ``response_id`` (the first one counts, even if it was invalid).
    Each response in priority order receives ``min(response.qty, remaining)`` at its own
    price until the order is filled.

    ``exec_nbbo`` is the ``(bid, ask)`` the auction knows when it executes, at the window's
    end. Responses were checked against the NBBO at the start; the market may have moved
    since, and a response whose price is now outside it (above the offer or below the bid:
    either side's protected quote) is not executed
    (Reg NMS Rule 611(a) applies at execution; counted in ``Clearing.through_nbbo``). It still
    counts among the ``responses`` and may set ``best_price`` only if executable.
    """
    exec_bid, exec_ask = exec_nbbo
    seen_ids: set[str] = set()
    ranked: list[tuple[int, int, int, AuctionResponse]] = []
    for arrival, response in enumerate(responses):
        if response.response_id in seen_ids:
            continue
        seen_ids.add(response.response_id)
        if validate_response(spec, response) is not None:
            continue
        price_rank = response.price if spec.side is Side.BUY else -response.price
        ranked.append((price_rank, response.ts_ns, arrival, response))
    ranked.sort(key=lambda entry: entry[:3])

    # Both sides are protected: a response below the bid for a retail buy would have its
    # responder sell below a protected bid.
    executable = [e for e in ranked if not outside_quote(e[3].price, exec_bid, exec_ask)]
    allocations: list[ResponseAllocation] = []
    remaining = spec.qty
    for *_, response in executable:
        if remaining == 0:
            break
        take = min(response.qty, remaining)
        allocations.append(
            ResponseAllocation(response.response_id, response.responder, response.price, take)
        )
        remaining -= take
    return Clearing(
        allocations=tuple(allocations),
        filled_qty=spec.qty - remaining,
        remainder_qty=remaining,
        best_price=executable[0][3].price if executable else None,
        responses=len(ranked),
        through_nbbo=len(ranked) - len(executable),
    )


def improvement_per_share(spec: AuctionSpec, price: int) -> int:
    """Price improvement of ``price`` over the NBBO at auction start, micro-dollars per share.

    ``ask - price`` for buy orders, ``price - bid`` for sell orders; negative means worse.
    """
    return quote_improvement(spec.side, price, spec.nbbo_bid, spec.nbbo_ask)


def plan_remainder(policy: RemainderPolicy, clearing: Clearing, spec: AuctionSpec) -> RemainderPlan:
    """Decide how the ``clearing.remainder_qty`` unfilled shares are handled.

    ``ROUTE_TO_SOR``: the SOR works the remainder within the order's own limit.
    ``RETURN_TO_WHOLESALER``: the wholesaler must fill at the auction's best price or better,
    or at the NBBO at auction start if nobody responded; never beyond the order's limit.
    """
    if policy is RemainderPolicy.ROUTE_TO_SOR:
        return RemainderPlan(policy, clearing.remainder_qty, spec.limit_price)
    nbbo_far_side = spec.nbbo_ask if spec.side is Side.BUY else spec.nbbo_bid
    worst = remainder_worst_price(spec.side, spec.limit_price, clearing.best_price, nbbo_far_side)
    return RemainderPlan(policy, clearing.remainder_qty, worst)


def remainder_worst_price(
    side: Side, limit_price: int | None, best_price: int | None, nbbo_far_side: int | None
) -> int | None:
    """The worst price an auction remainder returned to a wholesaler may execute at.

    The auction's best price, or the NBBO's far side (the ask for a buy) if nobody responded;
    never beyond the order's own limit. ``None`` if there is neither reference: the remainder
    keeps its own terms. The broker applies this to the remainder it routes back.
    """
    worst = best_price if best_price is not None else nbbo_far_side
    if worst is None:
        return None
    if limit_price is not None and is_better(side, limit_price, worst):
        return limit_price
    return worst
