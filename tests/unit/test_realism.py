"""Stylized-fact metrics on series whose statistics are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from orchestration.realism import (
    POOLED,
    _binned_exponent,
    _hill_tail_index,
    _impact_exponent,
    realism_table,
)
from orchestration.realism_cli import format_realism
from orchestration.realism_report import number_text, realism_blocks

T0 = 1_800_000_000 * 10**9
SECOND = 10**9


def nbbo_from_mids(mids: list[float], symbol: str = "ACME", spread: int = 10_000) -> pd.DataFrame:
    """One NBBO update per second at each mid (micro-dollars), a fixed spread."""
    mids_arr = np.asarray(mids)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "ts_ns": T0 + np.arange(len(mids_arr), dtype="int64") * SECOND,
            "bid_px": pd.array(np.round(mids_arr - spread / 2).astype("int64"), dtype="Int64"),
            "bid_qty": 100,
            "ask_px": pd.array(np.round(mids_arr + spread / 2).astype("int64"), dtype="Int64"),
            "ask_qty": 100,
        }
    )


def nbbo_at(stamps: list[int], mids: list[float]) -> pd.DataFrame:
    """ACME's NBBO at the given times and mids (micro-dollars), a cent wide."""
    return pd.DataFrame(
        {
            "symbol": "ACME",
            "ts_ns": np.array(stamps, dtype="int64"),
            "bid_px": pd.array([round(m) - 5_000 for m in mids], dtype="Int64"),
            "bid_qty": 100,
            "ask_px": pd.array([round(m) + 5_000 for m in mids], dtype="Int64"),
            "ask_qty": 100,
        }
    )


def acme_prints(signs: list[str]) -> pd.DataFrame:
    """ACME's lit prints of 100 shares, one every 0.1 s, with the given aggressor sides."""
    return pd.DataFrame(
        {
            "venue": "lit-a",
            "symbol": "ACME",
            "ts_ns": T0 + np.arange(len(signs), dtype="int64") * (SECOND // 10),
            "price": 50_000_000,
            "qty": 100,
            "aggressor": signs,
        }
    )


def row(table: pd.DataFrame, metric: str, horizon: str) -> pd.Series:
    hit = table[(table["metric"] == metric) & (table["horizon"] == horizon)]
    assert len(hit) == 1, (metric, horizon, table[["metric", "horizon"]])
    return hit.iloc[0]


def test_alternating_returns_have_kurtosis_minus_two_and_autocorrelation_minus_one() -> None:
    # log returns alternate +x, -x: every |r| equal, so m4 / m2^2 = 1, excess kurtosis -2;
    # each return is the negative of the next: lag-1 autocorrelation -1, lag 5 (odd) -1 too.
    x = 0.001
    log_mid = np.log(50e6) + np.cumsum([0.0] + [x if k % 2 == 0 else -x for k in range(200)])
    table = realism_table({"nbbo": nbbo_from_mids(list(np.exp(log_mid)))})
    kurtosis = row(table, "excess kurtosis of mid returns", "1 s")
    assert kurtosis["value"] == pytest.approx(-2.0, abs=1e-6)
    assert kurtosis["n"] == 200
    assert not kurtosis["in_band"]  # no heavy tails here
    assert row(table, "autocorrelation of returns", "1 s, lag 1")["value"] == pytest.approx(-1.0)
    assert row(table, "autocorrelation of returns", "1 s, lag 5")["value"] == pytest.approx(-1.0)
    # |r| is constant: no variation, so volatility clustering has no value rather than a number
    clustering = row(table, "autocorrelation of |returns|", "1 s, lag 1")
    assert pd.isna(clustering["value"]) and "not enough data" in clustering["note"]


def test_one_jump_in_many_quiet_seconds_is_a_heavy_tail() -> None:
    # 99 returns of 0 and one of size j: mean j/100, m2 = j^2 (1/100)(99/100),
    # m4 = j^4 [(99/100)^4 / 100 + 99 (1/100)^4] / ... computed here by hand from the definition.
    n, j = 100, 0.01
    r = np.zeros(n)
    r[50] = j
    mean = j / n
    m2 = ((n - 1) * mean**2 + (j - mean) ** 2) / n
    m4 = ((n - 1) * mean**4 + (j - mean) ** 4) / n
    expected = m4 / m2**2 - 3
    mids = np.exp(np.log(50e6) + np.concatenate([[0.0], np.cumsum(r)]))
    table = realism_table({"nbbo": nbbo_from_mids(list(mids))})
    kurtosis = row(table, "excess kurtosis of mid returns", "1 s")
    assert kurtosis["value"] == pytest.approx(expected, rel=1e-6)
    assert expected > 90 and kurtosis["in_band"]


def test_short_runs_give_no_value_and_say_how_many_observations() -> None:
    table = realism_table({"nbbo": nbbo_from_mids([50e6 + k for k in range(10)])})
    kurtosis = row(table, "excess kurtosis of mid returns", "1 s")
    assert pd.isna(kurtosis["value"]) and kurtosis["note"] == "not enough data (9)"


def test_trade_signs_in_blocks_of_four_have_the_autocorrelations_counted_by_hand() -> None:
    # ++++----++++... over 800 trades: mean 0, variance 1. Lag 1: 799 pairs, the 199 block
    # boundaries disagree: (799 - 2 * 199) / 799. Lag 10: k and k + 10 fall in blocks 2 or 3
    # apart, 3 (opposite signs) when k mod 4 >= 2: of k = 0..789, 396 agree and 394 do not:
    # 2 / 790. Lag 100 = 25 blocks, always opposite: -1.
    signs = ["buy" if (k // 4) % 2 == 0 else "sell" for k in range(800)]
    trades = acme_prints(signs)
    table = realism_table({"nbbo": nbbo_from_mids([50e6] * 90), "trades": trades})
    assert row(table, "autocorrelation of trade signs", "lag 1")["value"] == pytest.approx(
        401 / 799
    )
    assert row(table, "autocorrelation of trade signs", "lag 10")["value"] == pytest.approx(2 / 790)
    lag100 = row(table, "autocorrelation of trade signs", "lag 100")
    assert lag100["value"] == pytest.approx(-1.0) and not lag100["in_band"]


def test_sign_memory_without_the_retail_prints_counts_only_the_markets_own() -> None:
    # The market's 400 prints come in blocks of four (++++----...) and after each one a retail
    # child takes a print of alternating sign. Left out, the market's lag 1 is (399 - 2 * 99) /
    # 399 (99 block boundaries) and lag 100 (25 blocks) is -1 over 300 pairs. A retail child
    # that rested and was taken (its fill "maker") did not set the print's sign: it stays.
    market = ["buy" if (k // 4) % 2 == 0 else "sell" for k in range(400)]
    signs, ids = [], []
    for k, side in enumerate(market):
        signs += [side, "buy" if k % 2 == 0 else "sell"]
        ids += [f"m{k}", f"r{k}"]
    trades = acme_prints(signs).assign(trade_id=ids)
    children = [f"P{k}/1" for k in range(401)]
    routes = pd.DataFrame({"router": "sor", "order_id": "P", "child_id": children})
    fills = pd.DataFrame(
        {
            "service": "lit-a",
            "order_id": children,
            "symbol": "ACME",
            # a taker's side is its print's aggressor; the resting child was on the other side
            "side": ["buy" if k % 2 == 0 else "sell" for k in range(400)] + ["sell"],
            "qty": 100,
            "price": 50_000_000,
            "exec_ns": T0,
            "ts_ns": T0,
            "liquidity": ["taker"] * 400 + ["maker"],
            "exec_id": [f"r{k}" for k in range(400)] + ["m0"],
        }
    )
    tables = {
        "nbbo": nbbo_from_mids([50e6] * 90),
        "trades": trades,
        "routes": routes,
        "destination_fills": fills,
    }
    table = realism_table(tables)
    lag1 = row(table, "sign autocorrelation, retail prints out", "lag 1")
    assert lag1["value"] == pytest.approx(201 / 399) and lag1["n"] == 399
    assert lag1["note"] == "400 of 800 prints left out"
    lag100 = row(table, "sign autocorrelation, retail prints out", "lag 100")
    assert lag100["value"] == pytest.approx(-1.0) and lag100["n"] == 300
    # The row beside it counts every print (mean 0, variance 1): its lag 1 pairs each market
    # print with the retail print after it (400 pairs, per block of eight 0) and each retail
    # print with the next market print (399 pairs; per block of eight + - + + - + - - = 0, the
    # last seven +1): 1 / 799. The retail prints erase the memory there.
    all_lag1 = row(table, "autocorrelation of trade signs", "lag 1")["value"]
    assert all_lag1 == pytest.approx(1 / 799)
    # no retail print of the symbol (or no routes at all, as in real data): no such rows
    quiet = realism_table({"nbbo": nbbo_from_mids([50e6] * 90), "trades": trades})
    assert not (quiet["metric"] == "sign autocorrelation, retail prints out").any()


def test_retail_prints_are_found_in_pooled_runs_and_in_the_dark_pool() -> None:
    # Two labs pooled as an experiment pools them (run labels on every table, on the order ids
    # of the fills and routes, not on the child ids or trade ids, which repeat across labs).
    # Each lab: 200 market prints in blocks of four, each followed by a retail child's print —
    # taking on lit-a after even k, arriving at the dark pool (a midpoint fill on the print's
    # aggressor side) after odd k; the first market print is a dark print in which a retail
    # child rested (its midpoint fill on the other side): it is the market's, and stays. Left
    # out: 2 x 200 of 800. The market's series per lab: lag 1 (199 - 2 * 49) / 199, the
    # same pooled over the two labs' 398 pairs.
    from types import SimpleNamespace

    from orchestration.experiment import pool_tables

    market = ["buy" if (k // 4) % 2 == 0 else "sell" for k in range(200)]
    signs, ids, venues = [], [], []
    for k, side in enumerate(market):
        retail_side = "buy" if k % 2 == 0 else "sell"
        signs += [side, retail_side]
        ids += [
            "dark-a-m0" if k == 0 else f"lit-a-m{k}",
            f"lit-a-r{k}" if k % 2 == 0 else f"dark-a-r{k}",
        ]
        venues += ["dark-a" if k == 0 else "lit-a", "lit-a" if k % 2 == 0 else "dark-a"]
    trades = acme_prints(signs).assign(trade_id=ids, venue=venues)
    children = [f"P{k}~1/1" for k in range(201)]
    fills = pd.DataFrame(
        {
            "service": [*venues[1::2], "dark-a"],
            "order_id": children,
            "symbol": "ACME",
            "side": [*signs[1::2], "sell"],  # the resting child sold into m0's buy
            "qty": 100,
            "price": 50_000_000,
            "exec_ns": T0,
            "ts_ns": T0,
            "liquidity": [*("taker" if k % 2 == 0 else "midpoint" for k in range(200)), "midpoint"],
            "exec_id": [*ids[1::2], "dark-a-m0"],
        }
    )
    one_lab = {
        "nbbo": nbbo_from_mids([50e6] * 50),
        "trades": trades,
        "routes": pd.DataFrame({"router": "sor", "order_id": "P", "child_id": children}),
        "destination_fills": fills,
    }
    labs = [
        SimpleNamespace(
            plan=SimpleNamespace(label=label, replication=n), run_dir=label, config=None
        )
        for n, label in enumerate(("r1", "r2"), start=1)
    ]
    pooled = pool_tables(labs, "sequential", lambda _dir, _config: {**one_lab})  # type: ignore[arg-type]
    assert pooled["destination_fills"]["order_id"].iloc[0] == "r1:P0~1/1"  # labelled, as pooled
    table = realism_table(pooled)
    lag1 = row(table, "sign autocorrelation, retail prints out", "lag 1")
    assert lag1["note"] == "400 of 800 prints left out"
    assert lag1["value"] == pytest.approx(101 / 199) and lag1["n"] == 398


def test_depth_at_the_touch_is_read_every_second_and_its_percentiles_by_hand() -> None:
    # 101 updates a second apart; at second k the bid shows 40k shares and the ask none, so
    # the touch's mean depth is 20k: the 1 s samples are 0, 20, ..., 2,000, whose 10th, 50th
    # and 90th percentiles (linear between order statistics) are 200, 1,000 and 1,800.
    nbbo = nbbo_from_mids([50e6] * 101).assign(bid_qty=[40 * k for k in range(101)], ask_qty=0)
    table = realism_table({"nbbo": nbbo})
    for q in (10, 50, 90):
        got = row(table, f"NBBO depth at the touch, shares, p{q}", "1 s samples")
        assert got["value"] == pytest.approx(20 * q) and got["n"] == 101
        assert got["fact"] == "depth distribution" and pd.isna(got["in_band"])
    # printed and reported in full past three digits, not as 1.8e+03
    depth_lines = [line for line in format_realism(table).splitlines() if "depth" in line]
    assert ["1,800" in line for line in depth_lines] == [False, False, True], depth_lines
    assert number_text(1800.0, 3, "n/a") == "1,800" and number_text(0.5, 3, "n/a") == "0.5"
    # real data without sizes: no value, and the spreads still come out
    bare = realism_table({"nbbo": nbbo.drop(columns=["bid_qty", "ask_qty"])})
    assert pd.isna(row(bare, "NBBO depth at the touch, shares, p50", "1 s samples")["value"])
    assert row(bare, "NBBO quoted spread bps, p50", "1 s samples")["value"] > 0


def test_runs_of_a_pooled_experiment_never_pair_across_labs() -> None:
    # Two runs, each all buys then all sells would pair a sell with the next run's buy if joined.
    rows = []
    for run in ("r0", "r1"):
        for k in range(40):
            rows.append((run, T0 + k * SECOND, "buy" if k < 20 else "sell"))
    trades = pd.DataFrame(rows, columns=["run", "ts_ns", "aggressor"]).assign(
        venue="lit-a", symbol="ACME", price=50_000_000, qty=100
    )
    nbbo = pd.concat([nbbo_from_mids([50e6] * 40).assign(run=r) for r in ("r0", "r1")])
    value = row(
        realism_table({"nbbo": nbbo, "trades": trades}), "autocorrelation of trade signs", "lag 1"
    )
    # per run 39 pairs, 38 agreeing and 1 not; mean 0, variance 1: (38 - 1) / 39 per run
    assert value["value"] == pytest.approx(37 / 39)
    assert value["n"] == 78


def test_hill_estimator_recovers_a_pareto_tail_index() -> None:
    # |x| Pareto with index 3: the Hill estimate over the top 5% of 200,000 draws has standard
    # error about alpha / sqrt(k) = 3 / 100.
    rng = np.random.default_rng(7)
    x = rng.pareto(3.0, 200_000) + 1.0
    alpha, k = _hill_tail_index(x)
    assert k == 10_000
    assert alpha == pytest.approx(3.0, abs=4 * 3.0 / math.sqrt(k))


def test_impact_exponent_of_a_square_root_law_is_one_half() -> None:
    size = np.repeat([100.0, 400.0, 1600.0, 6400.0, 25600.0], 20)
    move = 0.3 * np.sqrt(size)
    exponent, used = _impact_exponent(size, move)
    assert used == 5
    assert exponent == pytest.approx(0.5)


def test_impact_measured_from_the_mid_before_to_the_mid_a_second_after() -> None:
    # Each buy of q shares moves the mid up by sqrt(q) bps for good (a square-root law).
    sizes = [100, 400, 1600, 6400, 25600] * 8
    mids, mid = [], 50e6
    for q in sizes:
        mids.append(mid)
        mid = mid * (1 + math.sqrt(q) / 1e4)
        mids.append(mid)
    mids.append(mid)  # a last update, so the last trade's second-later mid exists
    nbbo = nbbo_from_mids(mids)  # one update per second
    trades = pd.DataFrame({"qty": sizes}).assign(
        venue="lit-a", symbol="ACME", price=50_000_000, aggressor="buy"
    )
    trades["ts_ns"] = T0 + np.arange(len(sizes)) * 2 * SECOND + SECOND // 2
    # trade k at 2k + 0.5 s: the mid before it is mids[2k], a second later mids[2k+1], a move of
    # sqrt(q) bps; the five sizes fill the five quantile buckets exactly (8 trades each)
    impact = row(
        realism_table({"nbbo": nbbo, "trades": trades}),
        "exponent of impact against trade size",
        "1 s",
    )
    assert impact["value"] == pytest.approx(0.5, abs=1e-4)
    assert impact["in_band"]


def test_report_section_names_every_band_source() -> None:
    table = realism_table({"nbbo": nbbo_from_mids([50e6 + 100 * (k % 3) for k in range(100)])})
    blocks = realism_blocks({"realism": table})
    text = repr(blocks)
    assert "Cont (2001)" in text and "Lillo & Farmer (2004)" in text
    assert "Market realism" in text


def test_intraday_rows_compare_open_and_close_with_midday_by_hand() -> None:
    # a 400 s day observed for one day, from its start: spread 4 bps in the open's tenth (40 s),
    # 2 bps elsewhere; |1 s return| 2e-4 in the open, 1e-4 elsewhere; 300 shares a second in
    # the open and the close, 100 at midday. Open/midday: spread 2, |return| 2, volume 3.
    n = 400
    mid = 50e6
    log_mid = [0.0]
    for k in range(1, n):
        step = 2e-4 if k < 40 else 1e-4
        log_mid.append(log_mid[-1] + (step if k % 2 else -step))
    mids = mid * np.exp(np.array(log_mid))
    spread = np.where(np.arange(n) < 40, 4e-4, 2e-4) * mids
    nbbo = pd.DataFrame(
        {
            "symbol": "ACME",
            "ts_ns": T0 + np.arange(n, dtype="int64") * SECOND,
            "bid_px": pd.array(np.round(mids - spread / 2).astype("int64"), dtype="Int64"),
            "bid_qty": 100,
            "ask_px": pd.array(np.round(mids + spread / 2).astype("int64"), dtype="Int64"),
            "ask_qty": 100,
        }
    )
    ts = T0 + np.arange(n, dtype="int64") * SECOND + SECOND // 2
    qty = np.where((np.arange(n) < 40) | (np.arange(n) >= 360), 300, 100)
    trades = pd.DataFrame(
        {"venue": "lit-a", "symbol": "ACME", "ts_ns": ts, "price": 50_000_000, "qty": qty}
    )
    trades["aggressor"] = "buy"
    session = pd.DataFrame({"origin_ns": [T0], "day_s": [400.0]})
    table = realism_table({"nbbo": nbbo, "trades": trades, "session": session})
    horizon = "first, last tenth vs middle fifth of the day"
    # the open's tenth holds seconds 0-39 (40 samples), midday 160-239 (80): 300 / 100
    assert row(table, "volume per second, open / midday", horizon)["value"] == pytest.approx(3.0)
    assert row(table, "volume per second, close / midday", horizon)["value"] == pytest.approx(3.0)
    assert row(table, "median quoted spread, open / midday", horizon)["value"] == pytest.approx(
        2.0, rel=1e-3
    )
    # returns sampled at 1 s: the open's are the 39 steps of 2e-4 (sample 0 has no return)
    moved = row(table, "mean |1 s return|, open / midday", horizon)
    assert moved["value"] == pytest.approx(2.0, rel=1e-3) and moved["n"] == 39
    assert bool(moved["in_band"]) and moved["band_low"] == 1.0


def test_intraday_rows_without_a_session_clock_say_so() -> None:
    table = realism_table({"nbbo": nbbo_from_mids([50e6] * 50)})
    hit = table[table["fact"] == "intraday patterns"]
    assert len(hit) == 1 and "no session clock" in hit.iloc[0]["note"]


def child_fill(order_id: str, exec_ns: int, side: str = "buy") -> dict[str, object]:
    """One institution child's taker fill of 100 ACME shares, as the tape's destination_fills."""
    return {
        "order_id": order_id,
        "symbol": "ACME",
        "side": side,
        "qty": 100,
        "liquidity": "taker",
        "exec_ns": exec_ns,
    }


def test_metaorder_impact_exponent_is_recovered_from_a_square_root_law_by_hand() -> None:
    # 30 buy metaorders, six of each size 1, 2, 4, 8, 16 children of 100 shares; each moves the
    # mid by 2 sqrt(children) bps between just before its first child and 0.1 s after its last,
    # then the mid returns: impact = 2 (size / 100)^0.5, a log-log slope of exactly 0.5
    mid = 50_000_000.0
    stamps, mids, fills = [T0], [mid], []
    t = T0 + SECOND
    for parent, children in enumerate([1, 2, 4, 8, 16] * 6):
        moved = mid * (1 + 2 * math.sqrt(children) / 1e4)
        for n in range(children):
            fill_ns = t + n * SECOND // 100
            fills.append(child_fill(f"institution-0.{parent}-{len(fills)}", fill_ns))
        last = t + (children - 1) * SECOND // 100
        stamps += [last + SECOND // 20, last + SECOND // 2]  # moved, then back
        mids += [moved, mid]
        t = last + SECOND
    # market makers' own fills and other takers are not metaorders
    fills.append({**fills[0], "order_id": "noise-9", "exec_ns": T0 + SECOND // 2})
    fills.append({**fills[0], "order_id": "mm.lit-a.ACME-3", "liquidity": "maker"})
    nbbo = nbbo_at([*stamps, t + SECOND], [*mids, mid])
    table = realism_table({"nbbo": nbbo, "destination_fills": pd.DataFrame(fills)})
    got = row(table, "exponent of metaorder impact against size", "first child to last + 0.1 s")
    assert got["value"] == pytest.approx(0.5, abs=1e-3) and got["n"] == 30
    assert bool(got["in_band"]) and "5 bins (1, 2-3, 4-7... children)" in got["note"]


def square_root_metaorders(symbol: str, sizes: list[int]) -> tuple[pd.DataFrame, list[dict]]:
    """``symbol``'s NBBO and children for buy metaorders of ``sizes`` children, each moving the
    mid by 2 sqrt(children) bps 0.05 s after its last child and back 0.5 s after it."""
    mid = 50_000_000.0
    stamps, mids, fills = [T0], [mid], []
    t = T0 + SECOND
    for parent, children in enumerate(sizes):
        for n in range(children):
            fill = child_fill(f"institution-0.{parent}-{len(fills)}", t + n * SECOND // 100)
            fills.append(fill | {"symbol": symbol})
        last = t + (children - 1) * SECOND // 100
        stamps += [last + SECOND // 20, last + SECOND // 2]
        mids += [mid * (1 + 2 * math.sqrt(children) / 1e4), mid]
        t = last + SECOND
    return nbbo_at([*stamps, t + SECOND], [*mids, mid]).assign(symbol=symbol), fills


def test_metaorders_of_pooled_labs_are_found_under_their_labelled_order_ids() -> None:
    # Two labs of 15 square-root metaorders each, pooled as an experiment pools them (the run's
    # label in front of every fill's order id): 30 metaorders, six in each of five bins, 0.5.
    # Each lab alone has too few (15 < 30), so the row has a value only if both are found.
    from types import SimpleNamespace

    from orchestration.experiment import pool_tables

    nbbo, fills = square_root_metaorders("ACME", [1, 2, 4, 8, 16] * 3)
    one_lab = {"nbbo": nbbo, "destination_fills": pd.DataFrame(fills)}
    labs = [
        SimpleNamespace(
            plan=SimpleNamespace(label=label, replication=n), run_dir=label, config=None
        )
        for n, label in enumerate(("r1", "r2"), start=1)
    ]
    pooled = pool_tables(labs, "sequential", lambda _dir, _config: {**one_lab})  # type: ignore[arg-type]
    assert pooled["destination_fills"]["order_id"].iloc[0].startswith("r1:institution-")
    got = row(
        realism_table(pooled),
        "exponent of metaorder impact against size",
        "first child to last + 0.1 s",
    )
    assert got["n"] == 30 and got["value"] == pytest.approx(0.5, abs=1e-3)


def test_metaorders_of_every_symbol_pooled_fit_one_exponent_where_each_alone_cannot() -> None:
    # ACME and BOLT, 15 buy metaorders each: three of each size 1, 2, 4, 8, 16 children, each
    # moving the mid 2 sqrt(children) bps. One symbol alone has 15 metaorders, under the 30 a
    # statistic needs, and three per bin (five are needed); pooled, 30 metaorders, six in each
    # of five bins, the same square-root law: exponent 0.5.
    acme, acme_fills = square_root_metaorders("ACME", [1, 2, 4, 8, 16] * 3)
    bolt, bolt_fills = square_root_metaorders("BOLT", [1, 2, 4, 8, 16] * 3)
    table = realism_table(
        {
            "nbbo": pd.concat([acme, bolt], ignore_index=True),
            "destination_fills": pd.DataFrame(acme_fills + bolt_fills),
        }
    )
    metric = "exponent of metaorder impact against size"
    hits = table[table["metric"] == metric].set_index("symbol")
    assert list(hits.index) == ["ACME", "BOLT", POOLED]
    for symbol in ("ACME", "BOLT"):
        assert pd.isna(hits.loc[symbol, "value"]) and hits.loc[symbol, "n"] == 15
    assert hits.loc[POOLED, "value"] == pytest.approx(0.5, abs=1e-3)
    assert hits.loc[POOLED, "n"] == 30 and "30 metaorders of 2 symbols" in hits.loc[POOLED, "note"]
    reversion = table[table["metric"] == "impact reversion: remaining / peak"]
    assert list(reversion["symbol"]) == ["ACME", "BOLT", POOLED]


def test_one_symbol_with_measured_metaorders_has_no_pooled_rows() -> None:
    # ACME's 30 metaorders are measured; BOLT's children all trade before BOLT's first quote,
    # so none of its metaorders can be measured: nothing to pool with, no "all symbols" rows
    nbbo, fills = square_root_metaorders("ACME", [1, 2, 4, 8, 16] * 6)
    bolt, bolt_fills = square_root_metaorders("BOLT", [1, 2, 4])
    late = bolt.assign(ts_ns=bolt["ts_ns"] + 3_600 * SECOND)
    table = realism_table(
        {
            "nbbo": pd.concat([nbbo, late], ignore_index=True),
            "destination_fills": pd.DataFrame(fills + bolt_fills),
        }
    )
    assert POOLED not in set(table["symbol"])
    bolt_row = table[
        (table["symbol"] == "BOLT") & (table["metric"].str.startswith("exponent of m"))
    ]
    assert len(bolt_row) == 1 and bolt_row.iloc[0]["n"] == 0
    acme = row(
        table[table["symbol"] == "ACME"],
        "exponent of metaorder impact against size",
        "first child to last + 0.1 s",
    )
    assert acme["value"] == pytest.approx(0.5, abs=1e-3) and acme["n"] == 30


def test_metaorder_impact_is_taken_net_of_the_latent_values_own_move() -> None:
    # 30 buy metaorders of 1, 2, 4, 8, 16 children as above; each lifts the mid by 2 sqrt(children)
    # bps of impact, but the latent value also moves over each metaorder by a swing that has
    # nothing to do with it: alternately -10 and +6 bps (mean -2 bps), and the mid carries the
    # swing too. Net of the value's move every parent's impact is exactly 2 sqrt(children) bps:
    # slope 0.5, as in the case without a swing. The raw mid moves of the one-child parents
    # average 2 - 2 = 0 bps: that bin cannot be fitted and the raw slope is not 0.5.
    mid = value = 50_000_000.0
    stamps, mids, vstamps, values, fills = [T0], [mid], [T0], [value], []
    t = T0 + SECOND
    for parent, children in enumerate([1, 2, 4, 8, 16] * 6):
        swing = (-10 if parent % 2 == 0 else 6) / 1e4
        for n in range(children):
            fills.append(child_fill(f"institution-0.{parent}-{len(fills)}", t + n * SECOND // 100))
        last = t + (children - 1) * SECOND // 100
        value *= 1 + swing
        vstamps.append(last + SECOND // 20)
        values.append(value)
        stamps += [last + SECOND // 20, last + SECOND // 2]  # moved with the value, then back
        mids += [mid * (1 + swing) * (1 + 2 * math.sqrt(children) / 1e4), mid * (1 + swing)]
        mid *= 1 + swing
        t = last + SECOND
    nbbo = nbbo_at([*stamps, t + SECOND], [*mids, mid])
    value_table = pd.DataFrame(
        {"symbol": "ACME", "ts_ns": np.array(vstamps, dtype="int64"), "value": values}
    )
    fills_table = pd.DataFrame(fills)
    metric, horizon = "exponent of metaorder impact against size", "first child to last + 0.1 s"
    net = row(
        realism_table({"nbbo": nbbo, "destination_fills": fills_table, "values": value_table}),
        metric,
        horizon,
    )
    assert net["value"] == pytest.approx(0.5, abs=1e-3) and net["n"] == 30
    assert "net of the latent value's move" in net["note"]
    raw = row(realism_table({"nbbo": nbbo, "destination_fills": fills_table}), metric, horizon)
    assert "mid moves" in raw["note"]
    assert raw["value"] is None or pd.isna(raw["value"]) or abs(raw["value"] - 0.5) > 0.05


def test_metaorder_impact_exponent_weighs_each_bin_by_its_precision() -> None:
    # Sizes 100, 200 and 400 shares, 100 metaorders each, impacts 1, sqrt(2) and 2 bps each
    # +-0.1 (half above, half below: mean exact, standard error 0.1 / sqrt(100) x sqrt(100/99)),
    # on a line of slope 0.5; and five of 800 shares at 8 +- 8 bps (a noisy bin far above the
    # line). Unweighted, the four bin means are, in units of ln 2, at x = 0, 1, 2, 3 and y = 0,
    # 0.5, 1, 3: slope 4.75 / 5 = 0.95 by hand. Weighted by (mean / se)^2 the noisy bin (sd 8,
    # se 8 / sqrt 5) counts (8 / 3.58)^2 = 5 against (1 / 0.01005)^2 = 9,900 and more: the slope
    # stays within 0.01 of 0.5.
    sizes, moves = [], []
    for size, impact in [(100, 1.0), (200, math.sqrt(2)), (400, 2.0)]:
        sizes += [size] * 100
        moves += [impact + 0.1, impact - 0.1] * 50
    sizes += [800] * 5
    moves += [8.0 + d for d in (-8.0, 8.0, -8.0, 8.0, 0.0)]
    slope, used, stderr = _binned_exponent(np.array(sizes, float), np.array(moves))
    assert used == 4 and slope is not None and stderr is not None
    assert slope == pytest.approx(0.5, abs=0.01)
    x = np.log([100, 200, 400, 800])
    y = np.log([1.0, math.sqrt(2), 2.0, 8.0])
    assert np.polyfit(x, y, 1)[0] == pytest.approx(0.95, abs=1e-9)  # what equal weights give
    # the slope's standard error: weights (mean / se)^2, se of each tight bin 0.1 x sqrt(100 /
    # 99) / 10; the noisy bin lies far off the line (ln 8 against about 0.5 ln 8), so the
    # reduced chi-square is above 1 and the error is scaled by it: numpy's weighted polyfit
    # (weights sqrt(w) on the residuals, covariance scaled by chi^2 / (4 - 2)) gives the same
    se = 0.1 * math.sqrt(100 / 99) / 10
    w = np.array([(1.0 / se) ** 2, (math.sqrt(2) / se) ** 2, (2.0 / se) ** 2, 5.0])
    fit, cov = np.polyfit(x, y, 1, w=np.sqrt(w), cov=True)
    assert slope == pytest.approx(float(fit[0]), rel=1e-9)
    assert stderr == pytest.approx(math.sqrt(float(cov[0, 0])), rel=1e-6)
    xbar = float(np.average(x, weights=w))
    assert stderr > 1 / math.sqrt(float((w * (x - xbar) ** 2).sum()))  # the bins' errors alone


def test_metaorder_bins_count_children_so_a_partly_filled_child_stays_with_whole_ones() -> None:
    # 60 one-child parents: 50 whose child took its 100 shares and moved the mid 1 bps, 10 whose
    # child took 30 (a thin book) and moved it 3 bps; 40 of two children (200 shares, 1.5 bps)
    # and 40 of four (400 shares, 2.0 bps), each +-0.2 bps. By children the one-child bin holds
    # all 60: mean size (50 x 100 + 10 x 30) / 60 = 88.33, mean impact (50 + 30) / 60 = 1.333.
    # By shares the ten 30-share parents would make a bin of their own at 3 bps, above the rest.
    sizes, moves, lengths = [], [], []
    for n, size, impact, children in [
        (50, 100, 1.0, 1),
        (10, 30, 3.0, 1),
        (40, 200, 1.5, 2),
        (40, 400, 2.0, 4),
    ]:
        sizes += [size] * n
        moves += [impact + 0.2, impact - 0.2] * (n // 2)
        lengths += [children] * n
    size, move = np.array(sizes, float), np.array(moves)

    slope, used, _ = _binned_exponent(size, move, np.array(lengths))

    # by hand: the three bins' means and weights (mean / se)^2, fitted by numpy's weighted fit
    bins = [(slice(0, 60)), (slice(60, 100)), (slice(100, 140))]
    x = np.log([float(size[b].mean()) for b in bins])
    means = [float(move[b].mean()) for b in bins]
    ses = [float(move[b].std(ddof=1)) / math.sqrt(len(move[b])) for b in bins]
    assert means[0] == pytest.approx(80 / 60) and float(size[bins[0]].mean()) == pytest.approx(
        5300 / 60
    )
    w = np.array([(m / e) ** 2 for m, e in zip(means, ses, strict=True)])
    assert used == 3
    assert slope == pytest.approx(float(np.polyfit(x, np.log(means), 1, w=np.sqrt(w))[0]))
    by_shares, used_by_shares, _ = _binned_exponent(size, move)
    assert used_by_shares == 4 and by_shares is not None and by_shares < slope  # the 30s' bin


def test_parent_of_reads_the_metaorder_from_a_child_id() -> None:
    from services.institutions import parent_of

    assert parent_of("institution-2.17-40391") == "institution-2.17"
    assert parent_of("institution-40391") is None  # an id from before parents were named
    assert parent_of("noise-5") is None


def test_metaorder_impact_reversion_is_the_share_left_ten_seconds_after_the_end() -> None:
    # 31 buy metaorders of 1-4 children; each lifts the mid by 3 (children) bps by 0.05 s after
    # its last child, then falls back to two thirds of that lift 5 s later and stays there
    # until the next parent, 20 s on: remaining / peak = 2/3 for every parent, so the ratio of
    # means is 2/3 with no error. The last parent ends 6 s before the tape does: its impact
    # counts, its reversion cannot be seen.
    mid = 50_000_000.0
    stamps, mids, fills = [T0], [mid], []
    t = T0 + SECOND
    sizes = [1, 2, 3, 4] * 7 + [1, 2, 3]
    for parent, children in enumerate(sizes):
        for n in range(children):
            fills.append(child_fill(f"institution-1.{parent}-{len(fills)}", t + n * SECOND // 10))
        last = t + (children - 1) * SECOND // 10
        lift = 3 * children / 1e4
        stamps += [last + SECOND // 20, last + 5 * SECOND]
        mids += [mid * (1 + lift), mid * (1 + 2 * lift / 3)]
        mid = mids[-1]
        t = last + 20 * SECOND
    end = last + 6 * SECOND
    nbbo = nbbo_at([*stamps, end], [*mids, mid])
    table = realism_table({"nbbo": nbbo, "destination_fills": pd.DataFrame(fills)})
    got = row(table, "impact reversion: remaining / peak", "last child + 10 s vs + 0.1 s")
    assert got["value"] == pytest.approx(2 / 3, abs=1e-3)
    assert got["stderr"] == pytest.approx(0.0, abs=1e-3)
    assert got["n"] == 30 and bool(got["in_band"])
    impact = row(table, "exponent of metaorder impact against size", "first child to last + 0.1 s")
    assert impact["n"] == 31


def test_metaorder_impact_reversion_needs_thirty_metaorders() -> None:
    fills = pd.DataFrame([child_fill("institution-0.1-1", T0 + 2 * SECOND, side="sell")])
    nbbo = nbbo_from_mids([50_000_000.0] * 40)
    table = realism_table({"nbbo": nbbo, "destination_fills": fills})
    got = row(table, "impact reversion: remaining / peak", "last child + 10 s vs + 0.1 s")
    assert got["value"] is None or pd.isna(got["value"])
    assert got["n"] == 1 and "not enough data (1)" in got["note"]


def test_metaorder_impact_reversion_has_no_value_when_the_peak_is_not_above_zero() -> None:
    # 40 one-child buy metaorders, 20 s apart; half lift the mid 2 bps, half drop it 2 bps and
    # the mid stays: mean peak impact 0 bps, so there is no share of it to report
    mid = 50_000_000.0
    stamps, mids, fills = [T0], [mid], []
    t = T0 + SECOND
    for parent in range(40):
        fills.append(child_fill(f"institution-0.{parent}-{parent}", t))
        mid *= 1 + (2 if parent % 2 == 0 else -2) / 1e4
        stamps.append(t + SECOND // 20)
        mids.append(mid)
        t += 20 * SECOND
    nbbo = nbbo_at([*stamps, t], [*mids, mid])
    table = realism_table({"nbbo": nbbo, "destination_fills": pd.DataFrame(fills)})
    got = row(table, "impact reversion: remaining / peak", "last child + 10 s vs + 0.1 s")
    assert got["value"] is None or pd.isna(got["value"])
    assert got["n"] == 40 and "not above zero" in got["note"]
