"""Book benchmark: throughput of the lit matching core on a realistic mixed flow, against a
plain book replaying the same operations.

The flow is planned up front on a scratch book with a seeded generator: 60% passive limit adds
around a $100.00 mid, 30% cancels of live orders, 10% marketable orders (IOC limits, market
orders and DAY limits) each sized to sweep a few resting orders. Planning on a real book lets
every cancel name a live order and every sweep know what rests at the touch, so the timed loop
only replays a list of calls on a fresh book warmed the same way; identical inputs give
identical results, which the run checks against the plan.

``bench_book`` (in ``flowlab bench``) times the core and ``PlainBook`` (price -> deque of
``[order_id, qty]``, bisect-sorted price lists) on the same seeded op list. Run
``python -m orchestration.bench.book`` for a one-line report of the core alone.
"""

from __future__ import annotations

import statistics
import time
from bisect import bisect_left, insort
from collections import deque

import msgspec
import numpy as np

from protocol.common import OrderType, Side, TimeInForce
from protocol.money import CENT, MICROS_PER_DOLLAR
from services.venue.book import OrderBook

BEST_BID_ANCHOR = 100 * MICROS_PER_DOLLAR  # passive bids rest at or below $100.00
BEST_ASK_ANCHOR = BEST_BID_ANCHOR + CENT  # passive asks at or above $100.01
ACCOUNTS = 200
ADD_SHARE = 0.6
CANCEL_SHARE = 0.3
SUBMIT, CANCEL = 0, 1
BOOK_AIM_OPS = 500_000

Op = tuple[int, tuple | str]


class BookRun(msgspec.Struct, frozen=True, kw_only=True):
    """One timed replay of the flow on the matching core."""

    ops: int
    seconds: float
    ops_per_s: float
    fills: int
    bbo_changes: int
    live_orders_start: int
    live_orders_end: int


class BookResult(msgspec.Struct, frozen=True, kw_only=True):
    """Medians over ``reps`` of the core's and the plain book's ops/s on the same flow."""

    ops: int
    steady_orders: int
    seed: int
    reps: int
    ops_per_s: float
    baseline_ops_per_s: float
    ratio: float
    aim_ops_per_s: int
    fills: int
    baseline_fills: int


class _Planner:
    """Draws the flow from a seeded generator, keeping a scratch book to stay consistent."""

    def __init__(self, rng: np.random.Generator, count: int, steady_orders: int) -> None:
        self.book = OrderBook("BENCH", reference_price=BEST_BID_ANCHOR)
        self.steady_orders = steady_orders
        self.live: list[str] = []
        self.live_index: dict[str, int] = {}
        self.next_id = 0
        self.fills = 0
        # Every random draw is vectorised here, outside any timed code.
        self.kind_u = rng.random(count)
        self.side_is_buy = rng.random(count) < 0.5
        self.offsets = rng.geometric(0.15, count) - 1  # ticks away from the touch anchor
        lots = np.maximum(1, np.rint(rng.lognormal(np.log(2.0), 0.8, count))).astype(np.int64)
        odd = rng.integers(1, 100, count)
        self.sizes = np.where(rng.random(count) < 0.1, odd, lots * 100)
        self.accounts = rng.integers(0, ACCOUNTS, count)
        self.pick_u = rng.random(count)
        self.sweep_orders = rng.integers(1, 6, count)
        self.sweep_kind_u = rng.random(count)
        self.partial_u = rng.random(count)

    def passive(self, i: int) -> Op:
        buy = bool(self.side_is_buy[i])
        book = self.book
        if buy:
            price = BEST_BID_ANCHOR - int(self.offsets[i]) * CENT
            ask = book.best_ask()
            price = min(price, ask[0] - CENT) if ask else price
        else:
            price = BEST_ASK_ANCHOR + int(self.offsets[i]) * CENT
            bid = book.best_bid()
            price = max(price, bid[0] + CENT) if bid else price
        side = Side.BUY if buy else Side.SELL
        return self._submit(i, side, int(self.sizes[i]), OrderType.LIMIT, price, TimeInForce.DAY)

    def cancel(self, i: int) -> Op:
        order_id = self.live[int(self.pick_u[i] * len(self.live))]
        self.book.cancel(order_id)
        self._forget(order_id)
        return CANCEL, order_id

    def sweep(self, i: int) -> Op:
        side = Side.BUY if self.side_is_buy[i] else Side.SELL
        target = int(self.sweep_orders[i])
        # Steer the sweep depth so adds and removals balance around the steady size.
        if len(self.live) > self.steady_orders * 1.05:
            target += 1
        elif len(self.live) < self.steady_orders * 0.95:
            target = max(1, target - 1)
        qty, last_price, last_qty = 0, 0, 0
        for count, order in enumerate(self.book.orders(side.opposite), start=1):
            qty, last_price, last_qty = qty + order.qty, order.price, order.qty
            if count == target:
                break
        if qty == 0:
            return self.passive(i)
        if self.partial_u[i] < 0.5 and last_qty > 1:
            qty -= int(last_qty * self.partial_u[i])
        u = self.sweep_kind_u[i]
        if u < 0.3:
            return self._submit(i, side, qty, OrderType.MARKET, None, TimeInForce.IOC)
        through = last_price + CENT if side is Side.BUY else last_price - CENT
        tif = TimeInForce.IOC if u < 0.8 else TimeInForce.DAY
        return self._submit(i, side, qty, OrderType.LIMIT, through, tif)

    def _submit(
        self, i: int, side: Side, qty: int, kind: OrderType, price: int | None, tif: TimeInForce
    ) -> Op:
        order_id = f"o{self.next_id}"
        self.next_id += 1
        args = (order_id, f"acct{self.accounts[i]}", side, qty, kind, price, tif, i * 1_000)
        result = self.book.submit(*args)
        if result.status == "rejected":
            raise RuntimeError(
                f"cannot plan benchmark: {order_id} rejected: {result.reject_reason}"
            )
        self.fills += len(result.fills)
        for fill in result.fills:
            if fill.maker_leaves == 0:
                self._forget(fill.maker_order_id)
        for resting_id, _ in result.stp_canceled:
            self._forget(resting_id)
        if result.resting_qty:
            self.live_index[order_id] = len(self.live)
            self.live.append(order_id)
        return SUBMIT, args

    def _forget(self, order_id: str) -> None:
        index = self.live_index.pop(order_id)
        last = self.live.pop()
        if last != order_id:
            self.live[index] = last
            self.live_index[last] = index


def plan_flow(*, ops: int, seed: int, steady_orders: int) -> tuple[list[Op], list[Op], int]:
    """``(warm-up ops, timed ops, fills the timed ops produce)`` for a seeded flow."""
    planner = _Planner(np.random.default_rng(seed), steady_orders + ops, steady_orders)
    warm = [planner.passive(i) for i in range(steady_orders)]
    fills_before = planner.fills
    timed: list[Op] = []
    for i in range(steady_orders, steady_orders + ops):
        u = planner.kind_u[i]
        if u < ADD_SHARE or (u < ADD_SHARE + CANCEL_SHARE and not planner.live):
            timed.append(planner.passive(i))
        elif u < ADD_SHARE + CANCEL_SHARE:
            timed.append(planner.cancel(i))
        else:
            timed.append(planner.sweep(i))
    return warm, timed, planner.fills - fills_before


def _replay(book: OrderBook, flow: list[Op]) -> int:
    submit, cancel = book.submit, book.cancel
    fills = 0
    for kind, args in flow:
        if kind:
            cancel(args)  # type: ignore[arg-type]  # a CANCEL op carries the order id
        else:
            fills += len(submit(*args).fills)
    return fills


def run_book_benchmark(*, ops: int = 300_000, seed: int = 7, steady_orders: int = 3000) -> BookRun:
    """Time ``ops`` mixed operations on a book warmed to ~``steady_orders`` live orders."""
    warm, timed, planned_fills = plan_flow(ops=ops, seed=seed, steady_orders=steady_orders)
    book = OrderBook("BENCH", reference_price=BEST_BID_ANCHOR)
    _replay(book, warm)
    live_at_start = len(book)
    bbo_before = book.bbo_version
    start = time.perf_counter_ns()
    fills = _replay(book, timed)
    elapsed_ns = time.perf_counter_ns() - start
    if fills != planned_fills:
        raise RuntimeError(
            f"cannot trust benchmark: {fills} fills replayed, {planned_fills} planned"
        )
    seconds = elapsed_ns / 1e9
    return BookRun(
        ops=ops,
        seconds=seconds,
        ops_per_s=ops / seconds,
        fills=fills,
        bbo_changes=book.bbo_version - bbo_before,
        live_orders_start=live_at_start,
        live_orders_end=len(book),
    )


class PlainBook:
    """Baseline book: price -> deque of ``[order_id, qty]``, prices in bisect-sorted lists.

    Price-time matching of limit and market orders, IOC or resting DAY remainders, cancels by
    id. No validation, no collars, no self-trade prevention, no fill records: it emits nothing
    and counts fills only.
    """

    __slots__ = ("ask_prices", "asks", "bid_prices", "bids", "fills", "orders")

    def __init__(self) -> None:
        self.bids: dict[int, deque[list]] = {}
        self.asks: dict[int, deque[list]] = {}
        self.bid_prices: list[int] = []  # ascending: best bid last
        self.ask_prices: list[int] = []  # ascending: best ask first
        self.orders: dict[str, tuple[list, bool, int]] = {}
        self.fills = 0

    def submit(
        self,
        order_id: str,
        _account: str,
        side: Side,
        qty: int,
        kind: OrderType,
        price: int | None,
        tif: TimeInForce,
        _ts: int,
    ) -> None:
        buy = side is Side.BUY
        if buy:
            book, prices = self.asks, self.ask_prices
            while qty and prices and (price is None or prices[0] <= price):
                qty = self._take(book, prices, 0, qty)
        else:
            book, prices = self.bids, self.bid_prices
            while qty and prices and (price is None or prices[-1] >= price):
                qty = self._take(book, prices, -1, qty)
        if qty and kind is OrderType.LIMIT and tif is TimeInForce.DAY:
            assert price is not None
            own, own_prices = (self.bids, self.bid_prices) if buy else (self.asks, self.ask_prices)
            entry = [order_id, qty]
            level = own.get(price)
            if level is None:
                own[price] = level = deque()
                insort(own_prices, price)
            level.append(entry)
            self.orders[order_id] = (entry, buy, price)

    def _take(self, book: dict[int, deque[list]], prices: list[int], at: int, qty: int) -> int:
        best = prices[at]
        level = book[best]
        while qty and level:
            entry = level[0]
            take = min(qty, entry[1])
            entry[1] -= take
            qty -= take
            self.fills += 1
            if not entry[1]:
                level.popleft()
                del self.orders[entry[0]]
        if not level:
            del book[best]
            del prices[at]
        return qty

    def cancel(self, order_id: str) -> None:
        found = self.orders.pop(order_id, None)
        if found is None:
            return
        entry, buy, price = found
        book, prices = (self.bids, self.bid_prices) if buy else (self.asks, self.ask_prices)
        level = book[price]
        level.remove(entry)
        if not level:
            del book[price]
            del prices[bisect_left(prices, price)]


def _replay_plain(book: PlainBook, flow: list) -> None:
    submit, cancel = book.submit, book.cancel
    for kind, args in flow:
        if kind:
            cancel(args)
        else:
            submit(*args)


def _time_plain(warm: list[Op], timed: list[Op]) -> tuple[float, int]:
    """Ops/s of the plain book over ``timed`` (after ``warm``), and the fills it made."""
    book = PlainBook()
    _replay_plain(book, warm)
    book.fills = 0
    t0 = time.perf_counter_ns()
    _replay_plain(book, timed)
    return len(timed) / ((time.perf_counter_ns() - t0) / 1e9), book.fills


def bench_book(*, ops: int, steady_orders: int, reps: int, seed: int = 7) -> BookResult:
    """``run_book_benchmark`` and the plain book on the same seeded op list (``plan_flow``)."""
    warm, timed, planned_fills = plan_flow(ops=ops, seed=seed, steady_orders=steady_orders)
    core: list[float] = []
    plain: list[float] = []
    plain_fills = 0
    run: BookRun | None = None
    for _ in range(reps):
        run = run_book_benchmark(ops=ops, seed=seed, steady_orders=steady_orders)
        core.append(run.ops_per_s)
        rate, plain_fills = _time_plain(warm, timed)
        plain.append(rate)
    core_med, plain_med = statistics.median(core), statistics.median(plain)
    return BookResult(
        ops=ops,
        steady_orders=steady_orders,
        seed=seed,
        reps=reps,
        ops_per_s=core_med,
        baseline_ops_per_s=plain_med,
        ratio=core_med / plain_med,
        aim_ops_per_s=BOOK_AIM_OPS,
        fills=run.fills if run is not None else planned_fills,
        baseline_fills=plain_fills,
    )


if __name__ == "__main__":
    report = msgspec.structs.asdict(run_book_benchmark())
    print(
        ", ".join(f"{k}={v:,.0f}" if k != "seconds" else f"{k}={v:.3f}" for k, v in report.items())
    )
