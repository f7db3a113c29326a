"""Integer micro-dollar helpers: where prices cross between floats, strings and the wire."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import TypeVar

from protocol.common import Side

# An integer, or an integer array (numpy): the improvement formula is written once for both.
N = TypeVar("N")

MICROS_PER_DOLLAR = 1_000_000
CENT = 10_000


def to_micros(dollars: str | int | float | Decimal) -> int:
    """Convert dollars to integer micro-dollars, exactly for strings and Decimals.

    Floats are converted through their shortest repr, so ``to_micros(100.0085) == 100_008_500``.
    Raises ``ValueError`` for values that are not finite numbers or need sub-micro precision.
    """
    try:
        value = Decimal(repr(dollars)) if isinstance(dollars, float) else Decimal(dollars)
    except (InvalidOperation, ValueError) as e:
        raise ValueError(f"cannot convert {dollars!r} to micro-dollars: not a number") from e
    if not value.is_finite():
        raise ValueError(f"cannot convert {dollars!r} to micro-dollars: not finite")
    # Exact product: enough precision for every digit, and any rounding is trapped, so huge or
    # tiny values are rejected instead of being silently rounded by the default 28-digit context.
    digits = len(value.as_tuple().digits)
    exact = Context(prec=digits + 7, traps=[InvalidOperation, Overflow, Inexact])
    try:
        micros = exact.multiply(value, MICROS_PER_DOLLAR)
    except Overflow as e:
        raise ValueError(f"cannot convert {dollars!r} to micro-dollars: too large") from e
    except Inexact as e:
        raise ValueError(
            f"cannot convert {dollars!r} to micro-dollars: finer than $0.000001"
        ) from e
    if micros != micros.to_integral_value():
        raise ValueError(f"cannot convert {dollars!r} to micro-dollars: finer than $0.000001")
    return int(micros)


def round_to_micros(dollars: float) -> int:
    """Nearest micro-dollar (half-even) for computed, inexact values such as model outputs."""
    return int(Decimal(repr(float(dollars))).scaleb(6).to_integral_value(ROUND_HALF_EVEN))


def to_dollars(micros: int) -> float:
    """Float dollars for reports and plots only; never put the result back on the wire."""
    return micros / MICROS_PER_DOLLAR


def format_price(micros: int, places: int | None = None) -> str:
    """``100008500 -> '$100.0085'``; trailing zeros trimmed to at least cents unless ``places``."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_DOLLAR)
    digits = f"{frac:06d}"
    if places is None:
        digits = digits.rstrip("0")
        digits = digits.ljust(2, "0")
    else:
        digits = digits[:places].ljust(places, "0")
    return f"{sign}${whole:,}.{digits}" if digits else f"{sign}${whole:,}"


def round_to_tick(micros: int, tick: int, side_up: bool) -> int:
    """Round a price onto a tick grid, up (``side_up``) or down."""
    q, r = divmod(micros, tick)
    if r == 0:
        return micros
    return (q + 1) * tick if side_up else q * tick


def tick_size(price_micros: int) -> int:
    """Reg NMS Rule 612 minimum increment: $0.01 at or above $1.00, $0.0001 below."""
    return CENT if price_micros >= MICROS_PER_DOLLAR else 100


def round_div(numerator: int, denominator: int) -> int | None:
    """``numerator / denominator`` rounded half-even, exactly; ``None`` for a zero denominator."""
    if denominator == 0:
        return None
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def signed_improvement(sign: N, price: N, reference: N) -> N:
    """The one price-improvement formula: ``sign * (reference - price)``.

    ``sign`` is the side's sign (``Side.sign``: +1 buy, -1 sell; or an array of them for
    vectorised tables), ``reference`` the price the execution is compared with (for improvement
    over the NBBO: the ask for a buy, the bid for a sell). Positive = better for the customer.
    """
    return sign * (reference - price)  # type: ignore[operator,no-any-return]


def price_improvement(side: Side, price: int, reference: int) -> int:
    """Improvement per share of a ``side`` execution at ``price`` over ``reference``.

    Positive = better for the customer: a buy below ``reference``, a sell above it.
    """
    return signed_improvement(side.sign, price, reference)


def quote_improvement(side: Side, price: int, bid: int, ask: int) -> int:
    """Price improvement over a quote: against its ask for a buy, its bid for a sell."""
    return price_improvement(side, price, ask if side is Side.BUY else bid)


def trades_through(side: Side, price: int, bid: int | None, ask: int | None) -> bool:
    """True if executing an order on ``side`` at ``price`` trades through a protected quote.

    Reg NMS Rule 611(a) (order protection): no execution at a price inferior to a protected
    quotation, i.e. a buy above the national best offer or a sell below the national best bid.
    Trading *at* the quote is not a trade-through; a missing side protects nothing.
    """
    if side is Side.BUY:
        return ask is not None and price > ask
    return bid is not None and price < bid


def outside_quote(price: int, bid: int | None, ask: int | None) -> bool:
    """True if a trade at ``price`` trades through either side of the quote: above the offer
    (its buyer paid more than a protected offer) or below the bid (its seller took less than a
    protected bid). Reg NMS Rule 611(a) protects both, whoever initiated the trade."""
    return trades_through(Side.BUY, price, bid, ask) or trades_through(Side.SELL, price, bid, ask)
