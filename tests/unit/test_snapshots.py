"""What a restarted service rejoins from: the trade journal, the state file, the accounts'
replay, and the scenario's restart policy (docs/RELIABILITY.md, "Restart policy")."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from config.scenario import DEFAULT_SCENARIO, ScenarioError, scenario_from_dict
from services.dealer.core import Accounts
from services.snapshots import Journal, read_journal, read_state, write_state

TRADES = [
    ("ACME", -300, 50_057_600, 50_045_000.0, False, 0, 900_000),  # sold to an investor, PFOF paid
    ("ACME", 200, 50_030_000, 50_045_000.0, True, 600, 0),  # a hedge bought on a venue, fee paid
    ("BOLT", 100, 20_010_000, 20_015_000.0, False, 0, 300),
]


def test_journal_entries_read_back_in_order_and_a_torn_last_entry_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "wh-a.journal"
    journal = Journal(path)
    for trade in TRADES:
        journal.append(trade)
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole + whole[:9])  # a death in mid-write: a length and half an entry

    entries, torn = read_journal(path)

    assert [tuple(e) for e in entries] == TRADES and torn == 9
    assert read_journal(tmp_path / "none.journal") == ([], 0)


def test_replaying_the_journal_rebuilds_the_accounts_exactly(tmp_path: Path) -> None:
    live = Accounts()
    journal = Journal(tmp_path / "j")
    live.on_trade = journal.append
    for symbol, qty, price, mid, hedge, fee, pfof in TRADES:
        live.trade(symbol, qty, price, mid, hedge=hedge, fee=fee, pfof=pfof)
    journal.close()
    rebuilt = Accounts()
    told: list[object] = []
    rebuilt.on_trade = told.append

    for entry in read_journal(tmp_path / "j")[0]:
        rebuilt.replay(entry)

    # by hand: cash = 300 x 50.0576 - 0.9 (PFOF) - 200 x 50.03 - 0.0006 (fee) - 100 x 20.01
    # - 0.0003 (PFOF), in micro-dollars
    assert (
        rebuilt.cash == 300 * 50_057_600 - 900_000 - 200 * 50_030_000 - 600 - 100 * 20_010_000 - 300
    )
    assert rebuilt.inventory == {"ACME": -100, "BOLT": 100}
    assert (rebuilt.pfof_paid, rebuilt.fees) == (900_300, 600)
    assert rebuilt.components({"ACME": 50_045_000.0, "BOLT": 20_015_000.0}) == live.components(
        {"ACME": 50_045_000.0, "BOLT": 20_015_000.0}
    )
    assert told == []  # a replay is not journaled again
    assert rebuilt.on_trade == told.append


def test_state_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "snapshots" / "wh-a.state"
    write_state(path, b"first")
    write_state(path, b"second")

    assert read_state(path) == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["wh-a.state"]  # no temporary left
    assert read_state(tmp_path / "none.state") is None


def _default(**restart: object) -> dict:
    data = tomllib.loads(DEFAULT_SCENARIO.read_text())
    data["restart"] = restart
    return data


def test_restart_policy_names_wholesalers_only_and_says_why_not_others() -> None:
    ok = scenario_from_dict(_default(services=["wh-a", "wh-b"], max_restarts=2), "t")
    assert ok.restart.services == ["wh-a", "wh-b"] and ok.restart.max_restarts == 2

    with pytest.raises(ScenarioError, match=r"restart.services: 'lit-a' is a venue, which cannot "
                       r"be restarted: a restarted book has lost its resting orders"):  # fmt: skip
        scenario_from_dict(_default(services=["lit-a"]), "t")
    with pytest.raises(ScenarioError, match=r"restart.services: 'wh-z' is not a service"):
        scenario_from_dict(_default(services=["wh-z"]), "t")
    with pytest.raises(ScenarioError, match=r"restart.services: duplicate name"):
        scenario_from_dict(_default(services=["wh-a", "wh-a"]), "t")
    with pytest.raises(ScenarioError, match=r"max_restarts"):
        scenario_from_dict(_default(services=["wh-a"], max_restarts=0), "t")
