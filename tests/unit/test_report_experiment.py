"""Experiment plans: designs, replications with derived seeds, and pooling runs' tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.scenario import ScenarioError, load_scenario
from orchestration.experiment import (
    RunResult,
    derive_seed,
    plan_runs,
    plan_streams,
    pool_tables,
)
from orchestration.run_plan import RunPlan
from orchestration.streams import StreamOptions

SCENARIO = load_scenario()


def test_plan_runs_random_design_one_run_per_replication_with_all_arms():
    plans = plan_runs(SCENARIO, ["pfof", "auction"], "random", repeat=3)

    assert [p.label for p in plans] == ["r1", "r2", "r3"]
    assert all(p.regimes == ("pfof", "auction") for p in plans)
    assert plans[0].stream_seed == plans[0].market_seed == SCENARIO.seed
    assert len({p.stream_seed for p in plans}) == 3


def test_plan_runs_sequential_design_same_seeds_for_every_regime():
    plans = plan_runs(SCENARIO, ["pfof", "auction", "best-ex"], "sequential", repeat=2)

    assert [p.label for p in plans] == [
        "r1-pfof",
        "r1-auction",
        "r1-best-ex",
        "r2-pfof",
        "r2-auction",
        "r2-best-ex",
    ]
    first, second = plans[:3], plans[3:]
    assert len({(p.stream_seed, p.market_seed) for p in first}) == 1
    assert first[0].stream_seed != second[0].stream_seed


def test_derive_seed_is_deterministic_and_first_replication_is_the_seed():
    assert derive_seed(42, 1) == 42
    assert derive_seed(42, 2) == derive_seed(42, 2) != derive_seed(42, 3)


@pytest.mark.parametrize(("design", "repeat"), [("latin-square", 1), ("random", 0)])
def test_plan_runs_bad_design_or_repeat_is_refused(design, repeat):
    with pytest.raises(ScenarioError):
        plan_runs(SCENARIO, ["pfof"], design, repeat)


def test_plan_streams_sequential_runs_share_one_stream_but_their_own_arm():
    plans = plan_runs(SCENARIO, ["pfof", "auction"], "sequential")

    streams = plan_streams(SCENARIO, plans, StreamOptions(orders=20))

    pfof, auction = streams["pfof"], streams["auction"]
    strip = [{k: v for k, v in row.items() if k != "regime"} for row in pfof]
    assert strip == [{k: v for k, v in row.items() if k != "regime"} for row in auction]
    assert {r["regime"] for r in pfof} == {"pfof"} and {r["regime"] for r in auction} == {"auction"}


def _tables(ids: list[str], regime: str) -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame({"order_id": ids, "regime": regime})
    fills = pd.DataFrame({"order_id": ids[:1], "regime": regime, "qty": [1]})
    nbbo = pd.DataFrame({"symbol": ["X"], "ts_ns": [1]})
    return {"orders": orders, "fills": fills, "nbbo": nbbo}


def test_pool_tables_prefixes_ids_and_adds_run_replication_and_pair_key():
    results = [
        RunResult(RunPlan(regime, 1, (regime,), 7, 7), Path(regime), None, [], {})
        for regime in ("pfof", "auction")
    ]

    pooled = pool_tables(
        results, "sequential", lambda run_dir, _: _tables(["R1", "R2"], run_dir.name)
    )

    orders = pooled["orders"]
    assert orders["order_id"].tolist() == ["pfof:R1", "pfof:R2", "auction:R1", "auction:R2"]
    assert orders["pair_key"].tolist() == ["R1", "R2", "R1", "R2"]
    assert set(orders["replication"]) == {1}
    assert pooled["fills"]["order_id"].tolist() == ["pfof:R1", "auction:R1"]
    assert pooled["nbbo"]["run"].tolist() == ["pfof", "auction"]


def test_pool_tables_single_random_run_is_left_as_built():
    results = [RunResult(RunPlan("run", 1, ("pfof",), 1, 1), Path("x"), None, [], {})]
    tables = _tables(["R1"], "pfof")

    assert pool_tables(results, "random", lambda *_: tables) is tables


def test_plan_streams_from_file_assigns_missing_regimes_and_sequential_overrides():
    rows = [
        {
            "t_ns": 0,
            "order_id": "a",
            "symbol": "ACME",
            "side": "buy",
            "qty": 1,
            "order_type": "market",
            "regime": "",
        },
        {
            "t_ns": 1,
            "order_id": "b",
            "symbol": "ACME",
            "side": "buy",
            "qty": 1,
            "order_type": "market",
            "regime": "auction",
        },
    ]

    random = plan_streams(SCENARIO, plan_runs(SCENARIO, ["pfof", "auction"]), file_rows=rows)["run"]
    sequential = plan_streams(
        SCENARIO, plan_runs(SCENARIO, ["pfof", "auction"], "sequential"), file_rows=rows
    )

    assert random[0]["regime"] in ("pfof", "auction") and random[1]["regime"] == "auction"
    assert [r["regime"] for r in sequential["pfof"]] == ["pfof", "pfof"]
    assert rows[0]["regime"] == ""  # the file's rows are not changed
