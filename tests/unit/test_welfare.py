"""Welfare against the latent value: hand-made executions, gains computed by hand.

BOLT's latent value is $10.00 until t = 2500, then $10.005. Four executions:

1. t = 1000, pfof: R1 buys 100 from wh-a (internalised) at $10.01, wh-a pays $0.0002/sh PFOF.
   retail (10.00 - 10.01) x 100 = -1.00; wh-a +1.00 - 0.02 = +0.98; broker +0.02.
2. t = 2000, commission: the SOR's child R2~1/1 buys 100 on lit-a from the lit market maker
   (mm.lit-a.BOLT-7) at $10.02; taker fee $0.003/sh (the broker pays it), maker rebate $0.002/sh;
   commission $1.00. retail -2.00 - 1.00 = -3.00; mm-lit-a +2.00 + 0.20 = +2.20;
   broker -0.30 + 1.00 = +0.70; lit-a +0.30 - 0.20 = +0.10. (The SOR's own report of the fill
   to the broker is in the table too, and must be left out.)
3. t = 2500, auction: R3 sells 200 at $9.99 in the auction; amm-0 (an auction-responding market
   maker, not a wholesaler) wins. retail (9.99 - 10.005) x 200 = -3.00; amm-0 +3.00.
4. t = 4000, outside the regimes: wh-a hedges, selling 100 on lit-b to mm.lit-b at $9.995,
   taker fee $0.003/sh, maker rebate $0.002/sh. wh-a -1.00 - 0.30 = -1.30; mm-lit-b +1.00 + 0.20
   = +1.20; lit-b +0.10.

Final NBBO 10.00 x 10.02 (mid 10.01).
"""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.welfare import OUTSIDE, welfare_legs, welfare_table, welfare_tables

FILL_COLUMNS = [
    "service",
    "order_id",
    "side",
    "qty",
    "price",
    "liquidity",
    "exec_ns",
    "fee",
    "pfof",
    "exec_id",
]
# service, order id, side, qty, price, liquidity, exec_ns, fee, pfof, exec_id
DESTINATION_FILLS = [
    ("wh-a", "R1~1", "buy", 100, 10_010_000, "internalized", 1000, 0, 20_000, "wh-a-1"),
    ("lit-a", "R2~1/1", "buy", 100, 10_020_000, "taker", 2000, 300_000, 0, "lit-a-1"),
    ("lit-a", "mm.lit-a.BOLT-7", "sell", 100, 10_020_000, "maker", 2000, -200_000, 0, "lit-a-1"),
    ("sor", "R2~1", "buy", 100, 10_020_000, "taker", 2000, 300_000, 0, "lit-a-1"),
    ("auction", "R3~1", "sell", 200, 9_990_000, "auction", 2500, 0, 0, "auction-1"),
    ("auction", "amm-0-auction-1", "buy", 200, 9_990_000, "auction", 2500, 0, 0, "auction-1"),
    ("lit-b", "wh-a-h1", "sell", 100, 9_995_000, "taker", 4000, 300_000, 0, "lit-b-1"),
    ("lit-b", "mm.lit-b.BOLT-9", "buy", 100, 9_995_000, "maker", 4000, -200_000, 0, "lit-b-1"),
]


def pnl(name: str, role: str, usd: float) -> dict:
    return {"name": name, "role": role, "component": "total", "usd": usd}


def tables() -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(
        {
            "order_id": ["R1", "R2", "R3"],
            "regime": ["pfof", "commission", "auction"],
            "symbol": "BOLT",
            "side": ["buy", "buy", "sell"],
            "qty": [100, 100, 200],
        }
    )
    fills = orders.assign(  # one fill per order, for all of it
        price=[10_010_000, 10_020_000, 9_990_000],
        fee=[0, 300_000, 0],
        pfof=[20_000, 0, 0],
        commission=[0, 1_000_000, 0],
    )
    destination_fills = pd.DataFrame(DESTINATION_FILLS, columns=FILL_COLUMNS).assign(
        symbol="BOLT", recv_ns=lambda f: f["exec_ns"], ts_ns=lambda f: f["exec_ns"]
    )
    return {
        "orders": orders,
        "fills": fills,
        "destination_fills": destination_fills,
        "values": pd.DataFrame(
            {"symbol": "BOLT", "ts_ns": [0, 2500], "value": [10_000_000, 10_005_000]}
        ),
        "routes": pd.DataFrame({"router": ["broker", "sor"]}),
        "auctions": pd.DataFrame({"auction_id": ["auction-1"], "responders": ["amm-0,wh-a"]}),
        "nbbo": pd.DataFrame(
            {
                "symbol": "BOLT",
                "seq": [1, 2],
                "ts_ns": [0, 5000],
                "bid_px": pd.array([9_990_000, 10_000_000], dtype="Int64"),
                "ask_px": pd.array([10_010_000, 10_020_000], dtype="Int64"),
            }
        ),
        "pnl": pd.DataFrame(
            [
                pnl("wh-a", "wholesaler", -1.83),
                pnl("amm-0", "auction-responder", 4.0),
                pnl("broker", "broker", 0.72),
            ]
        ),
    }


def gains(welfare: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for regime, party, micros in welfare[["regime", "party", "gain_micros"]].itertuples(False):
        out.setdefault(regime, {})[party] = micros
    return out


def test_each_party_gains_what_was_computed_by_hand() -> None:
    welfare, _ = welfare_tables(tables())

    assert gains(welfare) == {
        "pfof": {"retail": -1_000_000, "broker": 20_000, "wh-a": 980_000},
        "commission": {
            "retail": -3_000_000,
            "broker": 700_000,
            "mm-lit-a": 2_200_000,
            "lit-a": 100_000,
        },
        "auction": {"retail": -3_000_000, "amm-0": 3_000_000},
        OUTSIDE: {"wh-a": -1_300_000, "mm-lit-b": 1_200_000, "lit-b": 100_000},
    }
    assert (welfare.groupby("regime")["gain_micros"].sum() == 0).all()
    assert welfare["gain_usd"].equals(welfare["gain_micros"] / 1e6)


def test_parties_are_typed_by_what_they_are() -> None:
    welfare, _ = welfare_tables(tables())
    types = dict(zip(welfare["party"], welfare["party_type"], strict=False))

    assert types == {
        "retail": "retail",
        "broker": "broker",
        "wh-a": "wholesaler",
        "mm-lit-a": "lit_market_maker",
        "lit-a": "venue",
        "amm-0": "auction_market_maker",  # won an auction: not a wholesaler fill
        "mm-lit-b": "lit_market_maker",
        "lit-b": "venue",
    }


def test_a_metaorder_child_is_an_institution_and_gains_what_was_computed_by_hand() -> None:
    # t = 4500, outside the regimes: an institution's child (institution-2.7-3: parent 7 of
    # institution 2, the agents' order 3) buys 100 on lit-c from mm.lit-c at $10.01, taker fee
    # $0.003/sh, maker rebate $0.002/sh, against the value $10.005. institutions
    # (10.005 - 10.01) x 100 - 0.30 = -0.80; mm-lit-c +0.50 + 0.20 = +0.70; lit-c +0.10.
    base = tables()
    extra = pd.DataFrame(
        [
            ("lit-c", "institution-2.7-3", "buy", 100, 10_010_000, "taker", 4500, 300_000, 0, "c1"),
            (
                "lit-c",
                "mm.lit-c.BOLT-11",
                "sell",
                100,
                10_010_000,
                "maker",
                4500,
                -200_000,
                0,
                "c1",
            ),
        ],
        columns=FILL_COLUMNS,
    ).assign(symbol="BOLT", recv_ns=lambda f: f["exec_ns"], ts_ns=lambda f: f["exec_ns"])
    base["destination_fills"] = pd.concat([base["destination_fills"], extra], ignore_index=True)
    welfare, _ = welfare_tables(base)
    types = dict(zip(welfare["party"], welfare["party_type"], strict=False))

    assert types["institutions"] == "institutional"
    assert "unknown" not in set(types.values())
    assert gains(welfare)[OUTSIDE] == {
        "wh-a": -1_300_000,
        "mm-lit-b": 1_200_000,
        "lit-b": 100_000,
        "institutions": -800_000,
        "mm-lit-c": 700_000,
        "lit-c": 100_000,
    }


def test_executions_and_shares_count_each_execution_once() -> None:
    welfare, _ = welfare_tables(tables())
    row = welfare.set_index(["regime", "party"])

    # the SOR's duplicate report is not a second execution
    assert row.loc[("commission", "retail"), ["trades", "shares"]].tolist() == [1, 100]
    assert row.loc[("commission", "lit-a"), ["trades", "shares"]].tolist() == [1, 100]
    assert row.loc[("auction", "amm-0"), ["trades", "shares"]].tolist() == [1, 200]


def test_reconciliation_welfare_plus_revaluation_is_the_process_pnl() -> None:
    _, recon = welfare_tables(tables())
    row = recon.set_index("party")

    # wh-a sold 100 at 10.01 (value 10.00) and hedged by selling 100 at 9.995 (value 10.005);
    # final mid 10.01: revaluation -100 x 0.01 - 100 x 0.005 = -1.50.
    assert row.loc["wh-a", "welfare_usd"] == pytest.approx(-0.32)
    assert row.loc["wh-a", "revaluation_usd"] == pytest.approx(-1.50)
    assert row.loc["wh-a", "expected_pnl_usd"] == pytest.approx(-1.82)
    assert row.loc["wh-a", "residual_usd"] == pytest.approx(-0.01)  # reported -1.83
    assert row.loc["wh-a", "end_position_shares"] == 200
    # amm-0 bought 200 at 9.99 (value 10.005), marked at 10.01: 3.00 + 1.00.
    assert row.loc["amm-0", ["welfare_usd", "revaluation_usd"]].tolist() == pytest.approx(
        [3.0, 1.0]
    )
    assert row.loc["amm-0", "residual_usd"] == pytest.approx(0.0)
    assert row.loc["broker", ["welfare_usd", "residual_usd"]].tolist() == pytest.approx([0.72, 0])
    assert row.loc["wh-a", "party_type"] == "wholesaler"
    # the NBBO mid ranged 10.00 .. 10.01 over the stop window: 200 shares x $0.01 + $0.01
    assert row.loc["wh-a", "tolerance_usd"] == pytest.approx(2.01)


def test_pooled_runs_are_computed_per_run_and_summed() -> None:
    one = tables()
    pooled = {}
    for name, table in one.items():
        parts = []
        for run in ("r1", "r2"):
            part = table.copy()
            if "order_id" in part.columns and name != "auctions":
                part["order_id"] = f"{run}:" + part["order_id"]
            part.insert(0, "run", run)
            parts.append(part)
        pooled[name] = pd.concat(parts, ignore_index=True)
    single, _ = welfare_tables(one)
    welfare, recon = welfare_tables(pooled)

    assert welfare["gain_micros"].tolist() == [2 * g for g in single["gain_micros"]]
    assert recon["run"].tolist() == ["r1"] * 3 + ["r2"] * 3


def test_a_regime_that_does_not_balance_raises_naming_it() -> None:
    legs = welfare_legs(tables())
    legs.loc[legs["party"] == "amm-0", "gain"] += 1

    with pytest.raises(ValueError, match="'auction' sums to 1 micro-dollars"):
        welfare_table(legs)


def test_no_destination_fills_no_welfare() -> None:
    welfare, recon = welfare_tables({"orders": tables()["orders"], "fills": tables()["fills"]})

    assert welfare.empty and "gain_usd" in welfare.columns
    assert recon.empty and "residual_usd" in recon.columns
