"""Property tests of the lit matching core on random sequences of submits, cancels and replaces.

Every operation is checked against a small reference: before each order the opposite side is
snapshotted in priority order, and a naive sweep over that list says exactly which makers must
fill, at which price and size, and which same-account orders self-trade prevention must cancel.
After every operation the book's structural invariants are checked against a model of leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.common import OrderType, Side, TimeInForce
from protocol.money import CENT, MICROS_PER_DOLLAR
from services.venue.book import OrderBook, SubmitResult

P100 = 100 * MICROS_PER_DOLLAR
COLLAR_BPS = 2  # $0.02 around $100: small enough that random sweeps run into it
ACCOUNTS = ("a", "b", "c", "d", "e")
OFF_TICK = P100 + CENT // 2

sides = st.sampled_from(Side)
tifs = st.sampled_from(TimeInForce)
quantities = st.integers(1, 300)
prices = st.sampled_from([P100 + cents * CENT for cents in range(-4, 5)] + [OFF_TICK])
limit_ops = st.tuples(
    st.just("limit"), sides, quantities, prices, tifs, st.sampled_from(ACCOUNTS), st.booleans()
)
market_ops = st.tuples(
    st.just("market"), sides, st.integers(1, 1000), tifs, st.sampled_from(ACCOUNTS)
)
cancel_ops = st.tuples(st.just("cancel"), st.integers(0, 200))
replace_ops = st.tuples(st.just("replace"), st.integers(0, 200), quantities, st.none() | prices)
operations = st.lists(
    st.one_of(limit_ops, limit_ops, market_ops, cancel_ops, replace_ops), min_size=20, max_size=80
)


@dataclass(frozen=True)
class Resting:
    order_id: str
    account: str
    price: int
    qty: int


@dataclass
class Expected:
    fills: list[tuple[str, int, int]] = field(default_factory=list)  # maker id, price, qty
    stp: list[tuple[str, int]] = field(default_factory=list)
    remaining: int = 0


def reference_sweep(
    opposite: list[Resting], side: Side, account: str, qty: int, limit: int, fok: bool
) -> Expected:
    """What a price-time priority sweep must do, computed naively over a priority-ordered list."""
    reachable = [o for o in opposite if o.price * side.sign <= limit * side.sign]
    if fok and sum(o.qty for o in reachable if o.account != account) < qty:
        return Expected(remaining=qty)
    expected = Expected(remaining=qty)
    for order in reachable:
        if expected.remaining == 0:
            break
        if order.account == account:
            expected.stp.append((order.order_id, order.qty))
            continue
        take = min(order.qty, expected.remaining)
        expected.fills.append((order.order_id, order.price, take))
        expected.remaining -= take
    return expected


class CheckedBook:
    """Drives an ``OrderBook`` and asserts every property after every operation."""

    def __init__(self) -> None:
        self.book = OrderBook("XYZ", collar_bps=COLLAR_BPS, reference_price=P100)
        self.leaves: dict[str, int] = {}  # the model: live order id -> leaves
        self.ids: list[str] = []
        self.clock = 0

    def apply(self, op: tuple) -> None:
        self.clock += 1
        bbo, version = (self.book.best_bid(), self.book.best_ask()), self.book.bbo_version
        match op:
            case ("limit", side, qty, price, tif, account, post_only):
                self.submit(side, qty, OrderType.LIMIT, price, tif, account, post_only)
            case ("market", side, qty, tif, account):
                self.submit(side, qty, OrderType.MARKET, None, tif, account, False)
            case ("cancel", index):
                order_id = self.ids[index % len(self.ids)] if self.ids else "none"
                assert self.book.cancel(order_id) == self.leaves.pop(order_id, None)
            case ("replace", index, qty, price):
                self.replace(self.ids[index % len(self.ids)] if self.ids else "none", qty, price)
        assert self.book.bbo_version >= version
        if (self.book.best_bid(), self.book.best_ask()) != bbo:
            assert self.book.bbo_version > version
        self.check_invariants()

    def submit(
        self,
        side: Side,
        qty: int,
        order_type: OrderType,
        price: int | None,
        tif: TimeInForce,
        account: str,
        post_only: bool,
    ) -> None:
        order_id = f"o{len(self.ids)}"
        self.ids.append(order_id)
        opposite = self.snapshot(side.opposite)
        result = self.book.submit(
            order_id, account, side, qty, order_type, price, tif, self.clock, post_only=post_only
        )
        if price == OFF_TICK:
            assert result.status == "rejected"
            assert result.reject_reason.startswith("limit_price: ")
            return
        if price is None:  # market: the collar around the opposite best is the limit
            if not opposite:
                assert (result.status, result.canceled_qty) == ("canceled", qty)
                return
            reference = opposite[0].price
            price = reference + side.sign * (reference * COLLAR_BPS // 10_000)
            tif = TimeInForce.IOC if tif is TimeInForce.DAY else tif
        self.check_execution(result, order_id, side, account, qty, price, tif, post_only, opposite)

    def replace(self, order_id: str, qty: int, price: int | None) -> None:
        order = self.book.get(order_id)
        if order is None:
            assert self.book.replace(order_id, qty, price, self.clock).status == "rejected"
            return
        side, account, old_price, post_only = (
            order.side,
            order.account,
            order.price,
            order.post_only,
        )
        opposite = self.snapshot(side.opposite)
        queue = [o.order_id for o in self.book.level_orders(side, old_price)]
        result = self.book.replace(order_id, qty, price, self.clock)
        if price == OFF_TICK:
            assert result.status == "rejected"
            return
        new_price = old_price if price is None else price
        if new_price == old_price and qty <= self.leaves[order_id]:
            assert (result.status, result.resting_qty, result.fills) == ("rested", qty, [])
            self.leaves[order_id] = qty
            assert [o.order_id for o in self.book.level_orders(side, new_price)] == queue
            return
        if result.status != "rejected":
            del self.leaves[order_id]
        self.check_execution(
            result, order_id, side, account, qty, new_price, TimeInForce.DAY, post_only, opposite
        )

    def check_execution(
        self,
        result: SubmitResult,
        order_id: str,
        side: Side,
        account: str,
        qty: int,
        limit: int,
        tif: TimeInForce,
        post_only: bool,
        opposite: list[Resting],
    ) -> None:
        crosses = bool(opposite) and opposite[0].price * side.sign <= limit * side.sign
        if post_only and crosses:
            assert result.reject_reason == "post_only: order would take liquidity"
            return
        assert result.status != "rejected", result.reject_reason
        expected = reference_sweep(opposite, side, account, qty, limit, tif is TimeInForce.FOK)
        # Price-time priority, fills at the resting price, never through the limit.
        assert [(f.maker_order_id, f.price, f.qty) for f in result.fills] == expected.fills
        assert result.stp_canceled == expected.stp
        # Quantity is conserved; only DAY limits rest.
        assert result.filled_qty + result.resting_qty + result.canceled_qty == qty
        if tif is TimeInForce.DAY:
            assert (result.resting_qty, result.canceled_qty) == (expected.remaining, 0)
        else:
            assert (result.resting_qty, result.canceled_qty) == (0, expected.remaining)
        taker_leaves = qty
        for fill in result.fills:
            taker_leaves -= fill.qty
            assert fill.taker_leaves == taker_leaves
            assert fill.aggressor is side
            assert fill.taker_order_id == order_id
            assert fill.maker_leaves == self.leaves[fill.maker_order_id] - fill.qty
            self.leaves[fill.maker_order_id] = fill.maker_leaves
            if fill.maker_leaves == 0:
                del self.leaves[fill.maker_order_id]
        for canceled_id, _ in result.stp_canceled:
            del self.leaves[canceled_id]
        if result.resting_qty:
            self.leaves[order_id] = result.resting_qty
            assert self.book.level_orders(side, limit)[-1].order_id == order_id

    def snapshot(self, side: Side) -> list[Resting]:
        return [Resting(o.order_id, o.account, o.price, o.qty) for o in self.book.orders(side)]

    def check_invariants(self) -> None:
        book = self.book
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0], "crossed at rest"
        live: dict[str, int] = {}
        for side in Side:
            levels = book.depth(side, levels=10**6)
            level_prices = [price * side.sign for price, _ in levels]
            assert level_prices == sorted(level_prices, reverse=True)
            for price, total in levels:
                queue = book.level_orders(side, price)
                assert queue and total == sum(o.qty for o in queue)
                assert [o.arrival_seq for o in queue] == sorted(o.arrival_seq for o in queue)
                for order in queue:
                    assert order.qty > 0 and order.price == price and order.side is side
                    live[order.order_id] = order.qty
        assert live == self.leaves
        assert len(book) == len(live)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_order_book_random_operations_keep_every_property(ops: list[tuple]) -> None:
    checked = CheckedBook()

    for op in ops:
        checked.apply(op)

    for order_id, leaves in list(checked.leaves.items()):
        assert checked.book.cancel(order_id) == leaves
    assert len(checked.book) == 0
