"""Background market: lit market makers quoting around the latent value, and noise traders.

One process hosts every background agent (they are cheap: timers and a few dicts each).
- A market maker per (venue, symbol) quotes ``levels`` levels a side around the latent value it
  sees on the value feed, skewed against its inventory, with its own half-spread (drawn once
  from its seeded generator, so venues differ); it re-quotes when its fair price moves by more
  than ``requote_bps`` or after a fill, posting new orders before canceling old ones. With
  ``hedge_half_life_s`` it lays its inventory off outside the lab (at the latent value: the
  futures or ETF its stock trades beside), keeping 2^(-t / half-life) of it, so the lean its
  skew gives its quotes fades: the restoring force behind the default's concave, fading
  metaorder impact (docs/MARKET.md, "Makers that hedge"). It widens
  its half-spread by the adverse selection its own fills show (markouts, as a dealer learns
  them) and narrows it again as that evidence fades: ``toxicity_widening``. With
  ``flow_learning`` it also learns how far its view moves after the lit tape's signed flow and
  centres its quotes on its view moved by what the flow predicts (``services.flow_learning``).
- Noise traders arrive as a Poisson process: market orders (IOC) on a random venue, limit orders
  near the touch that they cancel after a while, and midpoint orders in the dark pools.
- Informed traders see the latent value with noise and, when the market is off by more than
  their threshold, take the far touch on the venue showing it (their flow is what makes
  liquidity provision risky).
- Auction responders (market makers that opt in) are dealers of the one dealer model
  (``services.dealer``): a private noisy view of the latent value, costs, and a markup learned
  from the profit of the auctions they win, as the wholesalers price theirs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from protocol.auctions import AuctionCompleted, AuctionStarted
from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.control import PeerDown, Rejected
from protocol.marketdata import NBBO, Depth, Quote, Trade, ValueUpdate
from protocol.money import round_to_tick, tick_size
from protocol.orders import (
    ORDER_REPORTS,
    CancelOrder,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
)
from services.dealer.core import MarkoutEstimate
from services.dealer.desk import AUCTION, Desk, PrivateSignal
from services.dealer.responder import AuctionResponder
from services.feeds import Feed, NbboView
from services.flow_learning import DelayedSignal, FlowImpactEstimate, SignedFlow
from services.institutions import METAORDER_PREFIX, draw_metaorder
from services.latency import Link
from services.runtime import Service
from services.session import SessionClock
from services.sip.nbbo import NbboBook, TopOfBook

log = logging.getLogger(__name__)


def quote_ladder(
    value: int,
    inventory: int,
    half_spread_bps: float,
    step_bps: float,
    levels: int,
    skew_bps_per_1k: float,
    tick: int | None = None,
) -> list[tuple[Side, int]]:
    """Prices a market maker wants to show: ``levels`` bids below and asks above its fair price,
    on ``tick`` (the symbol's Rule 612 increment; ``None``: ``tick_size`` of the value)."""
    fair = value * (1.0 - skew_bps_per_1k * inventory / 1000.0 / 1e4)
    tick = tick or tick_size(value)
    out: list[tuple[Side, int]] = []
    for k in range(levels):
        offset = (half_spread_bps + k * step_bps) / 1e4
        # Rounding tolerance of a micro-dollar: float noise must not push a price a tick out.
        bid = round_to_tick(math.floor(fair * (1.0 - offset) + 1e-3), tick, side_up=False)
        ask = round_to_tick(math.ceil(fair * (1.0 + offset) - 1e-3), tick, side_up=True)
        if bid > 0:
            out.append((Side.BUY, bid))
        out.append((Side.SELL, max(ask, bid + tick)))
    return out


def hedged_inventory(inventory: int, elapsed_ns: int, half_life_s: float) -> int:
    """What a maker holding ``inventory`` shares keeps after hedging for ``elapsed_ns``: the
    inventory times 2^(-elapsed / half-life), truncated toward zero (so a few shares left do
    not linger for ever); ``half_life_s`` 0 keeps it all."""
    if half_life_s <= 0 or inventory == 0 or elapsed_ns <= 0:
        return inventory
    return int(inventory * 2.0 ** (-elapsed_ns / (half_life_s * 1e9)))


def toxicity_widening(charge: float, mid: float, weight: float, cap_bps: float) -> float:
    """Basis points a lit market maker adds to its half-spread: ``weight`` x its measured
    adverse selection per share (``charge``, micro-dollars: the markout estimate's mean less
    its noise, floored at zero) as a share of the mid, at most ``cap_bps``."""
    if mid <= 0 or charge <= 0:
        return 0.0
    return min(cap_bps, weight * charge / mid * 1e4)


def noise_limit(
    rng: np.random.Generator,
    side: Side,
    bid: int,
    ask: int,
    offset_bps: float,
    tick: int | None = None,
) -> int:
    """A passive price at or behind the near touch (never marketable at the NBBO seen), on
    ``tick``: the symbol's Rule 612 increment (``None``: the 2005 grid at the bid)."""
    tick = tick or tick_size(bid)
    behind = int(bid * float(rng.uniform(0.0, offset_bps)) / 1e4)
    if side is Side.BUY:
        return max(tick, round_to_tick(min(bid, ask - tick) - behind, tick, side_up=False))
    return round_to_tick(max(ask, bid + tick) + behind, tick, side_up=True)


@dataclass(slots=True)
class MarketMaker:
    venue: str
    symbol: str
    half_spread_bps: float
    signal: PrivateSignal
    inventory: int = 0
    hedged_ns: int = 0  # when it last laid inventory off (0: not yet)
    quoted_inventory: int = 0  # the inventory its live quotes lean against
    center: int = 0
    view: int = 0  # its private, noisy view of the latent value (0: none yet)
    live: dict[str, int] = field(default_factory=dict)  # order_id -> leaves
    dirty: bool = True
    adverse: MarkoutEstimate = field(default_factory=MarkoutEstimate)
    widen_bps: float = 0.0  # added to its half-spread for the toxicity it has measured
    learner: FlowImpactEstimate | None = None  # with flow learning: what flow predicts

    @property
    def account(self) -> str:
        return f"mm-{self.venue}"


class Agents(Service):
    role = "agents"

    async def _setup(self) -> None:
        cfg = self.scenario.agents
        self.mm_cfg = cfg.market_makers
        self.noise_cfg = cfg.noise
        self.session = SessionClock(self.scenario.session, self.config.session_origin_ns)
        self.order_seq = 0
        self.values: dict[str, int] = {}
        # Auction responders: dealers of the one dealer model (built before any feed can call).
        self.responders = self.scenario.agents.auction_responders
        self.desks: dict[str, Desk] = {}
        self.auction_responder: AuctionResponder | None = None
        self.responder_rng = self.rng("responders")
        for k in range(self.responders.count):
            name = f"amm-{k}"
            self.desks[name] = Desk.build(
                name,
                "auction-responder",
                self.scenario.dealers,
                (AUCTION,),
                self.rng(f"dealer:{name}"),
                self,
                self._mid,
                settle_grace_s={AUCTION: self.scenario.auction.window_ms / 1e3 + 0.5},
            )
            if self.scenario.dealers.warm_start:
                self.desks[name].restore(self.scenario.dealers.warm_start)
        mm_rng = self.rng("market-makers")
        self.makers = {
            (v.name, s): MarketMaker(
                v.name,
                s,
                self.mm_cfg.half_spread_bps * float(mm_rng.uniform(0.8, 1.6)),
                PrivateSignal(
                    np.random.default_rng(int(mm_rng.integers(2**31))),
                    self.mm_cfg.signal_noise_bps / 1e4,
                    self.mm_cfg.signal_half_life_s,
                ),
                # The dealers' estimator, aging as theirs does (the one model of toxicity).
                adverse=MarkoutEstimate(
                    half_life_ns=round(self.scenario.dealers.markout_half_life_s * 1e9)
                ),
            )
            for v in self.scenario.venues
            for s in self.scenario.symbol_names
        }
        mm = self.mm_cfg
        # Each symbol's value as the makers learn it (late, with ``signal_delay_ms``) and the
        # lit tape's signed flow they remember (with ``flow_learning``); none by default.
        self.delayed = {
            s: DelayedSignal(mm.signal_delay_ms * 1_000_000)
            for s in self.scenario.symbol_names
            if mm.signal_delay_ms > 0
        }
        self.flow = {
            s: SignedFlow(round(mm.flow_half_life_s * 1e9))
            for s in self.scenario.symbol_names
            if mm.flow_learning
        }
        if mm.flow_learning:
            for maker in self.makers.values():
                maker.learner = FlowImpactEstimate(round(mm.flow_horizon_s * 1e9))
        self.owner: dict[str, MarketMaker | None] = {}  # order_id -> maker (None: noise)
        self.links: dict[str, Link] = {}
        self.down: set[str] = set()  # venues and pools the orchestrator reported down
        for name in [v.name for v in self.scenario.venues] + [
            d.name for d in self.scenario.darkpools
        ]:
            sock = self.connect(name, "orders", zmq.DEALER)
            self.links[name] = self.link(sock, name)
            self.serve(
                sock, Decoder(ORDER_REPORTS), self._on_report, router=False, name=f"reports@{name}"
            )
        self.nbbo = NbboView(self, self._on_nbbo)
        await self.nbbo.start()
        # Direct venue feeds: informed traders may use them (fresher than the SIP's NBBO), and
        self.direct: dict[str, NbboBook] = {s: NbboBook() for s in self.scenario.symbol_names}
        # market makers use them so as never to lock or cross another venue's protected quote.
        for venue in self.scenario.venues:
            await Feed(
                self,
                venue.name,
                "quotes",
                [Quote, Trade, Depth],
                self._on_venue_md,
                snapshot_endpoint="orders",
            ).start()
        await Feed(self, self.scenario.value.name, "values", [ValueUpdate], self._on_value).start()
        if self.responders.count:
            auction = self.scenario.auction.name
            sock = self.connect(auction, "responses", zmq.DEALER)
            self.auction_responder = AuctionResponder(
                self,
                self.link(sock, auction),
                self.desks,
                self._quote,
                "auction",
                self.scenario.auction.response_updates,
            )
            self.serve(
                sock,
                Decoder(ORDER_REPORTS),
                self._on_auction_report,
                router=False,
                name="auction-reports",
            )
            await Feed(
                self,
                auction,
                "auctions",
                [AuctionStarted, AuctionCompleted],
                self._on_notice,
                snapshot_endpoint=None,
            ).start()

    async def _on_running(self) -> None:
        if not self.scenario.agents.enabled:  # seeded-book scenarios: the market stays as loaded
            return
        for maker in self.makers.values():
            self._requote(maker)
        if self.noise_cfg.traders and self.noise_cfg.rate_per_s > 0:
            self.spawn(self._noise(), "noise")
        informed = self.scenario.agents.informed
        if informed.traders and informed.rate_per_s > 0:
            self.spawn(self._informed(), "informed")
        for k in range(self.scenario.agents.institutional.traders):
            self.spawn(self._institution(k), f"institution-{k}")
        if self.desks:
            self.spawn(self._learning_clock(), "learning-clock")

    def _next_id(self, prefix: str) -> str:
        self.order_seq += 1
        return f"{prefix}-{self.order_seq}"

    def _submit(self, venue: str, **fields: object) -> None:
        self._send(venue, self.make(SubmitOrder, **fields))

    def _send(self, venue: str, msg: SubmitOrder | CancelOrder) -> None:
        if venue in self.down:  # nobody there to take it (nor to answer)
            self.count("orders.skipped_down")
            return
        self.links[venue].send(encode(msg))

    def _on_peer_down(self, msg: PeerDown) -> None:
        """A venue or pool lost: its book is gone with it, so its makers' quotes there are
        forgotten (not waited on) and nothing more is sent there."""
        if msg.name not in self.links:
            return
        self.down.add(msg.name)
        for maker in self.makers.values():
            if maker.venue == msg.name:
                for order_id in maker.live:
                    self.owner.pop(order_id, None)
                maker.live.clear()

    # ------------------------------------------------------------------ market makers
    def _on_value(self, msg: ValueUpdate) -> None:
        self.values[msg.symbol] = msg.value
        for desk in self.desks.values():
            desk.observe(msg.symbol, msg.value)
        now = time.monotonic_ns()
        delayed = self.delayed.get(msg.symbol)
        seen = msg.value if delayed is None else delayed.push(msg.value, now)
        if seen is None:  # nothing old enough for a late view yet
            return
        flow = self.flow.get(msg.symbol)
        for venue in self.scenario.venues:
            maker = self.makers[(venue.name, msg.symbol)]
            maker.view = round(maker.signal.observe(seen, now))
            if maker.learner is not None and flow is not None:
                maker.learner.observe(maker.view, flow.at(now), now)
        if self.state.value != "running" or not self.scenario.agents.enabled:
            return
        self._hedge(msg.symbol, now)
        self._requote_moved(msg.symbol, now, dirty_too=True)

    def _hedge(self, symbol: str, now_ns: int) -> None:
        """Each of ``symbol``'s makers lays off part of its inventory outside the lab
        (``hedge_half_life_s``); one whose lean is now ``requote_bps`` or more away from the
        one its quotes show requotes."""
        mm = self.mm_cfg
        if mm.hedge_half_life_s <= 0:
            return
        for venue in self.scenario.venues:
            maker = self.makers[(venue.name, symbol)]
            last, maker.hedged_ns = maker.hedged_ns, now_ns
            if not last or not maker.inventory:
                continue
            kept = hedged_inventory(maker.inventory, now_ns - last, mm.hedge_half_life_s)
            hedged = maker.inventory - kept
            if not hedged:
                continue
            maker.inventory = kept
            self.count("mm.hedged_shares", abs(hedged))
            if mm.skew_bps_per_1k * abs(kept - maker.quoted_inventory) / 1000.0 >= mm.requote_bps:
                maker.dirty = True

    def _requote_moved(self, symbol: str, now_ns: int, dirty_too: bool) -> None:
        """Requote each of ``symbol``'s makers whose fair price moved past ``requote_bps``
        (and, with ``dirty_too``, each that a fill or a cancel left to requote)."""
        threshold = self.mm_cfg.requote_bps / 1e4
        for venue in self.scenario.venues:
            maker = self.makers[(venue.name, symbol)]
            if not maker.view:
                continue
            fair = self._fair(maker, now_ns)
            if (dirty_too and maker.dirty) or abs(fair - maker.center) > threshold * maker.view:
                self._requote(maker)

    def _fair(self, maker: MarketMaker, now_ns: int) -> int:
        """Where a maker centres its quotes: its view, moved by what the flow it has seen
        predicts when it learns from flow."""
        flow = self.flow.get(maker.symbol)
        if maker.learner is None or flow is None or not maker.view:
            return maker.view
        return round(maker.learner.fair(maker.view, flow.at(now_ns)))

    def _requote(self, maker: MarketMaker) -> None:
        # quotes centre on its own noisy view (moved by the flow it learned to read), never on
        # the value itself
        value = self._fair(maker, time.monotonic_ns())
        if not value:
            return
        old = list(maker.live)
        for order_id in old:  # canceling: what stays in ``live`` is only what it still shows
            maker.live.pop(order_id)
        maker.center = value
        maker.quoted_inventory = maker.inventory
        # at its inventory limit it quotes one side only (the side that reduces it) and looks
        # again at the next view (this was set before and then cleared: such a maker stayed
        # one-sided until its fair price moved)
        maker.dirty = abs(maker.inventory) >= self.mm_cfg.inventory_limit
        away_bid, away_ask = self._away_quotes(maker)
        tick = self.scenario.tick(maker.symbol)  # a half-penny for a constrained stock (2024)
        for side, price in quote_ladder(
            value,
            maker.inventory,
            maker.half_spread_bps * self.session.spread() + maker.widen_bps,
            self.mm_cfg.level_step_bps,
            self.mm_cfg.levels,
            self.mm_cfg.skew_bps_per_1k,
            tick,
        ):
            # Reg NMS: do not lock or cross another venue's displayed quote; step back instead.
            if side is Side.BUY and away_ask is not None and price >= away_ask:
                price = away_ask - tick
            elif side is Side.SELL and away_bid is not None and price <= away_bid:
                price = away_bid + tick
            if price <= 0:
                continue
            if abs(maker.inventory) >= self.mm_cfg.inventory_limit and (side is Side.BUY) == (
                maker.inventory > 0
            ):
                continue
            order_id = self._next_id(f"mm.{maker.venue}.{maker.symbol}")
            maker.live[order_id] = self.mm_cfg.size
            self.owner[order_id] = maker
            self._submit(
                maker.venue,
                order_id=order_id,
                symbol=maker.symbol,
                side=side,
                qty=self.mm_cfg.size,
                order_type=OrderType.LIMIT,
                limit_price=price,
                tif=TimeInForce.DAY,
                account=maker.account,
            )
        for order_id in old:
            self._send(maker.venue, self.make(CancelOrder, order_id=order_id, symbol=maker.symbol))
        self.count("mm.requotes")

    def _on_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        if isinstance(msg, Rejected):
            self.count("reports.protocol_rejected")
            return
        order_id = getattr(msg, "order_id", "")
        maker = self.owner.get(order_id)
        match msg:
            case OrderFilled():
                self.count("fills")
                if maker is not None:
                    maker.inventory += msg.fill_qty if msg.side is Side.BUY else -msg.fill_qty
                    maker.dirty = True
                    self._mark_later(maker, msg.side)
                    if msg.leaves_qty == 0:
                        maker.live.pop(order_id, None)
                        self.owner.pop(order_id, None)
                elif msg.leaves_qty == 0:
                    self.owner.pop(order_id, None)
            case OrderCanceled() | OrderRejected():
                if isinstance(msg, OrderRejected):
                    self.count("orders.rejected")
                # A quote the venue ended (not displayed: it would have locked or crossed another
                # venue's quote as the venue saw it, Rule 610(d)): quote again at the next view.
                if maker is not None and maker.live.pop(order_id, None) is not None:
                    maker.dirty = True
                self.owner.pop(order_id, None)

    def _mark_later(self, maker: MarketMaker, side: Side) -> None:
        """A maker's fill: ``markout_horizon_ms`` later, how far the mid moved against it
        teaches its toxicity estimate, which sets how much it widens."""
        if self.mm_cfg.toxicity_weight <= 0:
            return
        mid = self._mid(maker.symbol)
        if mid is None:
            return
        direction = 1 if side is Side.BUY else -1  # the maker bought: a falling mid hurts
        asyncio.get_running_loop().call_later(
            self.mm_cfg.markout_horizon_ms / 1e3, self._marked, maker, mid, direction
        )

    def _marked(self, maker: MarketMaker, then: float, direction: int) -> None:
        now = self._mid(maker.symbol)
        if now is None:
            return
        maker.adverse.update((then - now) * direction, time.monotonic_ns())
        widen = toxicity_widening(
            maker.adverse.charge, now, self.mm_cfg.toxicity_weight, self.mm_cfg.max_widen_bps
        )
        if abs(widen - maker.widen_bps) >= 0.05:
            maker.widen_bps = widen
            maker.dirty = True
        self.counters[f"mm.widen_centibps.{maker.venue}.{maker.symbol}"] = round(widen * 100)

    # ------------------------------------------------------------------ noise traders
    async def _noise(self) -> None:
        cfg = self.noise_cfg
        rng = self.rng("noise")
        symbols = self.scenario.symbol_names
        venues = [v.name for v in self.scenario.venues]
        pools = [d.name for d in self.scenario.darkpools]
        loop = asyncio.get_running_loop()
        while True:
            # a session clock moves the rate around the day (mean: rate_per_s)
            await asyncio.sleep(self.session.gap_s(1.0 / cfg.rate_per_s, rng))
            symbol = symbols[int(rng.integers(len(symbols)))]
            nbbo = self.nbbo.usable(symbol)
            if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
                continue
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            qty = int(cfg.sizes[int(rng.integers(len(cfg.sizes)))])
            account = f"noise-{int(rng.integers(cfg.traders))}"
            u = rng.random()
            order_id = self._next_id("noise")
            self.owner[order_id] = None
            if u < cfg.dark_share and pools:
                venue = pools[int(rng.integers(len(pools)))]
                msg = self.make(
                    SubmitOrder,
                    order_id=order_id,
                    symbol=symbol,
                    side=side,
                    qty=max(qty, 100),
                    order_type=OrderType.MIDPOINT,
                    tif=TimeInForce.DAY,
                    account=account,
                )
                self._send(venue, msg)
                loop.call_later(
                    cfg.limit_lifetime_ms / 1000.0, self._cancel_noise, venue, order_id, symbol
                )
            elif u < cfg.dark_share + cfg.market_share:
                venue = venues[int(rng.integers(len(venues)))]
                self._submit(
                    venue,
                    order_id=order_id,
                    symbol=symbol,
                    side=side,
                    qty=qty,
                    order_type=OrderType.MARKET,
                    tif=TimeInForce.IOC,
                    account=account,
                )
            else:
                venue = venues[int(rng.integers(len(venues)))]
                price = noise_limit(
                    rng,
                    side,
                    nbbo.bid_px,
                    nbbo.ask_px,
                    cfg.limit_offset_bps,
                    self.scenario.tick(symbol),  # a half-penny for a constrained stock (2024)
                )
                self._submit(
                    venue,
                    order_id=order_id,
                    symbol=symbol,
                    side=side,
                    qty=qty,
                    order_type=OrderType.LIMIT,
                    limit_price=price,
                    tif=TimeInForce.DAY,
                    account=account,
                )
                loop.call_later(
                    cfg.limit_lifetime_ms / 1000.0, self._cancel_noise, venue, order_id, symbol
                )
            self.count("noise.orders")

    async def _institution(self, k: int) -> None:
        """Institution ``k``: metaorders one after another, each child a marketable IOC order
        for ``child_qty`` at the venue showing the touch (services/institutions.py)."""
        spec = self.scenario.agents.institutional
        rng = self.rng(f"institution:{k}")
        symbols = self.scenario.symbol_names
        parents = 0
        while True:
            # on a session clock parents and children come faster at the open and the close
            await asyncio.sleep(self.session.gap_s(spec.pause_ms / 1000.0, rng))
            parent = draw_metaorder(rng, symbols, spec, self._value_gap_bps)
            parents += 1
            self.count("institutional.metaorders")
            for _ in range(parent.children):
                await asyncio.sleep(self.session.gap_s(spec.child_interval_ms / 1000.0, rng))
                nbbo = self.nbbo.usable(parent.symbol)
                if nbbo is None:
                    continue
                buy = parent.side is Side.BUY
                venue, price = (
                    (nbbo.ask_venue, nbbo.ask_px) if buy else (nbbo.bid_venue, nbbo.bid_px)
                )
                if venue not in self.links or price is None:
                    continue
                # the parent in every child's id (``institution-K.P-N``): the realism metrics
                # measure each metaorder's impact from the tape (orchestration/realism.py)
                order_id = self._next_id(f"{METAORDER_PREFIX}{k}.{parents}")
                self.owner[order_id] = None
                self._submit(
                    venue,
                    order_id=order_id,
                    symbol=parent.symbol,
                    side=parent.side,
                    qty=spec.child_qty,
                    order_type=OrderType.LIMIT,
                    limit_price=price,
                    tif=TimeInForce.IOC,
                    account=f"institution-{k}",
                )
                self.count("institutional.children")

    # ------------------------------------------------------------------ informed traders
    async def _informed(self) -> None:
        cfg = self.scenario.agents.informed
        rng = self.rng("informed")
        symbols = self.scenario.symbol_names
        while True:
            await asyncio.sleep(self.session.gap_s(1.0 / cfg.rate_per_s, rng))
            symbol = symbols[int(rng.integers(len(symbols)))]
            nbbo = self._informed_view(symbol, cfg.feed)
            value = self.values.get(symbol)
            if nbbo is None or value is None or nbbo.bid_px is None or nbbo.ask_px is None:
                continue
            estimate = value * (1.0 + float(rng.normal(0.0, cfg.signal_noise_bps)) / 1e4)
            threshold = cfg.threshold_bps / 1e4
            if estimate > nbbo.ask_px * (1 + threshold):
                side, price, venue = Side.BUY, nbbo.ask_px, nbbo.ask_venue
            elif estimate < nbbo.bid_px * (1 - threshold):
                side, price, venue = Side.SELL, nbbo.bid_px, nbbo.bid_venue
            else:
                continue
            if venue not in self.links:
                continue
            order_id = self._next_id("informed")
            self.owner[order_id] = None
            qty = int(cfg.sizes[int(rng.integers(len(cfg.sizes)))])
            self._submit(
                venue,
                order_id=order_id,
                symbol=symbol,
                side=side,
                qty=qty,
                order_type=OrderType.LIMIT,
                limit_price=price,
                tif=TimeInForce.IOC,
                account=f"informed-{int(rng.integers(cfg.traders))}",
            )
            self.count("informed.orders")

    def _away_quotes(self, maker: MarketMaker) -> tuple[int | None, int | None]:
        """Best bid and ask displayed on the other venues (from the direct feeds)."""
        bid = ask = None
        for venue, (b, bq, a, aq) in self.direct[maker.symbol].quotes.items():
            if venue == maker.venue:
                continue
            if b is not None and bq > 0 and (bid is None or b > bid):
                bid = b
            if a is not None and aq > 0 and (ask is None or a < ask):
                ask = a
        return bid, ask

    def _on_venue_md(self, msg: Quote | Trade | Depth) -> None:
        if isinstance(msg, Quote) and msg.symbol in self.direct:
            self.direct[msg.symbol].update(
                msg.venue, msg.bid_px, msg.bid_qty, msg.ask_px, msg.ask_qty
            )
        elif isinstance(msg, Trade) and msg.aggressor is not None and msg.symbol in self.flow:
            now = time.monotonic_ns()
            signed = msg.qty if msg.aggressor is Side.BUY else -msg.qty
            self.flow[msg.symbol].add(signed, now)
            if self.state.value == "running" and self.scenario.agents.enabled:
                # only what the flow moved: fills are requoted at the next view, as without
                self._requote_moved(msg.symbol, now, dirty_too=False)

    def _informed_view(self, symbol: str, feed: str) -> NBBO | TopOfBook | None:
        if feed == "sip":
            return self.nbbo.usable(symbol)
        top = self.direct[symbol].best()
        return (
            None if top.bid_px is None or top.ask_px is None or top.locked or top.crossed else top
        )

    # ------------------------------------------------------------------ auction responders
    def _value_gap_bps(self, symbol: str) -> float | None:
        """How far the latent value stands above the NBBO midpoint, in bps of the mid (None
        while either is unknown): what an informed institution's parent leans on."""
        mid = self._mid(symbol)
        value = self.values.get(symbol)
        if mid is None or value is None or mid <= 0:
            return None
        return (value - mid) / mid * 1e4

    def _mid(self, symbol: str) -> float | None:
        nbbo = self.nbbo.usable(symbol)
        if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
            return None
        return (nbbo.bid_px + nbbo.ask_px) / 2

    def _quote(self, symbol: str) -> tuple[int, int] | None:
        nbbo = self.nbbo.usable(symbol)
        if nbbo is None or nbbo.bid_px is None or nbbo.ask_px is None:
            return None
        return nbbo.bid_px, nbbo.ask_px

    def _on_nbbo(self, nbbo: NBBO) -> None:
        if self.auction_responder is not None:
            self.auction_responder.on_nbbo(nbbo)

    def _on_notice(self, msg: AuctionStarted | AuctionCompleted) -> None:
        responder = self.auction_responder
        if responder is None:
            return
        if isinstance(msg, AuctionCompleted):
            responder.closed(msg.auction_id)
            return
        if self.state.value != "running":
            return
        if not self.scenario.agents.enabled or msg.symbol not in self.direct:
            return
        cfg = self.responders
        for name, desk in self.desks.items():
            token = desk.saw_flow(AUCTION, msg.qty)
            if self.responder_rng.random() > cfg.participation:
                continue
            qty = min(msg.qty, cfg.max_qty)
            if responder.respond(name, msg, qty, token, f"{name}-{msg.auction_id}"):
                self.count("auction.responses")

    def _on_auction_report(self, _identity: bytes | None, msg: object, _recv_ns: int) -> None:
        pending = self.auction_responder.report(msg) if self.auction_responder else None
        if not isinstance(msg, OrderFilled) or pending is None:
            return
        desk = self.desks.get(pending.responder)
        if desk is None:
            return
        investor = Side.SELL if msg.side is Side.BUY else Side.BUY
        desk.filled(
            AUCTION, msg.symbol, investor, msg.fill_qty, msg.fill_price, pending.mid,
            fee=msg.fee, token=pending.token,
        )  # fmt: skip
        self.count("auction.won_shares", msg.fill_qty)

    async def _learning_clock(self) -> None:
        period = self.scenario.dealers.learning_period_s
        while True:
            await asyncio.sleep(period / 4)
            for desk in self.desks.values():
                desk.tick()

    def _cancel_noise(self, venue: str, order_id: str, symbol: str) -> None:
        if order_id in self.owner and self.state.value == "running":
            self._send(venue, self.make(CancelOrder, order_id=order_id, symbol=symbol))

    async def _drain(self) -> None:
        for desk in self.desks.values():
            mids = {
                s: self._mid(s) or float(self.values.get(s, 0)) for s in self.scenario.symbol_names
            }
            desk.report(mids)
        for maker in self.makers.values():
            if maker.learner is not None:
                learned = maker.learner
                log.info(
                    "%s: %s %s learned from flow: %d samples, slope %.3g (se %s), beta %.3g "
                    "per share",
                    self.name, maker.venue, maker.symbol, learned.n, learned.slope,
                    "-" if learned.stderr is None else f"{learned.stderr:.3g}", learned.beta,
                )  # fmt: skip
            for order_id in list(maker.live):
                self._send(
                    maker.venue, self.make(CancelOrder, order_id=order_id, symbol=maker.symbol)
                )
