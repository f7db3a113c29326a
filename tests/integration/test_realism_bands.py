"""The built-in default market, left to trade for four minutes, looks like a real one.

One lab of the default scenario with no injected orders. From its tape the test reads the
stylized facts (``orchestration/realism.py``, each statistic unit-tested in closed form in
``tests/unit/test_realism.py``) and holds every symbol inside the band real markets show for
the facts issue 16 names: heavy tails, volatility clustering and long memory of order signs,
and concave metaorder impact that partly reverts (every symbol's metaorders in one fit). The
bands are written out
here, from their sources (docs/MARKET.md, "Stylized facts"), not read from the code that
reports them. A change that pushes one of these facts out of its
band fails here. Its first form held every symbol's 1 s kurtosis above 3 and failed one run in
four (2026-12-03, a CI run: ACME 2.89, BOLT 5.17, CRUX 5.15): a sample kurtosis of 240
returns scatters that much, so it is the three symbols' mean that must be above 3 now.

The same run also checks the market's quality as test_market did on eight seconds: every NBBO
two-sided and updating, spreads of a liquid stock, hardly ever locked or crossed, the mid near
the latent value, every venue trading.

The checks are set so that the calm market (``scenarios/calm-market.toml``, the default until
2026-12-03: constant volatility, no institutions) fails them: the kurtosis and the |returns|
lag-1 checks every time, the lag-10 checks most of the time (their thresholds are the band's
own, or near it, since the hedging makers of 2026-12-04 weakened both facts; below), and the
metaorder check always (it has no metaorders): the test fails if a change takes a mechanism
away. The lag-1 sign autocorrelation is not checked: one marketable order that takes
several resting orders prints several trades of one sign, so it is positive without any
metaorders (0.15-0.21 in the calm market).

What this test does not assert (docs/MARKET.md shows the default's long run): kurtosis at 10
and 60 s and the returns' autocorrelation at 10 s (24 ten-second returns is under the 30 a
statistic needs); the Hill tail index (12 order statistics in four minutes: a standard error
near 1 on a band 2 to 5); the trade signs' autocorrelation at lag 100 (its standard error is
as large as the value); one symbol's metaorder impact and its reversion (errors of 0.15-0.35
and 0.2-0.3 in four minutes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from config.scenario import load_scenario
from orchestration.market_quality import market_quality
from orchestration.realism import realism_table
from orchestration.tape import build_tables
from tests.helpers import market_alone

SECONDS = 240.0


def value(table: pd.DataFrame, symbol: str, metric: str, horizon: str) -> float:
    row = table[
        (table["symbol"] == symbol) & (table["metric"] == metric) & (table["horizon"] == horizon)
    ]
    assert len(row) == 1, (symbol, metric, horizon, table["metric"].unique())
    found = row["value"].iloc[0]
    assert pd.notna(found), row.to_dict(orient="records")
    return float(found)


@pytest.mark.timeout(SECONDS + 180)
def test_default_market_shows_the_stylized_facts_and_tracks_value(tmp_path: Path) -> None:
    scenario = load_scenario()
    lab, codes = asyncio.run(
        asyncio.wait_for(market_alone(scenario, tmp_path, SECONDS), SECONDS + 120)
    )
    assert all(code == 0 for code in codes.values()), codes
    tables = build_tables(lab.run_dir, lab.config)
    facts = realism_table(tables)
    print(facts[["symbol", "metric", "horizon", "value", "n"]].to_string())

    pooled: dict[str, list[float]] = {"kurtosis 1 s": [], "|r| lag 10": [], "signs lag 10": []}
    for symbol in scenario.symbol_names:
        got = {
            # heavy tails (Cont 2001, fact 2): excess kurtosis well above 3 at short horizons
            "kurtosis 1 s": value(facts, symbol, "excess kurtosis of mid returns", "1 s"),
            # volatility clustering (Cont facts 6, 8): |returns| positively autocorrelated
            "|r| lag 1": value(facts, symbol, "autocorrelation of |returns|", "1 s, lag 1"),
            "|r| lag 10": value(facts, symbol, "autocorrelation of |returns|", "1 s, lag 10"),
            # long memory of order signs (Lillo & Farmer 2004): positive, decaying slowly
            "signs lag 10": value(facts, symbol, "autocorrelation of trade signs", "lag 10"),
        }
        print(symbol, got)
        # the calm market (scenarios/calm-market.toml, constant volatility): 0.1-0.3
        assert got["kurtosis 1 s"] > 1.5, (symbol, got)
        # the calm market: +0.01, -0.11, -0.01; the default 0.14-0.34 in four runs
        assert got["|r| lag 1"] > 0, (symbol, got)
        for name in pooled:
            pooled[name].append(got[name])
    mean = {name: sum(values) / len(values) for name, values in pooled.items()}
    print("means over the symbols", mean)
    # One symbol's four minutes are too few for these three: a sample kurtosis of 240 returns
    # of a volatility mixture scatters widely (4.7-6.8 per symbol in 300-600 s runs, 3.0 once
    # under other settings), and at lag 10 the standard error (about 0.065 for |returns|,
    # 0.03-0.05 for signs) is near the value. The three symbols' mean has a third of the
    # variance; the kurtosis and sign thresholds leave out the calm market, which has none of
    # these facts (kurtosis 0.1-0.3; at lag 10, |returns| -0.04 to +0.01 and signs -0.01 to
    # 0.00), by more than the mean's standard error (0.037 and 0.016 at lag 10).
    assert mean["kurtosis 1 s"] > 3.0, mean  # the default: 4.3-6.8 in five 240 s runs
    # |returns| at lag 10: the band itself (positive). It was > 0.04 until the makers hedged
    # (2026-12-04): their lean adds short-lived return noise that no volatility regime
    # clusters: 0.19 and 0.07 in two runs before (0.11-0.18 in three with a stronger lean and
    # no hedge), 0.04-0.14 in five runs of the default since (0.18 -> 0.12 in 600 s runs with
    # retail flow), so 0.04 would fail about one run in ten. At 0 it fails
    # about one in a hundred (mean 0.087, standard error 0.037); the calm market still fails
    # the kurtosis check and, on two of its three symbols, the lag-1 check above.
    assert mean["|r| lag 10"] > 0.0, mean
    # signs at lag 10: > 0.02 until the makers hedged; informed traders now also trade
    # against the makers' lean, and the default's mean fell from about 0.08 to 0.037-0.073
    # (six 240 s runs, mean 0.055, standard error 0.016): 0.02 would fail about one run in
    # seventy, 0.01 one in four hundred; the calm market (-0.01 to 0.00) still fails it most
    # often, and always fails the kurtosis check.
    assert mean["signs lag 10"] > 0.01, mean

    # The metaorder metric reads the real tape end to end (its statistics are unit-tested by
    # hand; four minutes are too few to band it, docs/MARKET.md): each symbol's parents are
    # found from their children's order ids, and their moves are taken net of the recorded
    # latent value. Six institutions, each starting a parent about every 1.1 s (a 0.5 s pause,
    # then about three children 0.2 s apart), give 412-443 parents per symbol in four minutes
    # (five such runs, 2026-12-04); 200 leaves room, and a tape that lost the parents' ids or
    # the value would give none.
    impact = facts[facts["metric"] == "exponent of metaorder impact against size"]
    assert set(impact["symbol"]) == {*scenario.symbol_names, "all symbols"}
    for _, got in impact.iterrows():
        assert got["n"] > 200 and "net of the latent value's move" in got["note"], got.to_dict()
    # Concave impact (Lillo, Farmer & Mantegna 2003; Toth et al. 2011: an exponent near 0.5):
    # the default's makers lean their quotes against their inventory and hedge it away with a
    # 1 s half-life, so a metaorder's impact grows while its children come and saturates. One
    # symbol's four minutes leave the exponent an error of 0.2-0.4; every symbol's metaorders
    # in one fit (about 1,300) leave 0.13-0.21 (docs/MARKET.md, "The default market since
    # 2026-12-04": 0.72-0.77 in three runs of the default, 0.60-0.77 over eight runs of
    # several settings). The error bound fails a market whose metaorders move the
    # mid by nothing measurable: the default before the hedge gave 1.52 +- 1.01 and 0.56 +-
    # 0.68 pooled from two such runs (2026-12-04).
    pooled_impact = impact[impact["symbol"] == "all symbols"].iloc[0]
    print("pooled metaorder impact", pooled_impact.to_dict())
    assert pd.notna(pooled_impact["value"]), pooled_impact.to_dict()
    assert 0.0 < pooled_impact["value"] < 1.0, pooled_impact.to_dict()
    assert pooled_impact["stderr"] < 0.4, pooled_impact.to_dict()
    # Impact that partly reverts (Farmer, Gerig, Lillo & Waelbroeck 2013; Bershova & Rakhlin
    # 2013: about 2/3 of the peak remains): what is left 10 s after the last child over the
    # peak 0.1 s after it. Half the default's parents are informed (since 2026-12-04): what they
    # knew stays in the price, the makers' lean fades with their hedge. The row has a value
    # only when the mean peak is two standard errors above zero. Pooled: 0.45 +- 0.14, 0.44
    # +- 0.16, 0.40 +- 0.15 in three 240 s runs (docs/MARKET.md, "The default market since
    # 2026-12-04, 16:30 UTC") and 0.64
    # +- 0.13 in this test's first run (its exponent 0.41 +- 0.08). Every
    # parent uninformed (scenarios/uninformed-metaorders.toml) leaves nothing or less (-0.19 +-
    # 0.19 in a 600 s run): that fails. Every parent informed keeps about all of it (0.97 +-
    # 0.12 in one run), which this bound catches only about half the time; impact that keeps
    # growing after the parent (makers that learn from flow: 3.7-4.4) it always catches.
    reversion = facts[
        (facts["symbol"] == "all symbols")
        & (facts["metric"] == "impact reversion: remaining / peak")
    ]
    assert len(reversion) == 1, facts["metric"].unique()
    kept = reversion.iloc[0]
    print("pooled impact reversion", kept.to_dict())
    assert pd.notna(kept["value"]), kept.to_dict()
    assert 0.0 < kept["value"] < 1.0, kept.to_dict()

    quality = market_quality(tables)
    nbbo = quality[quality["venue"] == "NBBO"].set_index("symbol")
    assert set(nbbo.index) == set(scenario.symbol_names)
    assert (nbbo["nbbo_updates_per_s"] > 2.0).all(), nbbo["nbbo_updates_per_s"]
    assert nbbo["quoted_spread_bps"].between(0.3, 25.0).all(), nbbo["quoted_spread_bps"]
    assert (nbbo["locked_crossed_share"] < 0.05).all(), nbbo["locked_crossed_share"]
    assert (nbbo["mid_value_rms_bps"] < 10.0).all(), nbbo["mid_value_rms_bps"]
    lit = quality[quality["venue"].isin([v.name for v in scenario.venues])]
    traded = lit.groupby("venue")["trades"].sum()
    assert set(traded.index) == {v.name for v in scenario.venues}
    assert (traded > 0).all(), traded
