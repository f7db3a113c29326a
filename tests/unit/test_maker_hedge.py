"""Spec tests for the lit market makers' hedge: the inventory they lay off outside the lab
(``[agents.market_makers] hedge_half_life_s``), the restoring force behind the fading impact
of their inventory skew (docs/MARKET.md, "Makers that hedge"). Expected values by hand."""

from __future__ import annotations

from types import SimpleNamespace

from config.scenario import MarketMakerSpec
from protocol.common import Side
from services.agents import Agents, MarketMaker, hedged_inventory
from services.sip.nbbo import NbboBook

SECOND = 1_000_000_000


def test_one_half_life_keeps_half_of_a_long_or_a_short_position() -> None:
    assert hedged_inventory(1_000, SECOND, 1.0) == 500
    assert hedged_inventory(-1_000, SECOND, 1.0) == -500
    assert hedged_inventory(1_000, 2 * SECOND, 1.0) == 250


def test_a_value_tick_keeps_two_to_the_minus_a_tenth_truncated_toward_zero() -> None:
    # 1,000 x 2^-0.1 = 933.03 and -933.03: truncated toward zero, 933 and -933
    assert hedged_inventory(1_000, SECOND // 10, 1.0) == 933
    assert hedged_inventory(-1_000, SECOND // 10, 1.0) == -933
    # 2.5 s half-life: 1,000 x 2^-0.04 = 972.65 -> 972
    assert hedged_inventory(1_000, SECOND // 10, 2.5) == 972


def test_a_few_shares_left_go_to_zero_and_no_half_life_keeps_everything() -> None:
    assert hedged_inventory(1, SECOND // 10, 1.0) == 0  # 0.93 of a share: none left
    assert hedged_inventory(-1, SECOND // 10, 1.0) == 0
    assert hedged_inventory(1_000, 10 * SECOND, 0.0) == 1_000
    assert hedged_inventory(1_000, 0, 1.0) == 1_000
    assert hedged_inventory(0, SECOND, 1.0) == 0


def _agents(skew: float, requote: float) -> tuple[Agents, MarketMaker, MarketMaker]:
    agents = Agents.__new__(Agents)
    agents.counters = {}
    agents.mm_cfg = MarketMakerSpec(
        skew_bps_per_1k=skew, requote_bps=requote, hedge_half_life_s=1.0
    )
    agents.scenario = SimpleNamespace(
        venues=[SimpleNamespace(name="lit-a"), SimpleNamespace(name="lit-b")]
    )
    makers = []
    for venue in ("lit-a", "lit-b"):
        maker = MarketMaker.__new__(MarketMaker)
        maker.venue, maker.symbol, maker.dirty, maker.hedged_ns = venue, "ACME", False, 0
        maker.inventory = maker.quoted_inventory = 0
        makers.append(maker)
    agents.makers = {("lit-a", "ACME"): makers[0], ("lit-b", "ACME"): makers[1]}
    return agents, makers[0], makers[1]


def test_the_first_tick_only_starts_the_clock_then_each_tick_hedges_its_share() -> None:
    agents, a, b = _agents(skew=8.0, requote=0.5)
    a.inventory = a.quoted_inventory = 1_000
    b.inventory = b.quoted_inventory = -300

    agents._hedge("ACME", 5 * SECOND)  # no earlier tick: nothing elapsed to hedge over
    assert (a.inventory, b.inventory) == (1_000, -300) and not (a.dirty or b.dirty)

    agents._hedge("ACME", 6 * SECOND)  # one half-life later
    assert (a.inventory, b.inventory) == (500, -150)
    assert agents.counters == {"mm.hedged_shares": 500 + 150}
    # its quotes lean 8 bps per 1,000 x 1,000 and 300 shares; now 500 and 150 shares:
    # 4 bps and 1.2 bps less, past requote_bps: both requote
    assert a.dirty and b.dirty


def test_a_maker_requotes_once_its_hedges_add_up_to_requote_bps_of_lean() -> None:
    agents, a, b = _agents(skew=8.0, requote=0.5)
    a.inventory = a.quoted_inventory = 1_000
    b.inventory = b.quoted_inventory = 100
    agents._hedge("ACME", SECOND)
    agents._hedge("ACME", SECOND + SECOND // 10)
    # a: 1,000 -> 933 (67 shares: 0.536 bps of lean, past 0.5); b: 100 -> 93 (0.056 bps)
    assert (a.inventory, b.inventory) == (933, 93)
    assert a.dirty and not b.dirty
    # b's ticks add up: 93 -> 86 -> 80 -> 74 -> 69 -> 64 -> 59 (2^-0.1 a tick, truncated);
    # against the 100 shares its quotes lean on, 0.5 bps is 62.5 shares: at 59, 41 shares gone
    # (0.33 bps) -- not yet; the lean is measured from the quotes, not tick by tick
    for k in range(2, 8):
        agents._hedge("ACME", SECOND + k * SECOND // 10)
    assert b.inventory == 59 and not b.dirty
    # ... while a maker whose quotes lean on 200 shares is, at 55 shares, 145 shares (1.16
    # bps) off: it requotes
    b.quoted_inventory = 200
    agents._hedge("ACME", SECOND + 8 * SECOND // 10)
    assert b.inventory == 55 and b.dirty


def test_makers_that_do_not_hedge_keep_their_inventory() -> None:
    agents, a, _b = _agents(skew=8.0, requote=0.5)
    agents.mm_cfg = MarketMakerSpec(hedge_half_life_s=0.0)
    a.inventory = a.quoted_inventory = 1_000
    agents._hedge("ACME", SECOND)
    agents._hedge("ACME", 9 * SECOND)
    assert a.inventory == 1_000 and not a.dirty and agents.counters == {}


def test_a_flat_maker_filled_between_ticks_hedges_from_the_tick_before_the_fill() -> None:
    agents, a, _b = _agents(skew=8.0, requote=0.5)
    agents._hedge("ACME", SECOND)  # flat: nothing to hedge, but the clock moves on
    a.inventory = -1_000  # a fill between ticks (it sold 1,000 shares)
    agents._hedge("ACME", 2 * SECOND)  # one half-life after the last tick, not two
    assert a.inventory == -500


def _quoting_agents(inventory: int, limit: int) -> tuple[Agents, MarketMaker, list[dict]]:
    """Agents with one maker whose view is $50.00, ready to requote; its orders land in the
    returned list."""
    agents, maker, _b = _agents(skew=8.0, requote=0.5)
    agents.mm_cfg = MarketMakerSpec(skew_bps_per_1k=8.0, inventory_limit=limit, levels=1)
    agents.flow, agents.owner, agents.order_seq = {}, {}, 0
    agents.session = SimpleNamespace(spread=lambda: 1.0)
    agents.direct = {"ACME": NbboBook()}
    agents.scenario.tick = lambda _symbol: 10_000  # a cent
    sent: list[dict] = []
    agents._submit = lambda venue, **fields: sent.append(fields)  # type: ignore[method-assign]
    agents._send = lambda venue, msg: None  # type: ignore[method-assign]
    maker.view, maker.learner, maker.live = 50_000_000, None, {}
    maker.half_spread_bps, maker.widen_bps = 2.0, 0.0
    maker.inventory, maker.dirty = inventory, True
    return agents, maker, sent


def test_a_requote_records_the_inventory_its_quotes_lean_on() -> None:
    agents, maker, sent = _quoting_agents(inventory=-500, limit=20_000)
    agents._requote(maker)
    # short 500 shares at 8 bps per 1,000: fair $50 x (1 + 4 bps) = $50.02; bid 2 bps under
    # it, $50.009996 -> $50.00 (down to the cent), ask 2 bps over, $50.030004 -> $50.04 (up)
    assert [(f["side"], f["limit_price"]) for f in sent] == [
        (Side.BUY, 50_000_000),
        (Side.SELL, 50_040_000),
    ]
    assert maker.quoted_inventory == -500 and not maker.dirty


def test_a_maker_at_its_inventory_limit_quotes_one_side_and_looks_again_next_tick() -> None:
    agents, maker, sent = _quoting_agents(inventory=-1_000, limit=1_000)
    agents._requote(maker)
    # short at its limit: it only bids (buying reduces the position), and stays due to requote
    assert [f["side"] for f in sent] == [Side.BUY]
    assert maker.quoted_inventory == -1_000 and maker.dirty
