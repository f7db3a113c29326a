"""Who gained what against the latent value: every party's gain per regime, summing to zero.

Every execution is marked at the latent value v of its symbol at execution (the last ``values``
row at or before ``exec_ns``). For a fill of q shares at price p the buyer gains (v - p)·q and
the seller (p - v)·q; a row's ``fee`` is paid by the row's owner to the executing service
(negative: a rebate the service pays); ``pfof`` is paid to the broker by the retail order's
counterparty; a ``commission`` (``fills``) is paid by the investor to the broker. For retail
rows the broker is the one paying the fee: the investor pays only the price and commissions.
Every transfer has a payer and a receiver, so each execution, each regime, and the block of
executions outside the regimes (background trading, wholesaler hedges) sums to exactly zero in
integer micro-dollars (checked: a regime that does not raises).

Executions come from ``destination_fills`` as the executing service reported them; the rows of
routers (``routes.router``: the SOR's reports to the broker duplicate the venues' fills) are left
out. Venue and dark-pool executions are maker/taker pairs sharing an ``exec_id`` (each row's
counterparty is the other row); auction executions pair the retail row with the winning
response (``<wholesaler>-r<auction id>`` or ``amm-<k>-<auction id>``); a wholesaler's
internalised fill is one row, the retail side, and the wholesaler (the service) is its
counterparty; any other lone row traded against a venue's seeded book (resting orders owned by
nobody, party ``seed@<venue>``). An execution belongs to the regime of its retail order (client
order id = the child id up to ``~``); when both sides are retail, to the taker's.

Reconciliation with the liquidity providers' own books: a dealer's process P&L (``pnl`` total,
marked to its last mid at stop) is, trade by trade, signed qty x (final mid - price) - fees -
PFOF. Its welfare is signed qty x (v - price) - fees - PFOF, so welfare + Σ signed qty x
(final mid - v) = P&L, where the final mid is the last usable NBBO mid of the ``nbbo`` table.
What is left (the residual) is the end position x the difference between the mark the process
used and that mid (it reads its own NBBO view when it stops), plus half a micro-dollar of
rounding per symbol.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from orchestration.report_labels import words
from orchestration.report_render import Block, Column, Heading, Table, Text
from protocol.money import MICROS_PER_DOLLAR
from services.institutions import parent_of

OUTSIDE = "outside"  # the "regime" of executions with no retail side
RETAIL = "retail"
TYPE_ORDER = (
    "retail",
    "broker",
    "wholesaler",
    "auction_market_maker",
    "lit_market_maker",
    "venue",
    "noise",
    "informed",
    "institutional",
    "seeded_book",
    "unknown",
)
SEEDED = "seeded_book"
ROLE_TYPES = {
    "wholesaler": "wholesaler",
    "auction-responder": "auction_market_maker",
    "broker": "broker",
}
RECONCILED_ROLES = tuple(ROLE_TYPES)
WELFARE_COLUMNS = ("regime", "party", "party_type", "gain_usd", "gain_micros", "trades", "shares")
RECONCILIATION_COLUMNS = (
    "party",
    "party_type",
    "welfare_usd",
    "revaluation_usd",
    "expected_pnl_usd",
    "pnl_total_usd",
    "residual_usd",
    "trades",
    "end_position_shares",
    "tolerance_usd",
)
STOP_WINDOW_NS = 250_000_000  # the tape's last 250 ms: the lab stopping (see reconcile)
_LIT_MM = re.compile(r"mm\.(?P<venue>[^.]+)\..+-\d+")
_HEDGE = re.compile(r"(?P<name>.+)-h\d+")
_LEG_COLUMNS = (
    "regime",
    "execution",
    "party",
    "party_type",
    "gain",
    "symbol",
    "signed_qty",
    "value",
    "shares",
)


def welfare_tables(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(welfare, reconciliation)`` for a run's tables (pooled runs: per run, then summed).

    Empty frames (with their columns) when the run has no ``destination_fills`` or ``values``.
    """
    if any(tables.get(name) is None for name in ("destination_fills", "values")):
        return _empty(WELFARE_COLUMNS), _empty(RECONCILIATION_COLUMNS)
    legs, reconciliation = [], []
    for run, own in _per_run(tables):
        run_legs = welfare_legs(own)
        rows = reconcile(run_legs, own.get("pnl"), final_two_mids(own), stop_ranges(own))
        if run is not None:
            run_legs.insert(0, "run", run)
            rows.insert(0, "run", run)
        legs.append(run_legs)
        reconciliation.append(rows)
    return welfare_table(pd.concat(legs, ignore_index=True)), pd.concat(
        reconciliation, ignore_index=True
    )


def welfare_legs(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every transfer of one run as a leg: (regime, execution, party, party_type, gain in
    micro-dollars; for trade legs the symbol, the party's signed qty, the value at execution)."""
    orders, dfills = tables["orders"], tables["destination_fills"]
    regime_of = dict(zip(orders["order_id"], orders["regime"], strict=True))
    routers = set(tables["routes"]["router"]) if tables.get("routes") is not None else {"sor"}
    roles = _roles(tables.get("pnl"))
    broker = next((n for n, t in roles.items() if t == "broker"), "broker")
    rows = dfills[~dfills["service"].isin(routers)].reset_index(drop=True)
    internalizers = set(rows.loc[rows["liquidity"] == "internalized", "service"])
    responders = _responders(tables.get("auctions"))

    def dealer_type(name: str) -> str:
        if name in roles:
            return roles[name]
        if name in internalizers:
            return "wholesaler"
        return "auction_market_maker" if name.startswith("amm-") else "unknown"

    n = len(rows)
    oid = rows["order_id"].astype(str).to_numpy()
    service = rows["service"].astype(str).to_numpy()
    liquidity = rows["liquidity"].astype(str).to_numpy()
    owner, owner_type, regime = np.empty(n, object), np.empty(n, object), np.full(n, "", object)
    for i in range(n):
        owner[i], owner_type[i], regime[i] = _owner(
            oid[i], liquidity[i], regime_of, responders, dealer_type
        )
    retail = regime != ""
    qty = rows["qty"].to_numpy("int64")
    price = rows["price"].to_numpy("int64")
    fee = rows["fee"].to_numpy("int64")
    pfof = rows["pfof"].to_numpy("int64")
    symbol = rows["symbol"].astype(str).to_numpy()
    sign = np.where(rows["side"].to_numpy() == "buy", 1, -1)
    value = value_at(tables["values"], symbol, rows["exec_ns"].to_numpy("int64"))
    key = (rows["service"].astype(str) + "|" + rows["exec_id"].astype(str)).to_numpy()
    partner = _partners(key, sign, qty, price, symbol)
    paired = partner >= 0
    other = np.where(paired, partner, 0)
    # The execution's regime: its retail side's (both retail: the taker's, else the first row's).
    own = np.where(retail, regime, "")
    theirs = np.where(paired, own[other], "")
    mine_first = (liquidity != "maker") & ((liquidity[other] == "maker") | (np.arange(n) < other))
    use_own = (own != "") & ((theirs == "") | ~paired | mine_first)
    exec_regime = np.where(use_own, own, np.where(theirs != "", theirs, OUTSIDE))
    # A lone row's counterparty: the internalising wholesaler (the service), else a resting
    # order nobody owns — a venue's seeded book (the venue reports fills to owners only).
    alone = ~paired
    internalized = liquidity == "internalized"
    cp = np.where(internalized, service, np.char.add("seed@", service.astype(str)))
    cp_type = np.array(
        [dealer_type(s) if i else SEEDED for s, i in zip(service, internalized, strict=True)],
        dtype=object,
    )
    counterparty = np.where(paired, owner[other], cp)
    counterparty_type = np.where(paired, owner_type[other], cp_type)
    fee_payer = np.where(retail, broker, owner)
    fee_payer_type = np.where(retail, "broker", owner_type)
    fee_receiver_type = np.array(
        [dealer_type(s) if i else "venue" for s, i in zip(service, internalized, strict=True)],
        dtype=object,
    )
    pfof_payer = np.where(retail, counterparty, owner)
    pfof_payer_type = np.where(retail, counterparty_type, owner_type)
    gain = sign * (value - price) * qty  # the row owner's gain from the trade itself
    brokers = np.full(n, broker, object), np.full(n, "broker", object)
    at = exec_regime, key, symbol, qty
    parts = [
        _legs(*at[:2], owner, owner_type, gain, symbol, sign * qty, value, qty),
        _legs(*at[:2], cp, cp_type, -gain, symbol, -sign * qty, value, qty, alone),
        *_transfer(*at, (fee_payer, fee_payer_type), (service, fee_receiver_type), fee),
        *_transfer(*at, (pfof_payer, pfof_payer_type), brokers, pfof),
    ]
    parts += _commission_legs(tables["fills"], regime_of, broker)
    return pd.concat(parts, ignore_index=True)


def welfare_table(legs: pd.DataFrame) -> pd.DataFrame:
    """Per regime and party: the gain (micro-dollars and $), executions taken part in, and the
    shares of those executions; raises if a regime does not sum to zero."""
    if legs.empty:
        return _empty(WELFARE_COLUMNS)
    sums = legs.groupby("regime", sort=False)["gain"].sum()
    unbalanced = sums[sums != 0]
    if len(unbalanced):
        regime, total = unbalanced.index[0], int(unbalanced.iloc[0])
        raise ValueError(f"welfare: regime {regime!r} sums to {total} micro-dollars, not 0")
    keys = ["regime", "party", "party_type"]
    gains = legs.groupby(keys, sort=False)["gain"].sum().rename("gain_micros")
    traded = legs[legs["execution"] != ""]
    exec_keys = [*(["run"] if "run" in legs.columns else []), "execution"]
    once = traded.drop_duplicates([*keys, *exec_keys])
    activity = once.groupby(keys, sort=False).agg(
        trades=("execution", "size"), shares=("shares", "sum")
    )
    table = pd.concat([gains, activity], axis=1).fillna(0).reset_index()
    table["gain_micros"] = table["gain_micros"].astype("int64")
    table["trades"] = table["trades"].astype("int64")
    table["shares"] = table["shares"].astype("int64")
    table["gain_usd"] = table["gain_micros"] / MICROS_PER_DOLLAR
    regimes = list(dict.fromkeys(legs["regime"]))
    rank = {t: i for i, t in enumerate(TYPE_ORDER)}
    table = table.assign(
        _r=table["regime"].map(lambda r: (r == OUTSIDE, regimes.index(r))),
        _t=table["party_type"].map(lambda t: rank.get(t, len(rank))),
    ).sort_values(["_r", "_t", "party"], kind="stable")
    return table[list(WELFARE_COLUMNS)].reset_index(drop=True)


def reconcile(
    legs: pd.DataFrame,
    pnl: pd.DataFrame | None,
    two_mids: dict[str, int],
    two_ranges: dict[str, int] | None = None,
) -> pd.DataFrame:
    """Per process with a P&L of its own (wholesalers, auction responders, the broker): its
    welfare over all its trades + the revaluation of its trades from the value at execution to
    the final mark (``two_mids``: 2 x the final mid per symbol) against its reported total.

    ``tolerance_usd`` bounds the residual: $0.01 + Σ |end position| x how far the mid ranged
    while the lab stopped (``two_ranges``: 2 x max - min two-sided mid per symbol over the last
    ``STOP_WINDOW_NS`` of the tape). Every process gets ``StopService`` from one loop and marks
    its position to the NBBO it holds when it drains; measured, the ``PnlReport``s fall within
    about 100 ms of the tape's last NBBO (-12 to +95 ms), so its mark is one of the mids of the
    window. Rounding (the total rounded to a micro-dollar, half-micro mids) is far below the
    cent. A process that marked to a fallback (no two-sided NBBO at stop: the reference price,
    or the latent value for auction responders) shows up as a residual beyond it."""
    if pnl is None or pnl.empty:
        return _empty(RECONCILIATION_COLUMNS)
    totals = pnl[(pnl["component"] == "total") & pnl["role"].isin(RECONCILED_ROLES)]
    rows = []
    for name, role, usd in zip(totals["name"], totals["role"], totals["usd"], strict=True):
        mine = legs[legs["party"] == name]
        trades = mine[mine["signed_qty"] != 0]
        final = trades["symbol"].map(two_mids)
        if final.isna().any():
            missing = sorted(set(trades.loc[final.isna(), "symbol"]))
            raise ValueError(f"welfare: no final mark for {missing}")
        signed = trades["signed_qty"].to_numpy("int64")
        revaluation_2x = int((signed * (final.to_numpy("int64") - 2 * trades["value"])).sum())
        welfare = int(mine["gain"].sum())
        expected_2x = 2 * welfare + revaluation_2x
        total = round(float(usd) * MICROS_PER_DOLLAR)
        positions = trades.groupby("symbol")["signed_qty"].sum().abs()
        spread_2x = sum(int(q) * (two_ranges or {}).get(str(s), 0) for s, q in positions.items())
        rows.append(
            {
                "party": name,
                "party_type": ROLE_TYPES[role],
                "welfare_usd": welfare / MICROS_PER_DOLLAR,
                "revaluation_usd": revaluation_2x / 2 / MICROS_PER_DOLLAR,
                "expected_pnl_usd": expected_2x / 2 / MICROS_PER_DOLLAR,
                "pnl_total_usd": total / MICROS_PER_DOLLAR,
                "residual_usd": (2 * total - expected_2x) / 2 / MICROS_PER_DOLLAR,
                "trades": int(mine.loc[mine["execution"] != "", "execution"].nunique()),
                "end_position_shares": int(positions.sum()),
                "tolerance_usd": 0.01 + spread_2x / 2 / MICROS_PER_DOLLAR,
            }
        )
    return pd.DataFrame(rows, columns=list(RECONCILIATION_COLUMNS))


def value_at(values: pd.DataFrame, symbols: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """The latent value of each (symbol, time): the last value at or before it (an execution
    before the symbol's first value takes that first value)."""
    out = np.zeros(len(ns), "int64")
    for symbol in set(symbols):
        series = values[values["symbol"] == symbol].sort_values("ts_ns", kind="stable")
        if series.empty:
            raise ValueError(f"welfare: no latent value for {symbol!r}")
        at = symbols == symbol
        times = series["ts_ns"].to_numpy("int64")
        index = np.searchsorted(times, ns[at], side="right") - 1
        out[at] = series["value"].to_numpy("int64")[np.maximum(index, 0)]
    return out


def final_two_mids(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """2 x the final mark per symbol: the last usable NBBO (both sides, bid < ask), else the last
    two-sided one, else the last latent value (integers: the mid may end in half a micro)."""
    marks = {
        str(s): 2 * int(g.sort_values("ts_ns", kind="stable")["value"].iloc[-1])
        for s, g in tables["values"].groupby("symbol")
    }
    nbbo = tables.get("nbbo")
    if nbbo is None or nbbo.empty:
        return marks
    book = nbbo.sort_values(["ts_ns", "seq"], kind="stable")
    bid, ask = book["bid_px"].astype("Int64"), book["ask_px"].astype("Int64")
    two_sided = (bid.notna() & ask.notna() & (bid > 0) & (ask > 0)).fillna(False)
    for mask in (two_sided, two_sided & (bid < ask).fillna(False)):  # usable last: it wins
        last = book[mask.to_numpy(bool)].groupby("symbol").tail(1)
        for s, b, a in zip(last["symbol"], last["bid_px"], last["ask_px"], strict=True):
            marks[str(s)] = int(b) + int(a)
    return marks


def stop_ranges(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """2 x (max - min) of the two-sided NBBO mids per symbol over the last ``STOP_WINDOW_NS``
    of the ``nbbo`` table, the final usable mid included (the marks a process may have read)."""
    nbbo = tables.get("nbbo")
    if nbbo is None or nbbo.empty:
        return {}
    bid, ask = nbbo["bid_px"].astype("Int64"), nbbo["ask_px"].astype("Int64")
    two_sided = (bid.notna() & ask.notna() & (bid > 0) & (ask > 0)).fillna(False).to_numpy(bool)
    late = nbbo["ts_ns"].to_numpy("int64") >= int(nbbo["ts_ns"].max()) - STOP_WINDOW_NS
    book = nbbo[two_sided & late]
    two = book["bid_px"].astype("int64") + book["ask_px"].astype("int64")
    by_symbol = two.groupby(book["symbol"].astype(str).to_numpy())
    low, high = by_symbol.min().to_dict(), by_symbol.max().to_dict()
    return {
        symbol: max(int(high.get(symbol, final)), final) - min(int(low.get(symbol, final)), final)
        for symbol, final in final_two_mids(tables).items()
    }


def welfare_summary(welfare: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{regime: {party: $}}`` (the block outside the regimes under ``"outside"``)."""
    out: dict[str, dict[str, float]] = {}
    for regime, party, usd in zip(
        welfare["regime"], welfare["party"], welfare["gain_usd"], strict=True
    ):
        out.setdefault(str(regime), {})[str(party)] = float(usd)
    return out


def welfare_blocks(computed: dict[str, pd.DataFrame]) -> list[Block]:
    """The report section: per regime the parties and their zero sum; the reconciliation."""
    welfare = computed.get("welfare")
    if welfare is None or welfare.empty:
        return []
    rows: list[dict] = []
    for regime, group in welfare.groupby("regime", sort=False):
        rows += [{**r, "party_type": words(r["party_type"])} for r in group.to_dict("records")]
        total = int(group["gain_micros"].sum()) / MICROS_PER_DOLLAR
        rows.append({"regime": regime, "party": "**sum**", "party_type": "", "gain_usd": total})
    columns: list[Column] = [
        ("Regime", "regime", str),
        ("Party", "party", str),
        ("Type", "party_type", str),
        ("Gain $", "gain_usd", _usd),
        ("Executions", "trades", _count),
        ("Shares", "shares", _count),
    ]
    recon = computed.get("welfare_reconciliation", _empty(RECONCILIATION_COLUMNS))
    recon_columns: list[Column] = [
        *([("Run", "run", str)] if "run" in recon.columns else []),
        ("Party", "party", str),
        ("Type", "party_type", str),
        ("Welfare at execution $", "welfare_usd", _usd),
        ("+ revaluation to final mid $", "revaluation_usd", _usd),
        ("= expected P&L $", "expected_pnl_usd", _usd),
        ("Process P&L $", "pnl_total_usd", _usd),
        ("Residual $", "residual_usd", _usd),
        ("End position sh", "end_position_shares", _count),
        ("Tolerance $", "tolerance_usd", lambda v: _usd(v).lstrip("+")),
    ]
    recon = recon.assign(party_type=recon["party_type"].map(words)) if len(recon) else recon
    return [
        Heading(3, "Who gained what, against the latent value"),
        Text(
            "Each party's gain in $ against the latent value at execution: buyer (value - "
            "price) x qty, seller (price - value) x qty; fees go from the order's owner to the "
            "venue (the broker pays them for retail orders), PFOF from the counterparty to the "
            "broker, commissions from the investor to the broker. Every transfer has both "
            "sides, so each regime sums to zero; `outside` holds the executions with no retail "
            "side (background trading, wholesaler hedges). Noise traders, informed traders and "
            "institutions are shown as one party each (the tape does not carry their accounts)."
        ),
        Table(rows, columns),
        Text(
            "Reconciliation with each process's own P&L: welfare over all its trades (every "
            "regime and `outside`) + revaluation of each trade from the value at execution to "
            "the final NBBO mid = the P&L it reported at stop. The residual is the end position "
            "times the gap between the mark the process used at stop and the last usable NBBO "
            "mid of the tape: the tolerance is $0.01 + the end position times how far the "
            "two-sided mid ranged over the tape's last 250 ms (the lab stopping: every process "
            "marks to the NBBO it holds when it drains, within about 100 ms of the tape's last)."
        ),
        Table(recon.to_dict(orient="records"), recon_columns),
    ]


# ---------------------------------------------------------------------------------- helpers
def _owner(
    order_id: str,
    liquidity: str,
    regime_of: dict[str, str],
    responders: list[str],
    dealer_type: Callable[[str], str],
) -> tuple[str, str, str]:
    """(party, party type, regime or "") of a destination fill row's order id."""
    base = order_id.split("~", 1)[0]
    if "~" in order_id and base in regime_of:
        return RETAIL, RETAIL, str(regime_of[base])
    if order_id in regime_of:
        return RETAIL, RETAIL, str(regime_of[order_id])
    if match := _LIT_MM.fullmatch(order_id):
        return f"mm-{match['venue']}", "lit_market_maker", ""
    for prefix in ("noise", "informed"):
        if order_id.startswith(f"{prefix}-"):
            return prefix, prefix, ""
    if parent_of(order_id) is not None:  # a metaorder's child (services/institutions.py)
        return "institutions", "institutional", ""
    if liquidity == "auction":
        name = next((r for r in responders if order_id.startswith(f"{r}-")), None)
        if name is not None:
            return name, dealer_type(name), ""
    elif match := _HEDGE.fullmatch(order_id):
        return match["name"], dealer_type(match["name"]), ""
    return f"unknown:{order_id}", "unknown", ""


def _partners(
    key: np.ndarray, sign: np.ndarray, qty: np.ndarray, price: np.ndarray, symbol: np.ndarray
) -> np.ndarray:
    """Each row's counterparty row (the other row of its execution), -1 for a lone row."""
    n = len(key)
    partner = np.full(n, -1, "int64")
    if n == 0:
        return partner
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, n])
    if (sizes > 2).any():
        raise ValueError(f"welfare: execution {sorted_keys[starts[sizes > 2][0]]} has > 2 rows")
    first = order[starts[sizes == 2]]
    second = order[starts[sizes == 2] + 1]
    partner[first], partner[second] = second, first
    bad = (
        (sign[first] == sign[second])
        | (qty[first] != qty[second])
        | (price[first] != price[second])
        | (symbol[first] != symbol[second])
    )
    if bad.any():
        raise ValueError(f"welfare: the two sides of execution {key[first[bad][0]]} differ")
    return partner


def _legs(
    regime: np.ndarray,
    execution: np.ndarray,
    party: np.ndarray,
    party_type: np.ndarray,
    gain: np.ndarray,
    symbol: np.ndarray,
    signed_qty: np.ndarray,
    value: np.ndarray,
    shares: np.ndarray,
    where: np.ndarray | None = None,
) -> pd.DataFrame:
    mask = np.ones(len(regime), bool) if where is None else where
    columns = (regime, execution, party, party_type, gain, symbol, signed_qty, value, shares)
    return pd.DataFrame({c: v[mask] for c, v in zip(_LEG_COLUMNS, columns, strict=True)})


def _commission_legs(
    fills: pd.DataFrame, regime_of: dict[str, str], broker: str
) -> list[pd.DataFrame]:
    if "commission" not in fills.columns:
        return []
    charged = fills[fills["commission"].fillna(0).astype("int64") != 0]
    amount = charged["commission"].astype("int64").to_numpy()
    regime = charged["order_id"].map(regime_of).fillna(charged["regime"]).to_numpy(object)
    n = len(charged)
    blank, zero = np.full(n, "", object), np.zeros(n, "int64")
    symbol = charged["symbol"].astype(str).to_numpy()
    retail = np.full(n, RETAIL, object)
    brokers = np.full(n, broker, object), np.full(n, "broker", object)
    return _transfer(regime, blank, symbol, zero, (retail, retail), brokers, amount)


def _transfer(
    regime: np.ndarray,
    execution: np.ndarray,
    symbol: np.ndarray,
    shares: np.ndarray,
    payer: tuple[np.ndarray, np.ndarray],
    receiver: tuple[np.ndarray, np.ndarray],
    amount: np.ndarray,
) -> list[pd.DataFrame]:
    """A payment of ``amount`` (where not 0) from ``payer`` to ``receiver`` ((party, type))."""
    paid, zero = amount != 0, np.zeros(len(amount), "int64")
    at = regime, execution
    return [
        _legs(*at, *payer, -amount, symbol, zero, zero, shares, paid),
        _legs(*at, *receiver, amount, symbol, zero, zero, shares, paid),
    ]


def _roles(pnl: pd.DataFrame | None) -> dict[str, str]:
    if pnl is None or pnl.empty:
        return {}
    known = pnl[pnl["role"].isin(RECONCILED_ROLES)]
    return {str(n): ROLE_TYPES[str(r)] for n, r in zip(known["name"], known["role"], strict=True)}


def _responders(auctions: pd.DataFrame | None) -> list[str]:
    """Every auction responder's name, longest first (response ids start ``<name>-``)."""
    if auctions is None or auctions.empty:
        return []
    names: set[str] = set()
    for cell in auctions["responders"].dropna():
        names.update(n for n in str(cell).split(",") if n)
    return sorted(names, key=lambda n: (-len(n), n))


def _per_run(
    tables: dict[str, pd.DataFrame],
) -> Iterable[tuple[str | None, dict[str, pd.DataFrame]]]:
    """The tables of each run (pooled: the ``run`` column split off, order ids unprefixed)."""
    if "run" not in tables["orders"].columns:
        yield None, tables
        return
    for run in dict.fromkeys(tables["orders"]["run"]):
        own: dict[str, pd.DataFrame] = {}
        for name, table in tables.items():
            if "run" not in table.columns:
                own[name] = table
                continue
            part = table[table["run"] == run].drop(columns="run")
            if "order_id" in part.columns:
                part = part.assign(
                    order_id=part["order_id"].astype(str).str.removeprefix(f"{run}:")
                )
            own[name] = part.reset_index(drop=True)
        yield str(run), own


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _usd(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{round(float(value), 2) + 0.0:+,.2f}"  # type: ignore[arg-type]


def _count(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{int(value):,}"  # type: ignore[call-overload]
