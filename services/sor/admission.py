"""Stateless checks of a parent order entering the router: each error reads ``"<field>: <why>"``.

Like ``services/venue/book_rules.py`` for the lit book: the service applies the result, this
module only decides. An accepted parent comes back with the strategy it will be worked with.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from protocol.common import OrderType
from protocol.orders import SubmitOrder
from services.sor.strategies import Strategy, parse_strategy, strategy_for


def admit_parent(
    order: SubmitOrder, symbols: Collection[str], live: bool, destinations: Iterable[str]
) -> Strategy | str:
    """The strategy to work ``order`` with, or why the router refuses it.

    ``live``: the client already has a live parent with this ``order_id``; ``destinations``
    the venues and pools a ``direct:<venue>`` strategy may name.
    """
    if order.symbol not in symbols:
        return f"symbol: unknown symbol {order.symbol!r}"
    if order.order_type is OrderType.MIDPOINT:
        return "order_type: midpoint orders go to dark pools, not the SOR"
    if live:
        return "order_id: duplicate of a live order"
    if order.expire_ns is not None:
        return "expire_ns: parent orders do not expire at the router; cancel them instead"
    try:
        return parse_strategy(strategy_for(order.strategy, order.urgency), destinations)
    except ValueError as exc:
        return f"strategy: {exc}"
