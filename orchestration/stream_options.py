"""Options of the stream generator, and the same options as command-line flags.

Documented in docs/STREAMS.md; ``orchestration.streams.generate_stream`` uses them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from config.scenario import Scenario

SizeModel = Literal["fixed", "lognormal", "round-lot"]
SIZE_MODELS: tuple[str, ...] = ("fixed", "lognormal", "round-lot")
ROUND_LOTS = (100, 200, 300, 500, 1000)


class StreamError(ValueError):
    """A stream that cannot be injected; names the row and column."""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Generator options; ``None`` takes the scenario's ``[stream]`` value.

    ``orders`` or ``duration_s`` (Poisson arrivals until that time) sets the length. The
    order-type mix is ``market_share`` / ``marketable_limit_share`` / the rest non-marketable
    (limits ``nonmarketable_bps`` away from the far touch). Sizes: ``fixed`` draws from
    ``sizes``; ``lognormal`` has median ``size_median`` and log-sd ``size_sigma`` (capped at
    ``size_max``); ``round-lot`` draws round lots (100-1,000) with probability
    ``round_lot_share`` and odd lots (1-99) otherwise.
    """

    orders: int | None = None
    duration_s: float | None = None
    rate_per_s: float | None = None
    symbols: tuple[str, ...] | None = None
    buy_share: float | None = None
    informed_share: float | None = None
    market_share: float | None = None
    marketable_limit_share: float | None = None
    marketable_limit_bps: float | None = None
    nonmarketable_bps: float = 10.0
    limit_tif: Literal["day", "ioc"] | None = None
    size_model: SizeModel = "fixed"
    sizes: tuple[int, ...] | None = None
    size_median: float = 200.0
    size_sigma: float = 1.0
    size_max: int = 20_000
    round_lot_share: float = 0.8

    def check(self, scenario: Scenario) -> None:
        """Refuse impossible options, naming the option."""
        problems = {
            "orders": self.orders is not None and self.orders <= 0,
            "duration_s": self.duration_s is not None and self.duration_s <= 0,
            "rate_per_s": self.rate_per_s is not None and self.rate_per_s <= 0,
            "size_model": self.size_model not in SIZE_MODELS,
            "size_median": self.size_median < 1,
            "size_sigma": self.size_sigma < 0,
            "size_max": self.size_max < 1,
            "nonmarketable_bps": not 0 <= self.nonmarketable_bps < 10_000,
            "limit_tif": self.limit_tif not in (None, "day", "ioc"),
            "sizes": self.sizes is not None and (not self.sizes or min(self.sizes) <= 0),
        }
        for name in (
            "buy_share",
            "informed_share",
            "market_share",
            "marketable_limit_share",
            "round_lot_share",
        ):
            value = getattr(self, name)
            problems[name] = value is not None and not 0.0 <= value <= 1.0
        mix = (self.market_share or 0.0) + (self.marketable_limit_share or 0.0)
        problems["marketable_limit_share"] |= self.marketable_limit_share is not None and mix > 1.0
        unknown = sorted(set(self.symbols or ()) - set(scenario.symbol_names))
        problems["symbols"] = bool(unknown) or (self.symbols is not None and not self.symbols)
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            raise StreamError(f"stream options: invalid {', '.join(bad)} ({self._describe(bad)})")

    def _describe(self, names: list[str]) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in names)


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator options as command-line flags (``flowlab compare`` and ``inject``)."""
    add = parser.add_argument
    add(
        "--duration",
        type=float,
        default=None,
        help="stream length in seconds, instead of --orders (default: the scenario's [stream])",
    )
    add("--symbols", default=None, help="comma-separated symbols to trade (default: all)")
    add(
        "--buy-share",
        type=float,
        default=None,
        help="share of buy orders, 0-1 (default: the scenario's [stream])",
    )
    add(
        "--informed-share",
        type=float,
        default=None,
        help="share of informed orders, 0-1: side toward the latent value, set when sent "
        "(default: the scenario's [stream])",
    )
    add(
        "--market-share",
        type=float,
        default=None,
        help="share of market orders, 0-1 (default: the scenario's [stream])",
    )
    add(
        "--marketable-limit-share",
        type=float,
        default=None,
        help="share of marketable limits; the rest of the stream is non-marketable limits "
        "(default: the scenario's [stream])",
    )
    add(
        "--nonmarketable-bps",
        type=float,
        default=10.0,
        help="non-marketable limits: bps away from the far touch",
    )
    add(
        "--limit-tif",
        choices=["day", "ioc"],
        default=None,
        help="limit orders: day (rest until filled, canceled or the close) or ioc "
        "(default: the scenario's [stream])",
    )
    add(
        "--size-model",
        choices=SIZE_MODELS,
        default="fixed",
        help="order sizes: fixed set, lognormal, round-lot",
    )
    add(
        "--sizes",
        default=None,
        help="fixed set: comma-separated sizes to draw from (default: the scenario's [stream])",
    )
    add("--size-median", type=float, default=200.0, help="lognormal: median shares")
    add("--size-sigma", type=float, default=1.0, help="lognormal: sd of log size")
    add("--round-lot-share", type=float, default=0.8, help="round-lot: share of round lots")


def options_from_args(args: argparse.Namespace) -> StreamOptions:
    """``StreamOptions`` from parsed flags (absent flags keep the scenario's values)."""
    get: Callable[[str], Any] = vars(args).get
    symbols = get("symbols")
    sizes = get("sizes")
    try:
        size_set = tuple(int(s) for s in sizes.split(",") if s.strip()) if sizes else None
    except ValueError:
        raise StreamError(f"--sizes: not a list of integers: {sizes!r}") from None
    return StreamOptions(
        orders=get("orders"),
        duration_s=get("duration"),
        rate_per_s=get("rate"),
        symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else None,
        buy_share=get("buy_share"),
        informed_share=get("informed_share"),
        market_share=get("market_share"),
        marketable_limit_share=get("marketable_limit_share"),
        nonmarketable_bps=get("nonmarketable_bps") or 10.0,
        limit_tif=get("limit_tif"),
        size_model=get("size_model") or "fixed",
        sizes=size_set,
        size_median=get("size_median") or 200.0,
        size_sigma=get("size_sigma") if get("size_sigma") is not None else 1.0,
        round_lot_share=get("round_lot_share") if get("round_lot_share") is not None else 0.8,
    )
