"""``--set KEY=V1,V2,...``: dotted paths, list indices and names, coercion, clear errors."""

from __future__ import annotations

import pytest

from config.scenario import ScenarioError, load_scenario
from orchestration.sweep_grid import (
    apply_values,
    grid,
    parse_setting,
    point_scenario,
    scenario_data,
)

SCENARIO = load_scenario()


def test_parse_setting_coerces_to_the_keys_type() -> None:
    assert parse_setting("auction.window_ms=100,300", SCENARIO).values == (100, 300)
    assert parse_setting("stream.informed_share=0,0.3", SCENARIO).values == (0.0, 0.3)
    assert isinstance(parse_setting("stream.informed_share=0,1", SCENARIO).values[0], float)
    # a dollar amount is a string key: kept exactly as written
    money = parse_setting("wholesalers.0.pfof_per_share=0,0.002", SCENARIO)
    assert money.values == ("0", "0.002")
    assert parse_setting("auction.disclose_broker=true,false", SCENARIO).values == (True, False)


def test_parse_setting_list_element_by_name() -> None:
    setting = parse_setting("wholesalers.wh-a.fill_rate=0.5,1", SCENARIO)
    assert setting.values == (0.5, 1.0)


def test_parse_setting_unknown_key_names_the_known_ones() -> None:
    expected = r"--set auction.windw_ms: no key 'windw_ms'.*window_ms"
    with pytest.raises(ScenarioError, match=expected):
        parse_setting("auction.windw_ms=1,2", SCENARIO)


def test_parse_setting_index_out_of_range_is_clear() -> None:
    with pytest.raises(ScenarioError, match=r"index 9 out of range"):
        parse_setting("wholesalers.9.fill_rate=1", SCENARIO)


def test_parse_setting_refuses_a_table_the_seed_and_bad_syntax() -> None:
    with pytest.raises(ScenarioError, match="is a table"):
        parse_setting("auction=1", SCENARIO)
    with pytest.raises(ScenarioError, match="common random numbers"):
        parse_setting("seed=1,2", SCENARIO)
    with pytest.raises(ScenarioError, match="expected KEY=V1,V2"):
        parse_setting("auction.window_ms", SCENARIO)


def test_grid_is_the_product_first_key_slowest() -> None:
    points = grid(
        [
            parse_setting("auction.window_ms=100,300", SCENARIO),
            parse_setting("agents.auction_responders.count=0,1,2", SCENARIO),
        ]
    )
    assert [p.point for p in points] == ["p00", "p01", "p02", "p03", "p04", "p05"]
    assert points[1].values == {"auction.window_ms": 100, "agents.auction_responders.count": 1}
    assert points[3].label() == "auction.window_ms=300, agents.auction_responders.count=0"


def test_grid_refuses_a_key_twice() -> None:
    setting = parse_setting("auction.window_ms=100", SCENARIO)
    with pytest.raises(ScenarioError, match="given twice"):
        grid([setting, setting])


def test_apply_values_changes_a_copy_only() -> None:
    data = scenario_data(SCENARIO)
    changed = apply_values(data, {"wholesalers.1.decision_us": 999})
    assert changed["wholesalers"][1]["decision_us"] == 999
    assert data["wholesalers"][1]["decision_us"] != 999


def test_point_scenario_validates_through_the_loader() -> None:
    points = grid([parse_setting("auction.window_ms=250,-5", SCENARIO)])
    data = scenario_data(SCENARIO)
    assert point_scenario(data, points[0]).auction.window_ms == 250
    with pytest.raises(ScenarioError, match=r"cannot load scenario point p01 .*window_ms"):
        point_scenario(data, points[1])


def test_a_star_sets_every_element_of_a_list() -> None:
    setting = parse_setting("wholesalers.*.pfof_per_share=0,0.003", SCENARIO)
    assert setting.values == ("0", "0.003")
    data = scenario_data(SCENARIO)
    changed = apply_values(data, {"wholesalers.*.pfof_per_share": "0"})
    assert [w["pfof_per_share"] for w in changed["wholesalers"]] == ["0", "0", "0"]
    assert [w["pfof_per_share"] for w in data["wholesalers"]] == ["0.0035", "0.0030", "0.0026"]
    scenario = point_scenario(data, grid([setting])[1])
    assert {w.pfof_per_share for w in scenario.wholesalers} == {"0.003"}
    with pytest.raises(ScenarioError, match=r"'\*' must stand for the elements of"):
        parse_setting("auction.*=1", SCENARIO)
