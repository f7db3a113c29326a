"""Options of the real-arrivals converter, and the same options as command-line flags.

Light (no pandas): ``orchestration.cli`` builds its parsers from here. The conversion itself is
``orchestration.arrivals``; docs/STREAMS.md, "Real arrivals", documents both.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from config.scenario import Scenario
from orchestration.stream_options import StreamError

Events = Literal["executions", "submissions", "both"]
EVENTS: tuple[str, ...] = ("executions", "submissions", "both")
OFFSET_BOUND_BPS = 10_000.0  # the stream format's bound on limit_offset_bps (exclusive)


class ArrivalError(StreamError):
    """Real data or options that cannot become a stream (names the file, line and column, or
    the option)."""


@dataclass(frozen=True, slots=True)
class ArrivalOptions:
    """How real events become stream rows (``orchestration.arrivals`` explains each)."""

    events: Events = "executions"
    symbol_map: tuple[tuple[str, str], ...] = ()
    window_s: tuple[float, float | None] = (0.0, None)
    speed: float = 1.0
    size_scale: float = 1.0
    max_qty: int | None = None
    max_away_bps: float = OFFSET_BOUND_BPS
    limit_tif: Literal["day", "ioc"] = "day"
    id_prefix: str = "A"

    def check(self, scenario: Scenario) -> None:
        """Refuse impossible options, naming the option."""
        start, end = self.window_s
        problems = {
            "events": self.events not in EVENTS,
            "window_s": start < 0 or (end is not None and end <= start),
            "speed": not self.speed > 0,
            "size_scale": not self.size_scale > 0,
            "max_qty": self.max_qty is not None and self.max_qty < 1,
            "max_away_bps": not 0 < self.max_away_bps <= OFFSET_BOUND_BPS,
            "limit_tif": self.limit_tif not in ("day", "ioc"),
            "symbol_map": any(lab not in scenario.symbol_names for _, lab in self.symbol_map),
        }
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            known = ", ".join(scenario.symbol_names)
            hint = f"; the scenario's symbols: {known}" if "symbol_map" in bad else ""
            raise ArrivalError(f"arrival options: invalid {', '.join(bad)} ({values}){hint}")


def parse_symbol_map(text: str | None) -> tuple[tuple[str, str], ...]:
    """``AAPL=ACME,MSFT=BOLT`` as pairs (``--symbol-map``)."""
    pairs = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        real, equals, lab = (s.strip() for s in part.partition("="))
        if not equals or not real or not lab:
            raise ArrivalError(f"--symbol-map: expected REAL=LAB pairs, got {part!r}")
        pairs.append((real, lab))
    return tuple(pairs)


def parse_window(text: str) -> tuple[float, float | None]:
    """``START,END`` (seconds; END may be left empty: to the data's end), for ``--window``."""
    start, comma, end = text.partition(",")
    try:
        return float(start or 0.0), float(end) if comma and end.strip() else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START,END in seconds, got {text!r}") from None


def add_arrival_arguments(parser: argparse.ArgumentParser, *, limit_tif: bool) -> None:
    """The real-data source and the converter's options as flags (``flowlab stream``, and
    ``inject`` and ``compare`` instead of ``--file``); ``limit_tif``: add ``--limit-tif`` too
    (``inject`` and ``compare`` have the generator's)."""
    add = parser.add_argument
    add(
        "--lobster",
        nargs=2,
        metavar=("MESSAGE", "ORDERBOOK"),
        default=None,
        help="real arrivals from a LOBSTER message / order-book pair (docs/STREAMS.md, "
        '"Real arrivals"; default: none)',
    )
    add(
        "--taq",
        nargs=2,
        metavar=("TRADES", "QUOTES"),
        default=None,
        help="real arrivals from a trades CSV and a quotes CSV, each trade an order (default: "
        "none)",
    )
    add("--ticker", default=None, help="LOBSTER: the real ticker (default: from the file name)")
    add(
        "--events",
        choices=EVENTS,
        default="executions",
        help="real data: which events are arrivals: executions (market orders on the "
        "aggressor's side), submissions (LOBSTER limit orders, priced in bps from the far "
        "touch) or both",
    )
    add(
        "--symbol-map",
        metavar="REAL=LAB,...",
        default=None,
        help="real data: REAL=LAB,... (only those kept; default: the scenario's own names "
        "kept, others dealt the scenario's symbols in turn)",
    )
    add(
        "--window",
        metavar="START,END",
        type=parse_window,
        default=None,
        help="real data: START,END in seconds after the data's first event (END empty: to "
        "the end; default: all)",
    )
    add(
        "--speed",
        type=float,
        default=1.0,
        metavar="K",
        help="real data: replay this many times as fast",
    )
    add("--size-scale", type=float, default=1.0, metavar="X", help="real data: multiply every size")
    add(
        "--max-qty",
        type=int,
        default=None,
        metavar="N",
        help="real data: cap on a size (default: none)",
    )
    add(
        "--max-away-bps",
        type=float,
        default=OFFSET_BOUND_BPS,
        help="real data: leave out submissions priced further than this from the far touch",
    )
    if limit_tif:
        add(
            "--limit-tif",
            choices=["day", "ioc"],
            default=None,
            help="the limit orders' time in force (default: the scenario's [stream])",
        )


def arrival_options_from_args(
    args: argparse.Namespace, scenario: Scenario, id_prefix: str
) -> ArrivalOptions:
    """``ArrivalOptions`` from parsed flags (``--limit-tif`` absent: the scenario's)."""
    get: Callable[[str], Any] = vars(args).get
    return ArrivalOptions(
        events=get("events") or "executions",
        symbol_map=parse_symbol_map(get("symbol_map")),
        window_s=get("window") or (0.0, None),
        speed=get("speed") if get("speed") is not None else 1.0,
        size_scale=get("size_scale") if get("size_scale") is not None else 1.0,
        max_qty=get("max_qty"),
        max_away_bps=get("max_away_bps") or OFFSET_BOUND_BPS,
        limit_tif=get("limit_tif") or scenario.stream.limit_tif,
        id_prefix=id_prefix,
    )
