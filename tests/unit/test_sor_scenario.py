"""Scenario fields for seeded books, IOIs, the agents switch and time slicing."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.scenario import ScenarioError, load_scenario, scenario_from_dict

SOR_BOOK = Path(__file__).parents[2] / "scenarios" / "sor-book.toml"


def minimal(**extra: object) -> dict:
    return {
        "name": "t",
        "symbols": [{"symbol": "ACME", "price": "100.00"}],
        "venues": [{"name": "lit-a"}],
        **extra,
    }


def test_default_scenario_has_no_seeded_books_and_agents_on() -> None:
    scenario = load_scenario()

    assert scenario.agents.enabled
    assert all(not v.book for v in scenario.venues)
    assert all(not d.book and not d.publish_ioi for d in scenario.darkpools)


def test_sor_book_scenario_loads_the_mini_project_book_on_every_symbol() -> None:
    scenario = load_scenario(SOR_BOOK)
    asks = {
        spec.name: [(lvl.price, lvl.qty) for lvl in spec.book if lvl.side == "sell"]
        for spec in [*scenario.venues, *scenario.darkpools]
    }

    assert not scenario.agents.enabled
    assert len(scenario.symbols) == 10
    assert all(
        lvl.symbol == "*" for spec in [*scenario.venues, *scenario.darkpools] for lvl in spec.book
    )
    assert asks == {
        "lit-a": [("100.02", 40_000), ("100.03", 30_000), ("100.04", 20_000)],
        "lit-b": [("100.00", 25_000), ("100.01", 20_000)],
        "mm": [("100.05", 50_000)],
        "dark-a": [("100.01", 20_000), ("100.02", 15_000)],
        "dark-b": [("99.99", 15_000), ("100.00", 10_000)],
    }
    assert all(d.publish_ioi for d in scenario.darkpools)


def test_seed_level_unknown_symbol_raises_naming_the_key() -> None:
    data = minimal(
        venues=[
            {"name": "lit-a", "book": [{"symbol": "NOPE", "side": "sell", "price": "1", "qty": 1}]}
        ]
    )

    with pytest.raises(ScenarioError, match=r"venues\.lit-a\.book: unknown symbol 'NOPE'"):
        scenario_from_dict(data)


@pytest.mark.parametrize(
    ("level", "key"),
    [
        ({"side": "short", "price": "1", "qty": 1}, "side"),
        ({"side": "sell", "price": "1", "qty": 0}, "qty"),
        ({"side": "sell", "price": "one", "qty": 1}, "price"),
        ({"side": "sell", "price": "1", "qty": 1, "venue": "x"}, "venue"),
    ],
)
def test_seed_level_invalid_raises_naming_the_key(level: dict, key: str) -> None:
    data = minimal(darkpools=[{"name": "dark-a", "book": [level]}])

    with pytest.raises(ScenarioError, match=key):
        scenario_from_dict(data)


def test_sor_time_slicing_defaults_and_bounds() -> None:
    scenario = scenario_from_dict(minimal())

    assert (scenario.sor.twap_horizon_ms, scenario.sor.twap_slices, scenario.sor.pov_rate) == (
        2_000,
        5,
        0.1,
    )
    with pytest.raises(ScenarioError, match="pov_rate"):
        scenario_from_dict(minimal(sor={"pov_rate": 1.0}))
