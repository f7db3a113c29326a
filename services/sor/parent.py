"""A SOR parent order and its children: a pure state machine with exact accounting.

States: ``working`` -> (``pending_cancel``) -> exactly one of ``filled`` / ``canceled``. A parent
is ``filled`` when its executed quantity reaches its size, ``canceled`` when the router ends it
short (client cancel, out of liquidity within the limit, out of rounds, horizon over). Every fill
adds exactly to ``cum_qty``, ``notional`` (sum of price x qty) and ``fees``; ``avg_price`` is
``notional / cum_qty`` rounded half-even. A child is *live* until its venue reports it done, or
until the router *abandons* it after a timeout (its venue stopped answering; by then the child
has expired at the venue and no report of it can still be on its way): an abandoned child no
longer holds the parent open, and a fill it reports later anyway (a venue that froze between
matching and reporting) still counts for the child (it happened), not for a terminal parent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from protocol.common import Side
from protocol.money import round_div


class ParentState(enum.StrEnum):
    WORKING = "working"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (ParentState.FILLED, ParentState.CANCELED)


@dataclass(slots=True)
class Child:
    child_id: str
    venue: str
    kind: str  # "lit" or "dark"
    qty: int
    limit_price: int | None
    wave: int
    sent_ns: int
    cum: int = 0
    notional: int = 0
    live: bool = True
    abandoned: bool = False

    @property
    def open_qty(self) -> int:
        return self.qty - self.cum if self.live and not self.abandoned else 0


@dataclass(slots=True)
class ParentOrder:
    order_id: str
    symbol: str
    side: Side
    qty: int
    strategy: str
    limit_price: int | None
    recv_ns: int
    arrival_bid: int | None = None
    arrival_ask: int | None = None
    state: ParentState = ParentState.WORKING
    cum_qty: int = 0
    notional: int = 0
    fees: int = 0
    waves: int = 0
    lit_shown_qty: int = 0
    reason: str = ""
    done_ns: int = 0
    overfill: int = 0  # shares children executed beyond the parent's size (``fill``)
    children: dict[str, Child] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries
    @property
    def remaining(self) -> int:
        return max(0, self.qty - self.cum_qty)

    @property
    def open_qty(self) -> int:
        return sum(child.open_qty for child in self.children.values())

    @property
    def has_live_children(self) -> bool:
        return any(c.live and not c.abandoned for c in self.children.values())

    @property
    def busy_venues(self) -> set[str]:
        return {c.venue for c in self.children.values() if c.live and not c.abandoned}

    @property
    def avg_price(self) -> int | None:
        return round_div(self.notional, self.cum_qty)

    def need(self, target: int | None = None) -> int:
        """Shares to send now: up to ``target`` cumulative (default the whole size), net of what
        is executed and what live children may still execute."""
        goal = self.qty if target is None else min(target, self.qty)
        return max(0, goal - self.cum_qty - self.open_qty)

    # ------------------------------------------------------------------ transitions
    def add_child(self, child: Child) -> None:
        if self.state is not ParentState.WORKING:
            raise ValueError(f"state: cannot add a child to a {self.state} parent")
        if child.qty > self.need():
            raise ValueError(f"qty: child {child.qty} exceeds the parent's need {self.need()}")
        self.children[child.child_id] = child
        if child.kind == "lit":
            self.lit_shown_qty += child.qty

    def fill(self, child_id: str, qty: int, price: int, fee: int) -> int | None:
        """Record a child's execution; the shares of it that count for the parent, or ``None``
        if the parent was already terminal (late fill). A child's execution beyond what the
        parent still needs (an overfill: a child given up that executed after all) counts for
        the child, and only up to the parent's size for the parent (the rest is ``overfill``:
        the router's own position, never the client's); its fee is shared pro rata."""
        child = self.children[child_id]
        child.cum += qty
        child.notional += qty * price
        if self.state.terminal:
            return None
        taken = min(qty, self.remaining)
        self.overfill += qty - taken
        self.cum_qty += taken
        self.notional += taken * price
        self.fees += fee if taken == qty else (round_div(fee * taken, qty) or 0)
        return taken

    def child_done(self, child_id: str) -> Child:
        child = self.children[child_id]
        child.live = False
        return child

    def abandon(self, child_id: str) -> Child:
        child = self.children[child_id]
        child.abandoned = True
        return child

    def request_cancel(self) -> list[Child]:
        """Stop new waves; returns the live children to cancel at their venues."""
        if self.state is ParentState.WORKING:
            self.state = ParentState.PENDING_CANCEL
        return [c for c in self.children.values() if c.live and not c.abandoned]

    def settle(self) -> ParentState | None:
        """The terminal state the parent has reached by itself, if any (not yet applied)."""
        if self.state.terminal:
            return None
        if self.cum_qty >= self.qty:
            return ParentState.FILLED
        if self.state is ParentState.PENDING_CANCEL and not self.has_live_children:
            return ParentState.CANCELED
        return None

    def finish(self, state: ParentState, reason: str, now_ns: int) -> None:
        """Enter the one terminal state; a second call is an error (exactly one terminal)."""
        if self.state.terminal:
            raise ValueError(f"state: already {self.state}")
        if not state.terminal:
            raise ValueError(f"state: {state} is not terminal")
        if state is ParentState.FILLED and self.cum_qty < self.qty:
            raise ValueError("state: filled with quantity left")
        self.state, self.reason, self.done_ns = state, reason, now_ns

    def summary(self) -> dict[str, object]:
        """The fields of the ``ParentCompleted`` event for this (terminal) parent."""
        fields = {name: getattr(self, name) for name in _SUMMARY_FIELDS}
        return fields | {
            "state": str(self.state),
            "children": len(self.children),
            "avg_price": self.avg_price,
        }


_SUMMARY_FIELDS = (
    "order_id",
    "symbol",
    "side",
    "qty",
    "strategy",
    "cum_qty",
    "notional",
    "fees",
    "limit_price",
    "arrival_bid",
    "arrival_ask",
    "recv_ns",
    "done_ns",
    "waves",
    "lit_shown_qty",
    "reason",
)
