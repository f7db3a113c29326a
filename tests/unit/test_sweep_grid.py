"""``--set KEY=V1,V2,...``: dotted paths, list indices and names, coercion, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.scenario import ScenarioError, load_scenario
from orchestration.stream_options import StreamOptions
from orchestration.sweep import INTEGER_COLUMNS, SweepSpec
from orchestration.sweep_grid import (
    apply_values,
    grid,
    parse_setting,
    point_scenario,
    scenario_data,
    with_warm_start_from,
)
from orchestration.sweep_task import SweepTask, failed_rows

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


def test_a_swept_relative_warm_start_is_taken_from_the_scenarios_folder(tmp_path: Path) -> None:
    (point,) = grid([parse_setting("dealers.warm_start=mine.json", SCENARIO)])

    moved = with_warm_start_from(point, tmp_path)

    assert moved.values["dealers.warm_start"] == str(tmp_path / "mine.json")
    assert with_warm_start_from(moved, tmp_path / "elsewhere") == moved  # absolute: kept


def test_a_sweep_with_a_missing_warm_start_is_refused_before_any_lab(tmp_path: Path) -> None:
    points = grid([parse_setting(f"dealers.warm_start={tmp_path / 'none.json'}", SCENARIO)])
    spec = SweepSpec(
        scenario=SCENARIO,
        points=points,
        replications=1,
        regimes=("pfof", "auction"),
        design="random",
        options=StreamOptions(),
        settle_s=1.0,
        out=tmp_path / "out",
    )

    with pytest.raises(ScenarioError, match=r"point p00: no such file .*none\.json"):
        spec.check()


def test_a_failed_tasks_rows_carry_every_integer_column_empty(tmp_path: Path) -> None:
    # A sweep whose every task failed has only these rows; its dataset still types them.
    (point,) = grid([parse_setting("auction.window_ms=100", SCENARIO)])
    task = SweepTask(
        point, 1, scenario_data(SCENARIO), ("pfof", "auction"), "random", StreamOptions(), 1.0,
        str(tmp_path),
    )  # fmt: skip

    frame = pd.DataFrame(failed_rows(task, "boom", [])).astype(
        {c: "Int64" for c in INTEGER_COLUMNS}
    )

    assert frame["max_queue_depth"].isna().all() and (frame["status"] == "failed").all()
