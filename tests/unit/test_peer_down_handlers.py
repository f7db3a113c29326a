"""What a wholesaler and the agents do when the orchestrator reports a venue down (issue 13
item 3: their orders to a lost venue used to be waited on forever). The handlers' own state,
on objects built without a lab: the live behaviour around them (who sends ``PeerDown``, the
broker's and SOR's rerouting) is tested in ``tests/integration/test_faults.py``."""

from __future__ import annotations

from protocol.control import PeerDown
from protocol.orders import CancelOrder
from services.agents import Agents, MarketMaker
from services.wholesaler.service import Wholesaler


def _down(name: str, role: str = "venue") -> PeerDown:
    return PeerDown(name=name, role=role, reason="exited with code -9", since_ns=1)


def test_a_wholesaler_forgets_its_hedge_at_a_lost_venue_and_hedges_elsewhere_only() -> None:
    wh = Wholesaler.__new__(Wholesaler)
    wh.counters = {}
    wh.venues = {"lit-a": object(), "lit-b": object()}
    wh.down = set()
    wh.hedging = {"ACME": "lit-a", "BOLT": "lit-b"}

    wh._on_peer_down(_down("lit-a"))
    wh._on_peer_down(_down("broker", "broker"))  # not one of its venues: nothing changes

    assert wh.hedging == {"BOLT": "lit-b"}  # ACME may hedge again
    assert wh.down == {"lit-a"} and wh.counters == {"hedges.abandoned": 1}


def test_agents_forget_their_quotes_at_a_lost_venue_and_send_nothing_more_there() -> None:
    agents = Agents.__new__(Agents)
    agents.counters = {}
    sent: list[str] = []

    class Recorder:
        def __init__(self, venue: str) -> None:
            self.venue = venue

        def send(self, _payload: bytes) -> None:
            sent.append(self.venue)

    agents.links = {"lit-a": Recorder("lit-a"), "lit-b": Recorder("lit-b")}
    agents.down = set()
    at_a = MarketMaker.__new__(MarketMaker)
    at_a.venue, at_a.live = "lit-a", {"mm.lit-a.ACME-1": 100}
    at_b = MarketMaker.__new__(MarketMaker)
    at_b.venue, at_b.live = "lit-b", {"mm.lit-b.ACME-2": 100}
    agents.makers = {("lit-a", "ACME"): at_a, ("lit-b", "ACME"): at_b}
    agents.owner = {"mm.lit-a.ACME-1": at_a, "mm.lit-b.ACME-2": at_b, "noise-1": None}

    agents._on_peer_down(_down("lit-a"))
    for venue in ("lit-a", "lit-b"):
        agents._send(venue, CancelOrder(order_id="x", symbol="ACME"))

    assert at_a.live == {} and at_b.live == {"mm.lit-b.ACME-2": 100}
    assert set(agents.owner) == {"mm.lit-b.ACME-2", "noise-1"}
    assert sent == ["lit-b"] and agents.counters == {"orders.skipped_down": 1}
