"""Which Reg NMS rule set the lab runs under, and the numbers each one sets (pure).

``[rules] reg_nms`` picks one:

- ``"2005"``: Regulation NMS as adopted in 2005 (Release No. 34-51808): access fees for
  protected quotations capped at $0.003 per share (Rule 610(c)) for stocks priced at $1.00 or
  more; the lab's NBBO takes each venue's top of book whatever its size.
- ``"2024"``: the amendments of Release No. 34-101070 (Sept 2024): the access-fee cap falls to
  $0.001 per share for stocks at $1.00 or more (0.1% of the price below; Rule 610(c) as
  amended), and the round-lot definition of the 2020 Market Data Infrastructure rule (Release
  No. 34-90610, Rule 600(b)), whose implementation the 2024 release accelerated, applies:
  100 shares up to $250.00, 40 up to $1,000.00, 10 up to $10,000.00, 1 above; a quotation
  smaller than a round lot is an odd-lot quotation, outside the NBBO and not protected.
  A tick-constrained stock (time-weighted average quoted spread of $0.015 or less over the
  evaluation period, as the primary listing exchange computes it: the scenario states it per
  symbol, ``[[symbols]] tick_constrained``) is quoted and entered in $0.005 (Rule 612 as
  amended); the others keep $0.01.
"""

from __future__ import annotations

import enum

from protocol.money import CENT, MICROS_PER_DOLLAR, tick_size


class RegNms(enum.StrEnum):
    """The rule set (``[rules] reg_nms``)."""

    ADOPTED_2005 = "2005"
    AMENDED_2024 = "2024"


# Rule 610(c): the cap per share for stocks at or above $1.00, and the share of the price below.
_FEE_CAP = {RegNms.ADOPTED_2005: 3_000, RegNms.AMENDED_2024: 1_000}
_FEE_CAP_BELOW_1_BP = {RegNms.ADOPTED_2005: 30, RegNms.AMENDED_2024: 10}  # 0.3% / 0.1%
# Round lots by price (MDI rule, Rule 600(b) "round lot"): (highest price, shares).
_ROUND_LOTS = (
    (250 * MICROS_PER_DOLLAR, 100),
    (1_000 * MICROS_PER_DOLLAR, 40),
    (10_000 * MICROS_PER_DOLLAR, 10),
)
# The 2024 release: a stock is tick-constrained when its time-weighted average quoted spread
# over the evaluation period is $0.015 or less; it then quotes in $0.005.
TICK_CONSTRAINED_SPREAD = 15 * CENT // 10
HALF_PENNY = CENT // 2


def access_fee_cap(rules: RegNms, price_micros: int) -> int:
    """The most a venue may charge per share to access a protected quotation, micro-dollars."""
    if price_micros >= MICROS_PER_DOLLAR:
        return _FEE_CAP[rules]
    return price_micros * _FEE_CAP_BELOW_1_BP[rules] // 10_000


def round_lot(rules: RegNms, price_micros: int) -> int:
    """Shares in a round lot at ``price_micros``: 2024, by price tier; 2005, one share (the
    lab's 2005 NBBO admits every displayed size; see the module docstring)."""
    if rules is RegNms.ADOPTED_2005:
        return 1
    for highest, shares in _ROUND_LOTS:
        if price_micros <= highest:
            return shares
    return 1


def tick_constrained(avg_quoted_spread_micros: int) -> bool:
    """The 2024 release's test on the time-weighted average quoted spread."""
    return avg_quoted_spread_micros <= TICK_CONSTRAINED_SPREAD


def quote_increment(rules: RegNms, price_micros: int, constrained: bool) -> int:
    """The Rule 612 minimum increment for quotes and orders: $0.005 for a tick-constrained
    stock at $1.00 or more under the 2024 rules, else the 2005 grid (``tick_size``)."""
    if rules is RegNms.AMENDED_2024 and constrained and price_micros >= MICROS_PER_DOLLAR:
        return HALF_PENNY
    return tick_size(price_micros)
