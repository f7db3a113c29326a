"""Stateless validation of orders entering the lit book: each error reads ``"<field>: <why>"``.

``expiry_error`` is the one check every service that takes orders applies on receipt.

Checks use ``type(x) is int`` so floats (and bools) never pass as prices or quantities, and
identity comparisons against the enum members, which is what the hot path can afford.
"""

from __future__ import annotations

from protocol.common import MAX_PRICE, MAX_QTY, OrderType, Side, TimeInForce
from protocol.money import tick_size

_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_MARKET = OrderType.MARKET
_DAY = TimeInForce.DAY
_IOC = TimeInForce.IOC
_FOK = TimeInForce.FOK


def limit_price_error(limit_price: object, tick: int | None = None) -> str | None:
    """Why ``limit_price`` is not a valid limit, or ``None`` if it is (on ``tick``, else the
    Rule 612 grid of ``tick_size``)."""
    if limit_price is None:
        return "limit_price: required for limit orders"
    if type(limit_price) is not int:
        return f"limit_price: must be an int of micro-dollars, got {type(limit_price).__name__}"
    if limit_price <= 0:
        return "limit_price: must be > 0"
    if limit_price > MAX_PRICE:
        return f"limit_price: above the maximum {MAX_PRICE}"
    tick = tick or tick_size(limit_price)
    if limit_price % tick:
        return f"limit_price: {limit_price} is not on the {tick} micro-dollar tick grid"
    return None


def qty_error(qty: object) -> str | None:
    """Why ``qty`` is not a valid order quantity, or ``None`` if it is."""
    if type(qty) is not int or qty <= 0:
        return "qty: must be a positive int of shares"
    if qty > MAX_QTY:
        return f"qty: above the maximum {MAX_QTY}"
    return None


def submit_error(
    order_id: object,
    account: object,
    side: object,
    qty: object,
    order_type: object,
    limit_price: object,
    tif: object,
    post_only: bool,
    tick: int | None = None,
) -> str | None:
    """Why a submit is invalid on its own (the book's state aside), or ``None``. ``tick``: the
    symbol's increment when it is not the price's ``tick_size`` (a half-penny stock)."""
    if (  # the common case, a valid limit order, in one pass without nested calls
        type(qty) is int
        and 0 < qty <= MAX_QTY
        and type(limit_price) is int
        and 0 < limit_price <= MAX_PRICE
        and order_type is _LIMIT
        and not limit_price % (tick or tick_size(limit_price))
        and (side is _BUY or side is _SELL)
        and (tif is _DAY or tif is _IOC or tif is _FOK)
        and type(order_id) is str
        and order_id
        and type(account) is str
        and account
    ):
        return None
    return _first_submit_error(
        order_id, account, side, qty, order_type, limit_price, tif, post_only, tick
    )


def _first_submit_error(
    order_id: object,
    account: object,
    side: object,
    qty: object,
    order_type: object,
    limit_price: object,
    tif: object,
    post_only: bool,
    tick: int | None = None,
) -> str | None:
    if type(order_id) is not str or not order_id:
        return "order_id: must be a non-empty str"
    if type(account) is not str or not account:
        return "account: must be a non-empty str"
    if side is not _BUY and side is not _SELL:
        return "side: must be a Side"
    if tif is not _DAY and tif is not _IOC and tif is not _FOK:
        return "tif: must be a TimeInForce"
    reason = qty_error(qty)
    if reason is not None:
        return reason
    if order_type is _LIMIT:
        return limit_price_error(limit_price, tick)
    if order_type is _MARKET:
        if limit_price is not None:
            return "limit_price: must be None for market orders"
        if post_only:
            return "post_only: market orders always take liquidity"
        return None
    if order_type is OrderType.MIDPOINT:
        return "order_type: midpoint orders are not supported on a lit book"
    return "order_type: must be an OrderType"


def expiry_error(expire_ns: int | None, now_ns: int) -> str | None:
    """Why an order with ``expire_ns`` must be refused at ``now_ns``, or ``None``.

    An order is expired at and after its ``expire_ns`` (nanoseconds, ``time.time_ns()`` clock);
    ``None`` never expires. ``now_ns`` is the time the order would reach the book, so that
    nothing executes after its expiry.
    """
    if expire_ns is None or now_ns < expire_ns:
        return None
    late_ms = (now_ns - expire_ns) / 1e6
    return f"expire_ns: expired: arrived {late_ms:.1f} ms after its expiry"
