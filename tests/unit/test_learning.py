"""Learning and competition summaries from small hand-made tables (expected values by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from orchestration.learning import (
    MOVING,
    SETTLE_PERIODS,
    SETTLED,
    TOO_FEW,
    flow_summary,
    markup_summary,
)
from orchestration.report import write_report
from tests.unit.test_metrics import sample_fills, sample_orders

K = SETTLE_PERIODS


def settled_rows(
    dealer: str, channel: str, held: list[float], played: list[float] | None = None, **columns
) -> list[dict]:
    played = played or held
    n = len(held)
    orders = columns.get("shares", [10] * n)
    rewards = columns.get("rewards", [0] * n)
    return [
        {
            "dealer": dealer,
            "channel": channel,
            "period": k,
            "ts_ns": 1_000 * (k + 1),
            "markup_share": played[k],
            "held_share": held[k],
            "shares": orders[k],
            "reward_per_100_shares": rewards[k],
        }
        for k in range(n)
    ]


def markups_table() -> pd.DataFrame:
    # wh-a internalize: K + 2 periods; over the last K it holds 0.5 or 0.6, one grid step (0.1)
    # apart: settled. Rewards 100, 200, ... micro-dollars per 100 shares, 10 shares each.
    steady = [0.5, 0.5] + [0.6 if k % 2 == 0 else 0.5 for k in range(K)]  # ends at 0.5
    internalize = settled_rows(
        "wh-a", "internalize", steady, rewards=[100 * (k + 1) for k in range(K + 2)]
    )
    # wh-a auction: K periods drifting down one step a period: 0.2 apart at least -> moving.
    drifting = [round(0.9 - 0.1 * k, 1) for k in range(K)]
    auction = settled_rows("wh-a", "auction", drifting)
    # amm-0 auction: 3 periods, no state at stop. Profit 1 x 1000 - 3 x 1000 + 4 x 500 = 0
    # (rewards per 100 shares, weighted by the shares competed for).
    few = settled_rows(
        "amm-0",
        "auction",
        [0.5, 0.5, 0.5],
        played=[0.5, 0.6, 0.5],
        shares=[1, 3, 4],
        rewards=[1_000, -1_000, 500],
    )
    return pd.DataFrame(internalize + auction + few)


def dealer_states() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dealer": ["wh-a", "wh-a"],
            "role": ["wholesaler", "wholesaler"],
            "channel": ["internalize", "auction"],
            "ts_ns": [99_000, 99_000],
            "periods": [30 + K + 2, K],  # internalize started from a warm start of 30 periods
            "held_share": [0.5, 0.9 - 0.1 * (K - 1)],
            "grid_step_share": [0.1, 0.1],
            "plays": [30 + K + 2, K],
        }
    )


def test_markup_summary_per_dealer_and_channel() -> None:
    table = markup_summary(markups_table(), dealer_states())
    rows = {(r["dealer"], r["channel"]): r for r in table.to_dict(orient="records")}

    assert list(rows) == [("amm-0", "auction"), ("wh-a", "auction"), ("wh-a", "internalize")]
    steady = rows["wh-a", "internalize"]
    assert (steady["periods"], steady["learned_periods"], steady["role"]) == (
        K + 2,
        30 + K + 2,
        "wholesaler",
    )
    assert (steady["first_held_share"], steady["last_held_share"]) == (0.5, 0.5)
    # equal orders: the mean of 100 ... 100 (K + 2) micro-dollars
    mean = sum(100 * (k + 1) for k in range(K + 2)) / (K + 2) / 1e6
    assert steady["mean_reward_usd_per_100_shares"] == pytest.approx(mean)
    assert steady["last_range_share"] == pytest.approx(0.1)
    assert (steady["settled"], steady["status"]) == (True, SETTLED)

    drift = rows["wh-a", "auction"]
    assert drift["first_held_share"] == 0.9
    assert drift["last_held_share"] == pytest.approx(0.9 - 0.1 * (K - 1))
    assert drift["last_range_share"] == pytest.approx(0.1 * (K - 1))
    assert (drift["settled"], drift["status"]) == (False, MOVING)


def test_markup_summary_fewer_than_k_periods_is_not_enough() -> None:
    row = markup_summary(markups_table(), dealer_states()).iloc[0].to_dict()

    assert (row["dealer"], row["periods"]) == ("amm-0", 3)
    assert row["settled"] is None and row["status"] == TOO_FEW
    assert row["mean_reward_usd_per_100_shares"] == 0.0  # (1,000 - 3,000 + 2,000) / 8 shares
    # no state at stop: no role or total, and the grid step is the smallest gap it played
    assert pd.isna(row["role"]) and pd.isna(row["learned_periods"])
    assert row["grid_step_share"] == pytest.approx(0.1)


def test_markup_summary_a_jump_of_two_steps_within_the_last_k_is_moving() -> None:
    held = [0.5] * (K - 1) + [0.7]
    row = markup_summary(pd.DataFrame(settled_rows("wh-b", "auction", held)), None).iloc[0]

    # grid inferred from what it played: 0.5 and 0.7 only, so the step looks like 0.2
    assert row["grid_step_share"] == pytest.approx(0.2)
    assert row["status"] == SETTLED
    states = pd.DataFrame(
        {"dealer": ["wh-b"], "channel": ["auction"], "grid_step_share": [0.1], "periods": [K]}
    )
    row = markup_summary(pd.DataFrame(settled_rows("wh-b", "auction", held)), states).iloc[0]
    assert row["status"] == MOVING  # with the state's true grid, 0.2 is two steps


def review_rows(shares: dict[str, list[float]], demoted: dict[str, list[bool]]) -> pd.DataFrame:
    rows = []
    for review in range(len(next(iter(shares.values())))):
        for name in shares:
            rows.append(
                {
                    "review": review,
                    "ts_ns": 1_000 * review,
                    "wholesaler": name,
                    "flow_share": shares[name][review],
                    "demoted": demoted[name][review],
                }
            )
    return pd.DataFrame(rows)


def scorecards() -> pd.DataFrame:
    shares = {
        "wh-a": [0.45, 0.05, 0.05, 0.30, 0.05],
        "wh-b": [0.50, 0.90, 0.60, 0.65, 0.90],
        "wh-c": [0.05, 0.05, 0.35, 0.05, 0.05],
    }
    demoted = {
        "wh-a": [False, True, True, False, True],
        "wh-b": [False] * 5,
        "wh-c": [True, True, False, True, True],
    }
    return review_rows(shares, demoted)


def test_flow_summary_demotions_and_regained_flow() -> None:
    table = flow_summary(scorecards()).set_index("wholesaler")

    a, b, c = (table.loc[n].to_dict() for n in ("wh-a", "wh-b", "wh-c"))
    # wh-a: demoted at reviews 1 and 4 (two demotions, three reviews demoted); back above the
    # floor (0.05) at review 3
    assert (a["reviews"], a["demotions"], a["periods_demoted"]) == (5, 2, 3)
    assert (a["flow_share_first"], a["flow_share_last"]) == (0.45, 0.05)
    assert a["flow_share_mean"] == pytest.approx(0.9 / 5)
    assert a["floor_share"] == 0.05 and a["regained_flow"] is True
    # wh-b: never demoted
    assert (b["demotions"], b["periods_demoted"], b["regained_flow"]) == (0, 0, None)
    assert b["flow_share_mean"] == pytest.approx(3.55 / 5)
    # wh-c: demoted from its first review; 0.35 at review 2; demoted again at review 3
    assert (c["demotions"], c["periods_demoted"], c["regained_flow"]) == (2, 4, True)
    assert c["flow_share_mean"] == pytest.approx(0.55 / 5)


def test_flow_summary_back_from_demotion_at_the_floor_is_not_regained() -> None:
    cards = review_rows(
        {"wh-a": [0.05, 0.05, 0.05], "wh-b": [0.95, 0.95, 0.95]},
        {"wh-a": [True, False, False], "wh-b": [False, False, False]},
    )

    row = flow_summary(cards).set_index("wholesaler").loc["wh-a"]

    assert (row["demotions"], row["periods_demoted"]) == (1, 1)
    assert row["regained_flow"] is False  # no longer demoted, but still only the floor


def test_flow_summary_per_run_when_runs_are_pooled() -> None:
    first = scorecards().assign(run="r1")
    second = scorecards().assign(run="r2")
    second["flow_share"] = second["flow_share"].where(~second["demoted"], 0.1)  # floor 0.1

    table = flow_summary(pd.concat([first, second], ignore_index=True))

    assert table[["run", "wholesaler"]].values.tolist() == [
        [run, name] for run in ("r1", "r2") for name in ("wh-a", "wh-b", "wh-c")
    ]
    assert table["floor_share"].tolist() == [0.05] * 3 + [0.1] * 3  # the run's floor


def test_flow_summary_scorecards_without_flow_shares_show_them_unknown() -> None:
    cards = scorecards().assign(flow_share=0.0)  # a tape recorded before flow shares

    row = flow_summary(cards).set_index("wholesaler").loc["wh-a"]

    assert row["demotions"] == 2
    assert pd.isna(row["flow_share_mean"]) and row["regained_flow"] is None


def test_summaries_of_missing_or_empty_tables_are_empty() -> None:
    assert markup_summary(None).empty and flow_summary(None).empty
    assert markup_summary(pd.DataFrame(columns=["dealer"])).empty


def _report(tmp_path: Path, tables: dict) -> tuple[dict, str]:
    summary = write_report(
        tmp_path,
        scenario="default",
        seed=1,
        run_dir="runs/x",
        processes=[],
        tables={"orders": sample_orders(), "fills": sample_fills(), **tables},
        plots=False,
        n_boot=10,
    )
    return summary, (tmp_path / "report.md").read_text(encoding="utf-8")


def test_report_learning_section_and_summary_key(tmp_path: Path) -> None:
    tables = {
        "markups": markups_table(),
        "dealer_states": dealer_states(),
        "scorecards": scorecards(),
    }

    summary, text = _report(tmp_path, tables)

    learning = json.loads((tmp_path / "summary.json").read_text())["learning"]
    assert learning == summary["learning"]
    assert learning["settle_periods"] == K
    assert [(d["dealer"], d["channel"], d["status"]) for d in learning["dealers"]] == [
        ("amm-0", "auction", TOO_FEW),
        ("wh-a", "auction", MOVING),
        ("wh-a", "internalize", SETTLED),
    ]
    assert [w["regained_flow"] for w in learning["wholesalers"]] == [True, None, True]
    assert "## Learning and competition" in text and f"last {K} learning periods" in text
    assert "| wh-a | internalize | 12 | 42 | 50.0% | 50.0% |" in text
    assert "| wh-b | 5 | 0 | 0 | 50.0% | 90.0% | 71.0% | never demoted |" in text
    assert (tmp_path / "markup_learning.parquet").exists()
    assert (tmp_path / "flow_competition.parquet").exists()


def test_report_on_a_tape_without_learning_says_so(tmp_path: Path) -> None:
    summary, text = _report(tmp_path, {})

    assert summary["learning"]["dealers"] == [] and summary["learning"]["wholesalers"] == []
    assert "No learning period settled on this tape" in text
    assert "No broker scorecard on this tape" in text
