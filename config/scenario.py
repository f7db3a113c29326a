"""Scenario files and the resolved run config: frozen, typed, unknown keys rejected.

Defaults live here and only here. Services import this module (it needs only msgspec), so it
must stay free of pandas and friends.
"""

from __future__ import annotations

import enum
import functools
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from config.rules import RegNms, access_fee_cap, quote_increment, round_lot
from protocol.common import Side
from protocol.money import format_price, to_micros

PACKAGE_SCENARIOS = Path(__file__).resolve().with_name("scenarios")
DEFAULT_SCENARIO = PACKAGE_SCENARIOS / "default.toml"

Dollars = float | str  # written by humans in dollars; converted once with to_micros
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class Regime(enum.StrEnum):
    """The broker's routing arms (``SubmitOrder.regime``); each one's plan is in
    ``services/broker/core.py``. The one list of regimes: tests and the CLI read it from here."""

    PFOF = "pfof"
    PFOF_CAPPED = "pfof-capped"
    WEIGHTED = "weighted"
    BALANCED = "balanced"
    AUCTION = "auction"
    HYBRID = "hybrid"
    BEST_EX = "best-ex"
    COMMISSION = "commission"


# The regime names as plain strings (what scenario files, streams and reports carry).
REGIMES: tuple[str, ...] = tuple(regime.value for regime in Regime)


class WholesalerPricing(enum.StrEnum):
    """How a wholesaler prices the retail orders it internalises (``services/wholesaler``)."""

    ECONOMIC = "economic"  # the dealer model (``[dealers]``): costs plus a learned markup
    FIXED_SPREAD = "fixed_spread"  # mid +/- half of ``fixed_spread_bps``, capped at the NBBO


class PfofRouting(enum.StrEnum):
    """How the broker picks the wholesaler for an order of PFOF flow (``services/broker``)."""

    SCORECARD = "scorecard"  # drawn with the execution-quality scorecard's flow shares
    TOP_PAYER = "top-payer"  # the highest PFOF per share among those not demoted


class RemainderPolicy(enum.StrEnum):
    """What the broker does with shares an auction did not fill (``services/auction/core.py``)."""

    ROUTE_TO_SOR = "route_to_sor"
    RETURN_TO_WHOLESALER = "return_to_wholesaler"


class SecurityMode(enum.StrEnum):
    """How the lab's sockets authenticate (``[security] mode``, docs/SECURITY.md)."""

    CURVE = "curve"  # CURVE encryption + ZAP: only the run's own keys connect (the default)
    NONE = "none"  # no authentication at all: only by explicit choice (e.g. a benchmark)


# Key names the lab keeps for itself beside its services' names (``services/security.py``).
RESERVED_KEY_NAMES = ("orchestrator", "operator", "injector")


class ScenarioError(ValueError):
    """A scenario or run config that cannot be used; the message names the key."""


class Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    def __post_init__(self) -> None:
        # A bad dollar amount is an error at load, naming its key, not when a service starts.
        for field in msgspec.structs.fields(self):
            if field.type == Dollars:
                try:
                    micros(getattr(self, field.name))
                except ValueError as exc:
                    raise ValueError(f"{field.name}: {exc}") from exc


def micros(value: Dollars) -> int:
    return to_micros(value)


class LatencySpec(Spec, frozen=True):
    """One-way latency of a directed link: ``base_us`` plus jitter of mean ``jitter_us``."""

    base_us: NonNegInt = 0
    jitter_us: NonNegInt = 0
    model: Literal["lognormal", "uniform", "constant"] = "lognormal"


class LinkLatency(LatencySpec, frozen=True):
    """Latency for links whose sender and receiver match (by service name or role; ``*`` any)."""

    src: str = "*"
    dst: str = "*"


class LatencyConfig(Spec, frozen=True):
    default: LatencySpec = LatencySpec()
    links: list[LinkLatency] = []


class SymbolSpec(Spec, frozen=True):
    symbol: Annotated[str, msgspec.Meta(pattern=r"^[A-Z][A-Z0-9.]{0,11}$")]
    price: Dollars
    # Rule 606(a)(1) and the Rule 605(a)(2) summary split stocks into S&P 500 constituents and
    # other NMS stocks; a lab symbol is "other" unless the scenario says it is in the index
    sp500: bool = False
    # The listing exchange's classification for the period (average quoted spread <= $0.015
    # over the evaluation period): under rules.reg_nms = "2024" it quotes in $0.005.
    tick_constrained: bool = False

    @property
    def price_micros(self) -> int:
        return micros(self.price)


class SeedLevel(Spec, frozen=True, kw_only=True):
    """One resting order loaded at start-up: ``symbol`` (``*`` = every symbol), side, price, qty."""

    symbol: str = "*"
    side: Side
    price: Dollars
    qty: PositiveInt


class VenueSpec(Spec, frozen=True):
    """A lit exchange. Fees in $/share: takers pay ``taker_fee``, makers get ``maker_rebate``."""

    name: str
    taker_fee: Dollars = "0.0030"
    maker_rebate: Dollars = "0.0020"
    collar_bps: PositiveInt = 500
    depth_levels: PositiveInt = 5
    # Seeded book: resting limit orders loaded at start-up (scenarios that check routing exactly).
    book: list[SeedLevel] = []


class DarkPoolSpec(Spec, frozen=True):
    name: str
    min_qty: NonNegInt = 0
    fee: Dollars = "0.0010"
    # Seeded priced dark orders (they execute at their own price) and whether the pool publishes
    # indications of interest (price and size of priced orders, no identities) on its md stream.
    book: list[SeedLevel] = []
    publish_ioi: bool = False


class WholesalerSpec(Spec, frozen=True):
    """A wholesale market maker: internalises the flow brokers route to it (paying PFOF), bids
    in auctions, hedges on lit venues. It prices both channels with the one dealer model of
    ``[dealers]``; what it pays for flow is set here."""

    name: str
    # PFOF paid to the routing broker: per share, or (when above 0) a share of the quoted spread
    # at the order's arrival (some brokers' Rule 606 disclosures describe PFOF that way).
    pfof_per_share: Dollars = "0.0030"
    pfof_spread_share: Fraction = 0.0
    auction_participation: Fraction = 1.0
    # "economic": the dealer model; "fixed_spread" fills at mid +/- half of `fixed_spread_bps`
    # (capped at the NBBO), as the PFOF mini-project's market makers do.
    pricing: WholesalerPricing = WholesalerPricing.ECONOMIC
    fixed_spread_bps: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    fill_rate: Fraction = 1.0  # share of internalisation requests it accepts (the rest declined)
    max_order_qty: PositiveInt = 20_000
    inventory_limit: PositiveInt = 100_000
    hedge_threshold: PositiveInt = 10_000
    decision_us: NonNegInt = 200
    # This dealer's private view of the value, when it differs from ``[dealers]``' (unset: the
    # shared one): bidders who differ in what they know (scenarios/informed-bidder.toml).
    signal_noise_bps: Annotated[float, msgspec.Meta(ge=0)] | msgspec.UnsetType = msgspec.UNSET
    signal_weight: Fraction | msgspec.UnsetType = msgspec.UNSET

    def dealer_spec(self, dealers: DealersConfig) -> DealersConfig:
        """The one dealer model with this wholesaler's own view, where it sets one."""
        own = {
            key: value
            for key, value in (
                ("signal_noise_bps", self.signal_noise_bps),
                ("signal_weight", self.signal_weight),
            )
            if value is not msgspec.UNSET
        }
        return msgspec.structs.replace(dealers, **own) if own else dealers


class DealersConfig(Spec, frozen=True):
    """One dealer model for every liquidity provider that prices retail orders: wholesalers in
    both channels (internalised flow and auctions) and the market makers answering auctions
    (``services/dealer/core.py``; docs/ECONOMICS.md). Price = reference +/- (cost + markup),
    never worse than the NBBO; cost = learned adverse selection of the channel + inventory +
    operating cost + PFOF/fees where paid; the markup is learned per channel by one rule."""

    # Markups the learner chooses between, as fractions of the quoted half-spread; it starts
    # at `start_markup` (which must be one of them) unless a warm start says otherwise.
    markups: list[Annotated[float, msgspec.Meta(ge=0.0, le=10.0)]] = msgspec.field(
        default_factory=lambda: [round(0.1 * k, 1) for k in range(11)]
    )
    start_markup: Annotated[float, msgspec.Meta(ge=0.0, le=10.0)] = 0.5
    learning_period_s: Annotated[float, msgspec.Meta(gt=0)] = 3.0
    learning_step: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.3
    explore_start: Fraction = 0.4
    explore_floor: Fraction = 0.15
    explore_half_life: Annotated[float, msgspec.Meta(gt=0)] = 100.0  # learning periods
    # Of the exploring periods, the share that try any markup at random (not a neighbour).
    explore_global: Fraction = 0.2
    operating_cost_per_share: Dollars = "0.0001"
    inventory_cost_per_1k: Dollars = "0.0002"  # per share, per 1,000 shares of position
    # Adverse selection is learned from how far the mid moves against each fill this long after.
    markout_horizon_ms: PositiveInt = 1000
    # A markout's weight in that estimate halves every `markout_half_life_s` of time (as well as
    # by 2% per later markout); the charge is the estimate less two standard errors over the
    # weights' sum, so evidence that stops coming loses its confidence (0: it never ages).
    markout_half_life_s: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    # How the estimate becomes a charge, the same in both channels: "proven" — the mean less two
    # standard errors, floored at zero (a loss smaller than its noise is not charged); "posterior"
    # — the posterior mean under a prior at zero worth `adverse_prior_markouts` markouts (a small
    # loss is charged in expectation, shrunk while evidence is thin; favourable flow lowers it).
    adverse_charge: Literal["proven", "posterior"] = "proven"
    adverse_prior_markouts: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    # Each dealer's private, noisy view of the latent value: value x (1 + e), e a persistent
    # noise (AR(1), standard deviation `signal_noise_bps`, half-life `signal_half_life_s`). Its
    # reference price is the NBBO midpoint moved `signal_weight` of the way to that view.
    signal_noise_bps: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    signal_half_life_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    signal_weight: Fraction = 0.5
    # How the view enters the price, the same in both channels: "symmetric" moves the price
    # both ways (a view that favours the investor's trade improves its price: the dealer gives
    # what it knows away); "protective" only moves it against the investor (a bidder that
    # shades to the market and keeps its information rent; scenarios/informed-bidder.toml).
    view_pricing: Literal["symmetric", "protective"] = "symmetric"
    # What the markup learner is paid for a fill, the same in both channels: "expected" — the
    # spread against the mid at the fill less the adverse selection the estimate has proven (a
    # conservative charge: a loss smaller than its noise is not charged); "marked" — the spread
    # against the mid `markout_horizon_ms` later (the fill's realised outcome, so a winner's
    # curse shows in the reward whether or not the estimate has proven it yet). "marked" is not
    # known to be neutral between the channels: under it the null case leaned to the auction
    # (docs/ECONOMICS.md, "A reward marked to market"); no shipped scenario uses it.
    reward: Literal["expected", "marked"] = "expected"
    # A warm start: the learned state written by `flowlab calibrate` (a JSON file; a relative
    # path is taken from the scenario file's folder). Empty: every dealer starts afresh.
    warm_start: str = ""


class AuctionConfig(Spec, frozen=True):
    """The qualified auction of proposed Rule 615 (docs/ECONOMICS.md): its window (the rule's
    100-300 ms), the responses' pricing increment, what is done with the unfilled rest, and the
    fees per share its operator charges the exposed order and the winning responders."""

    name: str = "auction"
    window_ms: Annotated[int, msgspec.Meta(ge=100, le=300)] = 100
    increment: Dollars = "0.001"
    remainder_policy: RemainderPolicy = RemainderPolicy.ROUTE_TO_SOR
    disclose_broker: bool = False
    order_fee: Dollars = "0"
    responder_fee: Dollars = "0"
    # Which NBBO a response must not trade through: "execution" (Reg NMS Rule 611 as written,
    # the quotes the auction knows when it executes) or "start" (the quotes it was priced on).
    nbbo_check: Literal["execution", "start"] = "execution"
    # Whether a responder may modify, replace or withdraw its live response while the window is
    # open (the lab's modelling choice: not checked against the proposal's text); the lab's
    # responders then re-price on every NBBO move they see. false (default): responses are firm
    # for the window (one per responder, no cancel), the auction every replicated figure in
    # docs/ECONOMICS.md was measured with; what updates change is measured there.
    response_updates: bool = False


class BrokerConfig(Spec, frozen=True):
    """The retail broker and its routing arms (see services/broker/service.py for each regime)."""

    name: str = "broker"
    regimes: list[str] = msgspec.field(default_factory=lambda: ["pfof", "auction"])
    # pfof-capped: the broker accepts at most this PFOF per share.
    pfof_cap_per_share: Dollars = "0.0010"
    # weighted: score = w * execution cost - (1 - w) * PFOF revenue, per share; lowest wins.
    execution_weight: Fraction = 0.7
    # balanced: the PFOF mini-project's strategy as written, the same score over the
    # wholesalers *and* the SOR (the lit market, no PFOF), each cost learned from fills.
    balanced_execution_weight: Fraction = 0.7
    # commission: a flat commission per order instead of PFOF, routed for best execution.
    commission_per_order: Dollars = "0.65"
    pfof_routing: PfofRouting = PfofRouting.SCORECARD
    # The execution-quality review (services/broker/scorecard.py): every period the broker
    # scores each wholesaler over the last `scorecard_window` periods (price improvement per
    # share x fill rate) and splits the next period's PFOF flow: each keeps `scorecard_floor`,
    # the rest goes in proportion to the scores; below `scorecard_tolerance` x the best score a
    # wholesaler is demoted to the floor.
    scorecard_period_s: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    scorecard_window: PositiveInt = 2
    scorecard_floor: Annotated[float, msgspec.Meta(ge=0.0, le=0.3)] = 0.05
    scorecard_tolerance: Fraction = 0.7
    # Where a DAY limit order rests when no destination of its regime filled it all: a lit
    # venue's name ("" = the scenario's first lit venue). See docs/ARCHITECTURE.md decision 15.
    limit_venue: str = ""
    # The largest client order the broker admits, in shares (a larger one is rejected, field
    # `qty`, before routing; the wire's own bound is 100,000,000).
    max_order_qty: PositiveInt = 1_000_000


class SorConfig(Spec, frozen=True):
    name: str = "sor"
    # A child expires at the venue `child_timeout_ms` after it is sent; unanswered, it is given
    # up (and its shares rerouted) once any report of it must have arrived: the venue -> SOR
    # link's worst-case latency plus `child_grace_ms` (scheduling; clock offset across hosts).
    child_timeout_ms: PositiveInt = 500
    child_grace_ms: NonNegInt = 50
    max_rounds: PositiveInt = 8
    dark_probe_share: Fraction = 0.3
    market_collar_bps: PositiveInt = 300
    # Time slicing (strategies `twap` and `pov`; see docs/SOR.md).
    twap_horizon_ms: PositiveInt = 2_000
    twap_slices: PositiveInt = 5
    pov_rate: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] = 0.1
    pov_horizon_ms: PositiveInt = 5_000
    pov_interval_ms: PositiveInt = 100
    # fill-aware: the fill rate each non-displayed venue is assumed to have before any child.
    fill_rate_prior: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.5


class MarketMakerSpec(Spec, frozen=True):
    """Lit liquidity providers: one per (venue, symbol), quoting ``levels`` levels around their
    own noisy view of the latent value."""

    half_spread_bps: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    level_step_bps: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    levels: PositiveInt = 3
    size: PositiveInt = 500
    skew_bps_per_1k: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    requote_bps: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    inventory_limit: PositiveInt = 20_000
    # Each lays its inventory off outside the lab (in the futures or ETF its stock trades
    # beside, at the latent value), keeping 2^(-t / `hedge_half_life_s`) of it after t seconds:
    # the restoring force that makes its skew's impact on the mid fade (0: it never hedges).
    hedge_half_life_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    # Each market maker quotes around its own view of the latent value: value x (1 + e), e a
    # persistent noise (AR(1), sd `signal_noise_bps`, half-life `signal_half_life_s`).
    signal_noise_bps: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    signal_half_life_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # Each widens its half-spread by `toxicity_weight` x the adverse selection its own fills
    # show (how far the mid moved against each, `markout_horizon_ms` later: the same estimate
    # the dealers learn from), up to `max_widen_bps`; 0 keeps the spread fixed.
    toxicity_weight: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    markout_horizon_ms: PositiveInt = 1000
    max_widen_bps: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    # Each sees the value `signal_delay_ms` late (0: as published), after its noise.
    signal_delay_ms: NonNegInt = 0
    # true: each also learns how far its view moves `flow_horizon_s` after the lit tape's
    # signed flow (remembered with half-life `flow_half_life_s`) and moves its fair value by
    # what the flow predicts (services/flow_learning.py); false keeps quotes on the view alone.
    flow_learning: bool = False
    flow_half_life_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    flow_horizon_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0


class NoiseSpec(Spec, frozen=True):
    traders: NonNegInt = 20
    rate_per_s: Annotated[float, msgspec.Meta(ge=0)] = 20.0
    market_share: Fraction = 0.5
    dark_share: Fraction = 0.15
    sizes: list[PositiveInt] = msgspec.field(
        default_factory=lambda: [100, 100, 200, 300, 500, 25, 60]
    )
    limit_offset_bps: Annotated[float, msgspec.Meta(ge=0)] = 3.0
    limit_lifetime_ms: PositiveInt = 2_000


class InformedSpec(Spec, frozen=True):
    """Traders who see the latent value with noise and take liquidity when the market is off."""

    traders: NonNegInt = 3
    rate_per_s: Annotated[float, msgspec.Meta(ge=0)] = 4.0
    signal_noise_bps: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    threshold_bps: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    sizes: list[PositiveInt] = msgspec.field(default_factory=lambda: [100, 200, 300, 500])
    # "direct": build their own NBBO from the venues' feeds (faster than the SIP's).
    feed: Literal["sip", "direct"] = "direct"


class InstitutionalSpec(Spec, frozen=True):
    """Institutions splitting metaorders into marketable children (services/institutions.py):
    ``P(children >= l) = l^-size_alpha``; 0 traders (the default): none."""

    traders: NonNegInt = 0
    child_qty: PositiveInt = 100
    child_interval_ms: PositiveInt = 500  # mean gap between one parent's children
    pause_ms: PositiveInt = 2_000  # mean pause between one parent and the next
    size_alpha: Annotated[float, msgspec.Meta(gt=1)] = 1.5
    max_children: PositiveInt = 2_000
    # The share of parents whose side follows what the institution knows: at the parent's
    # start it sees the latent value with noise (sd `signal_noise_bps`, drawn per parent) and
    # buys when that view is above the NBBO midpoint, sells when below; the rest, and any
    # parent drawn while the value or a two-sided NBBO is not yet known, take a fair coin
    # (0, the default: every side a fair coin, the draws as before).
    informed_share: Fraction = 0.0
    signal_noise_bps: Annotated[float, msgspec.Meta(ge=0)] = 2.0


class AuctionRespondersSpec(Spec, frozen=True):
    """Market makers that opt in to the auction (open competition): dealers of the same model
    as the wholesalers (``[dealers]``), with an auction channel only."""

    count: NonNegInt = 0
    participation: Fraction = 0.8
    max_qty: PositiveInt = 2_000


class AgentsConfig(Spec, frozen=True):
    name: str = "agents"
    enabled: bool = True  # false: the process runs but no agent trades (seeded-book scenarios)
    market_makers: MarketMakerSpec = MarketMakerSpec()
    noise: NoiseSpec = NoiseSpec()
    informed: InformedSpec = InformedSpec()
    institutional: InstitutionalSpec = InstitutionalSpec()
    auction_responders: AuctionRespondersSpec = AuctionRespondersSpec()


class ValueConfig(Spec, frozen=True):
    """Latent value: mean-reverting (Ornstein-Uhlenbeck in log price) with Poisson jumps."""

    name: str = "value"
    tick_ms: PositiveInt = 100
    vol_bps_per_sqrt_s: Annotated[float, msgspec.Meta(ge=0)] = 8.0
    half_life_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    jump_rate_per_s: Annotated[float, msgspec.Meta(ge=0)] = 0.02
    jump_bps: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    # Stochastic volatility (0: constant): the log-volatility's OU noise per sqrt second, and
    # its half-life; the mean variance stays vol_bps_per_sqrt_s^2 (services/value.py).
    vol_of_vol: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    vol_half_life_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0


class SessionSpec(Spec, frozen=True):
    """An intraday session clock (services/session.py): the lab's day is ``day_s`` seconds long
    (0, the default: no clock, every intensity constant) and repeats; the arrival rates of
    noise traders, informed traders and institutions, lit market makers' half-spreads and the
    latent value's volatility follow a profile that is ``open_*_x`` times its midday level at
    the open and ``close_*_x`` at the close, decaying over ``edge_share`` of the day, scaled so
    that each averages its configured value over the day (docs/MARKET.md, "Session clock")."""

    day_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    edge_share: Annotated[float, msgspec.Meta(gt=0, le=0.5)] = 0.08
    open_volume_x: Annotated[float, msgspec.Meta(gt=0)] = 2.5
    close_volume_x: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    open_spread_x: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    close_spread_x: Annotated[float, msgspec.Meta(gt=0)] = 1.2
    open_vol_x: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    close_vol_x: Annotated[float, msgspec.Meta(gt=0)] = 1.3

    def __post_init__(self) -> None:
        super().__post_init__()
        # the realism metrics place samples on a 1 s grid within the day (orchestration/realism.py)
        if 0 < self.day_s < 1:
            raise ValueError(
                f"session.day_s: {self.day_s} s is shorter than a second (0: no clock)"
            )


class StreamSpec(Spec, frozen=True):
    """The generated retail order stream used by ``flowlab compare``."""

    orders: PositiveInt = 400
    rate_per_s: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    sizes: list[PositiveInt] = msgspec.field(
        default_factory=lambda: [1, 10, 25, 50, 100, 100, 100, 200, 300, 500, 1000, 2000]
    )
    buy_share: Fraction = 0.5
    # Share of retail orders that are informed: their side is chosen when sent, toward the
    # latent value (buy when it is above the NBBO midpoint), so it predicts the next move.
    informed_share: Fraction = 0.0
    market_share: Fraction = 0.7
    marketable_limit_bps: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    # Time in force of generated limit orders: "day" limits rest (on the broker's limit venue)
    # until filled, canceled or the close; "ioc" limits are canceled once their regime's
    # destinations have tried them.
    limit_tif: Literal["day", "ioc"] = "day"
    # The close: this long after the last order is sent, the injector cancels every order
    # still open (resting day limits), as a trading day ends.
    close_after_s: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    terminal_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Burn-in: orders that arrive in the first `burn_in_s` seconds of a replication's stream
    # are routed, filled and reported like any other, but left out of the execution-quality
    # figures (regimes, comparisons, Rule 605/606 tables, economics): the broker's scorecard
    # and the dealers' learning start from an even split and their saved state, and need a
    # moment of flow before they answer the market in front of them. Welfare and market quality
    # cover the whole run (welfare must reconcile with every process's P&L).
    burn_in_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    # The arm mix of the random design: the share of orders assigned to the first regime (the
    # others split the rest evenly); 0 (the default): every regime equally. Sweeping it is the
    # interference check (`flowlab sweep --interference`, docs/EXPERIMENTS.md).
    first_regime_share: Annotated[float, msgspec.Meta(ge=0.0, lt=1.0)] = 0.0


class SecurityConfig(Spec, frozen=True):
    """``[security]``: CURVE keys per run in ``RUN_DIR/keys`` (docs/SECURITY.md)."""

    mode: SecurityMode = SecurityMode.CURVE
    # One key pair per client (``RUN_DIR/keys/<name>.key_secret``); orders and cancels are
    # scoped to the client's key and routing id.
    clients: list[str] = msgspec.field(default_factory=lambda: ["client"])

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.clients:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(
                    f"security.clients: {name!r} is not a plain name (letters, digits, - _)"
                )
            if name in RESERVED_KEY_NAMES or name.startswith("injector-"):
                raise ValueError(f"security.clients: {name!r} is a name the lab keeps for itself")
        if not self.clients:
            raise ValueError("security.clients: at least one client key is required")
        if len(set(self.clients)) != len(self.clients):
            raise ValueError("security.clients: duplicate name")


class RulesConfig(Spec, frozen=True):
    """The regulation the lab runs under (``config/rules.py``): ``reg_nms = "2005"`` (as
    adopted) or ``"2024"`` (the 2024 amendments: $0.001 access-fee cap, round lots by price
    and the round-lot NBBO). A venue fee above the cap is refused when the scenario loads."""

    reg_nms: RegNms = RegNms.ADOPTED_2005


class LimitsConfig(Spec, frozen=True):
    """``[limits]``: backpressure (docs/RELIABILITY.md, "Backpressure"). A service that takes
    orders (broker, SOR, auction, wholesaler) refuses a new one with ``OrderRejected`` field
    ``busy`` when taking it would pass one of these bounds; an order it accepted always ends. A
    run in which any service refused an order as busy, or whose delay queues or lag passed their
    bound, is *overloaded* (``flowlab compare`` exits 1 unless ``--allow-overload``)."""

    # Orders a service is working at once: the broker's orders in routing (a day limit resting
    # on its venue is not counted), the SOR's parents, the auction's open auctions.
    pending: PositiveInt = 5_000
    # ``pending`` per service name, for the services named (e.g. ``sor = 200``).
    services: dict[str, PositiveInt] = {}
    # Messages waiting in one service's send-side delay queues (heartbeat ``queue.depth``).
    queued: PositiveInt = 20_000
    # How far behind a service may fall: an order's age at receipt beyond the smallest age seen
    # from the same sender (so neither the link's modelled latency nor a clock offset counts).
    lag_ms: PositiveInt = 2_000
    # Messages a second one client (a CURVE key that is not one of the lab's processes, all
    # its routing ids together; its routing id under ``[security] mode = "none"``) may
    # send to one service (all its endpoints), with bursts of ``client_burst``; past it a
    # message is refused (field ``rate``), not handled. 0: no limit. The default is above what
    # one client reaches in this lab on a small machine (``flowlab bench``: 13.4k orders/s with
    # 100 in flight), so it stops a runaway client without slowing a benchmark.
    client_rate_per_s: NonNegInt = 20_000
    client_burst: PositiveInt = 20_000

    def pending_for(self, service: str) -> int:
        """The ``pending`` bound of ``service``."""
        return self.services.get(service, self.pending)


# Roles a restart policy may restart, and why the others may not (yet): the reason is the
# scenario error naming a refused service (docs/RELIABILITY.md, "Restart policy").
RESTARTABLE_ROLES = ("wholesaler",)
NOT_RESTARTABLE = {
    "recorder": "the tape would lose what its peers sent while it was down",
    "broker": "it holds every client's order state",
    "sor": "it holds every parent's order state",
    "auction": "it holds every open auction",
    "venue": "a restarted book has lost its resting orders, and the market makers do not rejoin",
    "darkpool": "a restarted pool has lost its resting orders",
    "sip": "its subscribers cannot resynchronise a sequence that starts over",
    "value": "the latent value path cannot resume where it stopped",
    "agents": "its resting orders at the venues would be orphaned",
}


class RestartConfig(Spec, frozen=True):
    """``[restart]``: the restart policy (docs/RELIABILITY.md). A service named in ``services``
    that exits, or stalls (then it is killed first), while its lab runs is started again, up to
    ``max_restarts`` times, and rejoins from its snapshots instead of failing the lab: its peers
    are told it is down (they reroute what was outstanding there) and then that it is back. The
    run is then ``recovered``, not ``aborted``. Only wholesalers may be named
    (``RESTARTABLE_ROLES``)."""

    services: list[str] = []
    max_restarts: PositiveInt = 1
    # how long a restarted process may take to be ready again before the lab fails
    ready_timeout_s: PositiveFloat = 20.0


class Scenario(Spec, frozen=True, kw_only=True):
    name: str
    seed: int = 1
    description: str = ""
    symbols: list[SymbolSpec]
    venues: list[VenueSpec]
    darkpools: list[DarkPoolSpec] = []
    wholesalers: list[WholesalerSpec] = []
    auction: AuctionConfig = AuctionConfig()
    broker: BrokerConfig = BrokerConfig()
    sor: SorConfig = SorConfig()
    agents: AgentsConfig = AgentsConfig()
    dealers: DealersConfig = DealersConfig()
    value: ValueConfig = ValueConfig()
    session: SessionSpec = SessionSpec()
    latency: LatencyConfig = LatencyConfig()
    stream: StreamSpec = StreamSpec()
    rules: RulesConfig = RulesConfig()
    recorder: str = "recorder"
    sip: str = "sip"
    sip_latency_us: NonNegInt = 0
    security: SecurityConfig = SecurityConfig()
    limits: LimitsConfig = LimitsConfig()
    restart: RestartConfig = RestartConfig()

    def __post_init__(self) -> None:
        super().__post_init__()
        services = {self.recorder, self.sip, self.value.name, self.auction.name, self.sor.name}
        services |= {self.broker.name, self.agents.name}
        services |= {v.name for v in self.venues} | {d.name for d in self.darkpools}
        services |= {w.name for w in self.wholesalers}
        for name in self.limits.services:
            if name not in services:
                raise ValueError(
                    f"limits.services: {name!r} is not a service of the scenario "
                    f"(services: {', '.join(sorted(services))})"
                )
        self._check_restart()
        for name in self.security.clients:
            if name in services:
                raise ValueError(f"security.clients: {name!r} is the name of a service")
        if not self.symbols:
            raise ValueError("symbols: at least one symbol is required")
        if not self.venues:
            raise ValueError("venues: at least one lit venue is required")
        names = [s.symbol for s in self.symbols]
        if len(set(names)) != len(names):
            raise ValueError("symbols: duplicate symbol")
        for regime in self.broker.regimes:
            if regime not in REGIMES:
                raise ValueError(
                    f"broker.regimes: unknown regime {regime!r} (known: {', '.join(REGIMES)})"
                )
        venue_names = [v.name for v in self.venues]
        if self.broker.limit_venue and self.broker.limit_venue not in venue_names:
            raise ValueError(
                f"broker.limit_venue: {self.broker.limit_venue!r} is not a lit venue "
                f"(venues: {', '.join(venue_names)})"
            )
        if not self.dealers.markups or self.dealers.start_markup not in self.dealers.markups:
            raise ValueError(
                f"dealers.start_markup: {self.dealers.start_markup} is not one of "
                f"dealers.markups ({self.dealers.markups})"
            )
        delay = self.broker.scorecard_window * self.broker.scorecard_period_s
        scored = self.broker.pfof_routing is PfofRouting.SCORECARD
        if self.wholesalers and scored and self.dealers.learning_period_s <= delay:
            raise ValueError(
                f"dealers.learning_period_s: {self.dealers.learning_period_s} s must exceed the "
                f"broker's scorecard response ({self.broker.scorecard_window} x "
                f"{self.broker.scorecard_period_s} s): a period's reward counts only after it"
            )
        wholesaler_names = [w.name for w in self.wholesalers]
        if self.wholesalers and self.broker.scorecard_floor * len(self.wholesalers) > 1.0:
            raise ValueError(
                f"broker.scorecard_floor: {self.broker.scorecard_floor} x "
                f"{len(self.wholesalers)} wholesalers leaves no flow to split"
            )
        if len(set(wholesaler_names)) != len(wholesaler_names):
            raise ValueError("wholesalers: duplicate name")
        for s in self.symbols:
            if micros(s.price) <= 0:
                raise ValueError(f"symbols: price of {s.symbol} must be positive")
        self._check_fee_caps()
        for kind, specs in (("venues", self.venues), ("darkpools", self.darkpools)):
            for spec in specs:
                for level in spec.book:
                    if level.symbol != "*" and level.symbol not in names:
                        raise ValueError(
                            f"{kind}.{spec.name}.book: unknown symbol {level.symbol!r}"
                        )
                    if micros(level.price) <= 0:
                        raise ValueError(f"{kind}.{spec.name}.book: price must be positive")

    def _check_restart(self) -> None:
        """``restart.services``: services of the scenario whose role can rejoin."""
        roles = {w.name: "wholesaler" for w in self.wholesalers}
        roles |= {v.name: "venue" for v in self.venues} | {
            d.name: "darkpool" for d in self.darkpools
        }
        roles |= {self.recorder: "recorder", self.sip: "sip", self.value.name: "value"}
        roles |= {self.auction.name: "auction", self.sor.name: "sor", self.broker.name: "broker"}
        roles |= {self.agents.name: "agents"}
        for name in self.restart.services:
            role = roles.get(name)
            if role is None:
                raise ValueError(
                    f"restart.services: {name!r} is not a service of the scenario "
                    f"(services: {', '.join(sorted(roles))})"
                )
            if role not in RESTARTABLE_ROLES:
                raise ValueError(
                    f"restart.services: {name!r} is a {role}, which cannot be restarted: "
                    f"{NOT_RESTARTABLE[role]} (restartable: {', '.join(RESTARTABLE_ROLES)})"
                )
        if len(set(self.restart.services)) != len(self.restart.services):
            raise ValueError("restart.services: duplicate name")

    def _check_fee_caps(self) -> None:
        """Reg NMS Rule 610(c): a lit venue's fee to take a protected quotation, and (the lab's
        reading of proposed Rule 615) the auction's fees, at most the rule set's cap for the
        lowest-priced symbol."""
        rules = self.rules.reg_nms
        cap = min(access_fee_cap(rules, micros(s.price)) for s in self.symbols)
        fees = [(f"venues.{v.name}.taker_fee", v.taker_fee) for v in self.venues]
        fees += [(f"auction.{k}", getattr(self.auction, k)) for k in ("order_fee", "responder_fee")]
        for key, fee in fees:
            if micros(fee) > cap:
                raise ValueError(
                    f"{key}: {format_price(micros(fee))} per share is above the access-fee cap "
                    f"of {format_price(cap)} under rules.reg_nms = {str(rules)!r} (Rule 610(c))"
                )

    def tick(self, symbol: str) -> int:
        """The Rule 612 increment of ``symbol`` under the rule set, at its reference price
        (a half-penny for a tick-constrained symbol under the 2024 rules)."""
        spec = next(s for s in self.symbols if s.symbol == symbol)
        return _tick(self.rules.reg_nms, spec.price, spec.tick_constrained)

    def round_lot(self, symbol: str) -> int:
        """Shares in a round lot of ``symbol`` under the rule set (at its reference price)."""
        price = next(s.price for s in self.symbols if s.symbol == symbol)
        return _round_lot(self.rules.reg_nms, price)

    @property
    def symbol_names(self) -> list[str]:
        return [s.symbol for s in self.symbols]

    @property
    def limit_venue(self) -> str:
        """The lit venue where the broker rests day limit orders."""
        return self.broker.limit_venue or self.venues[0].name


def _error(source: str, exc: Exception) -> ScenarioError:
    return ScenarioError(f"cannot load scenario {source}: {exc}")


@functools.lru_cache(maxsize=1024)
def _tick(rules: RegNms, price: str, constrained: bool) -> int:
    # cached: services ask for it per order and per quote, and parsing the price is the cost
    return quote_increment(rules, micros(price), constrained)


@functools.lru_cache(maxsize=1024)
def _round_lot(rules: RegNms, price: str) -> int:
    return round_lot(rules, micros(price))


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario TOML (the built-in default when ``path`` is None)."""
    source = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        data = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _error(str(source), exc) from exc
    scenario = scenario_from_dict(data, str(source))
    warm = scenario.dealers.warm_start
    if warm and not Path(warm).is_absolute() and source.resolve().parent != PACKAGE_SCENARIOS:
        # Relative to the scenario file, so a scenario and its warm start travel together (a
        # built-in scenario's stays relative: it is found in the installed package, wherever
        # that is — see ``warm_start_path``).
        dealers = msgspec.structs.replace(
            scenario.dealers, warm_start=str(source.resolve().parent / warm)
        )
        scenario = msgspec.structs.replace(scenario, dealers=dealers)
    if warm and not warm_start_path(scenario.dealers.warm_start).is_file():
        raise ScenarioError(
            f"cannot load scenario {source}: dealers.warm_start: no such file "
            f"{warm_start_path(scenario.dealers.warm_start)} (make it with `flowlab calibrate`)"
        )
    return scenario


def warm_start_path(warm_start: str) -> Path:
    """Where a warm-start file is: an absolute path as given; a relative one (a built-in
    scenario's) next to the built-in scenarios of the installed package."""
    path = Path(warm_start)
    return path if path.is_absolute() else PACKAGE_SCENARIOS / path


def scenario_from_dict(data: dict[str, Any], source: str = "<dict>") -> Scenario:
    try:
        return msgspec.convert(data, Scenario)
    except (msgspec.ValidationError, ValueError) as exc:
        raise _error(source, exc) from exc
