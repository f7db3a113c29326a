"""Spec tests for the SOR parent state machine: one terminal state, exact accounting."""

from __future__ import annotations

import pytest

from protocol.common import Side
from services.sor.parent import Child, ParentOrder, ParentState


def new_parent(qty: int = 1_000) -> ParentOrder:
    return ParentOrder("p-1", "ACME", Side.BUY, qty, "greedy", 10_100_000, 1, 9_990_000, 10_000_000)


def child(child_id: str, qty: int, venue: str = "lit-a", kind: str = "lit") -> Child:
    return Child(child_id, venue, kind, qty, 10_000_000, 1, 2)


def test_parent_fills_accumulate_exactly_and_average_half_even() -> None:
    parent = new_parent(3)
    parent.add_child(child("c1", 3))

    parent.fill("c1", 1, 10_000_001, 30)
    parent.fill("c1", 2, 10_000_002, 60)

    # 10,000,001 + 2 x 10,000,002 = 30,000,005 over 3 shares = 10,000,001.67 -> 10,000,002
    assert (parent.cum_qty, parent.notional, parent.fees) == (3, 30_000_005, 90)
    assert parent.avg_price == 10_000_002
    assert parent.settle() is ParentState.FILLED


def test_parent_need_nets_executed_and_open_children() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 400))
    parent.fill("c1", 100, 10_000_000, 0)

    assert parent.open_qty == 300
    assert parent.need() == 600
    assert parent.need(target=500) == 100


def test_parent_child_beyond_need_raises() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 800))

    with pytest.raises(ValueError, match=r"^qty: child 300 exceeds"):
        parent.add_child(child("c2", 300))


def test_parent_lit_children_count_as_shown_dark_do_not() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 300))
    parent.add_child(child("c2", 200, "dark-a", "dark"))

    assert parent.lit_shown_qty == 300
    assert parent.busy_venues == {"lit-a", "dark-a"}


def test_parent_cancel_waits_for_live_children_then_cancels() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 500))

    to_cancel = parent.request_cancel()

    assert [c.child_id for c in to_cancel] == ["c1"]
    assert parent.state is ParentState.PENDING_CANCEL and parent.settle() is None
    parent.fill("c1", 500, 10_000_000, 0)
    parent.child_done("c1")
    assert parent.settle() is ParentState.CANCELED


def test_parent_cancel_pending_refuses_new_children() -> None:
    parent = new_parent()
    parent.request_cancel()

    with pytest.raises(ValueError, match=r"^state: cannot add"):
        parent.add_child(child("c1", 1))


def test_parent_abandoned_child_no_longer_holds_parent_open() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 600))
    parent.request_cancel()

    parent.abandon("c1")

    assert parent.open_qty == 0 and parent.need() == 1_000
    assert parent.settle() is ParentState.CANCELED


def test_parent_finish_twice_raises_exactly_one_terminal_state() -> None:
    parent = new_parent()
    parent.finish(ParentState.CANCELED, "no liquidity within the limit", 5)

    with pytest.raises(ValueError, match=r"^state: already canceled"):
        parent.finish(ParentState.CANCELED, "again", 6)
    assert (parent.reason, parent.done_ns, parent.settle()) == (
        "no liquidity within the limit",
        5,
        None,
    )


def test_parent_finish_filled_short_raises() -> None:
    with pytest.raises(ValueError, match="filled with quantity left"):
        new_parent().finish(ParentState.FILLED, "", 5)


def test_parent_fill_after_terminal_is_late_and_not_counted() -> None:
    parent = new_parent()
    parent.add_child(child("c1", 500))
    parent.abandon("c1")
    parent.finish(ParentState.CANCELED, "router stopping", 5)

    counted = parent.fill("c1", 500, 10_000_000, 0)

    assert counted is None
    assert (parent.cum_qty, parent.children["c1"].cum) == (0, 500)


def test_parent_counts_an_overfill_for_the_child_not_for_the_client() -> None:
    # 1,000 shares: c1 (600) given up and its 600 rerouted as c2; c2 fills 600, then c1's
    # 600 arrive after all. The parent had 400 left: 400 count for it, 200 are overfill.
    parent = new_parent(1_000)
    parent.add_child(child("c1", 600))
    parent.abandon("c1")
    parent.add_child(child("c2", 600))
    assert parent.fill("c2", 600, 10_000_000, 1_800) == 600

    taken = parent.fill("c1", 600, 10_000_100, 1_800)

    assert taken == 400
    assert parent.overfill == 200
    assert parent.children["c1"].cum == 600  # it happened at the venue
    assert parent.cum_qty == 1_000 and parent.remaining == 0
    # notional: 600 x 10,000,000 + 400 x 10,000,100; fees: 1,800 + 1,800 x 400/600 = 3,000
    assert parent.notional == 6_000_000_000 + 4_000_040_000
    assert parent.fees == 3_000
    assert parent.settle() is ParentState.FILLED


def test_a_prorated_fill_keeps_its_report_and_shares_fee_and_pfof_half_even() -> None:
    from protocol.common import Liquidity
    from protocol.orders import OrderFilled
    from services.reports import prorated

    fill = OrderFilled(
        sender="lit-a", ts_ns=1, order_id="R1", symbol="ACME", side=Side.BUY, fill_qty=600,
        fill_price=10_000_100, cum_qty=600, leaves_qty=0, venue="lit-a",
        liquidity=Liquidity.TAKER, exec_id="x-1", exec_ns=5, recv_ns=4, fee=1_801, pfof=25,
    )  # fmt: skip

    cut = prorated(fill, 400)

    # 1,801 x 400 / 600 = 1,200.67 -> 1,201; 25 x 400 / 600 = 16.67 -> 17
    assert (cut.fill_qty, cut.fee, cut.pfof) == (400, 1_201, 17)
    assert (cut.exec_id, cut.fill_price, cut.venue, cut.exec_ns) == ("x-1", 10_000_100, "lit-a", 5)
    assert prorated(fill, 600) is fill
