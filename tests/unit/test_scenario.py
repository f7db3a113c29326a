"""Scenario files and the resolved run config: typed, frozen, every mistake named by its key."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest
import tomli_w

from config.runconfig import RunConfig, load_run_config, write_run_config
from config.scenario import (
    DEFAULT_SCENARIO,
    LatencySpec,
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)
from orchestration.endpoints import (
    COMPOSE_CONTROL_PORT,
    COMPOSE_PORTS,
    ROLE_ENDPOINTS,
    resolve_compose,
    resolve_loopback,
    service_plan,
)

DEFAULT_DATA: dict[str, Any] = tomllib.loads(DEFAULT_SCENARIO.read_text())


def default_data() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_DATA)


def minimal_data() -> dict[str, Any]:
    return {
        "name": "minimal",
        "symbols": [{"symbol": "ACME", "price": "52.40"}],
        "venues": [{"name": "lit-a"}],
    }


def load_error(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    return str(info.value)


@pytest.fixture(scope="module")
def default_scenario() -> Scenario:
    return load_scenario()


def test_load_scenario_builtin_default_loads(default_scenario: Scenario) -> None:
    # Arrange (fixture)

    # Act
    names = default_scenario.symbol_names

    # Assert
    assert default_scenario.name == "default"
    assert names == ["ACME", "BOLT", "CRUX"]
    assert [v.name for v in default_scenario.venues] == ["lit-a", "lit-b", "lit-c"]
    assert default_scenario.symbols[0].price_micros == 52_400_000
    assert default_scenario.latency.default == LatencySpec(base_us=100, jitter_us=50)


def test_load_scenario_explicit_default_path_equals_builtin(default_scenario: Scenario) -> None:
    # Arrange
    path = DEFAULT_SCENARIO

    # Act
    loaded = load_scenario(path)

    # Assert
    assert loaded == default_scenario


def test_scenario_from_dict_minimal_fills_defaults() -> None:
    # Arrange
    data = minimal_data()

    # Act
    scenario = scenario_from_dict(data)

    # Assert
    assert scenario.seed == 1
    assert scenario.auction.window_ms == 100
    assert scenario.auction.response_updates is False
    assert scenario.darkpools == []
    assert scenario.venues[0].taker_fee == "0.0030"
    assert scenario.broker.max_order_qty == 1_000_000


def test_scenario_loaded_is_frozen(default_scenario: Scenario) -> None:
    # Arrange / Act / Assert
    with pytest.raises(AttributeError):
        default_scenario.seed = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "key", "where"),
    [
        ((), "colour", None),
        (("auction",), "colour", "$.auction"),
        (("agents", "noise"), "colour", "$.agents.noise"),
        (("latency", "default"), "colour", "$.latency.default"),
        (("venues", 1), "colour", "$.venues[1]"),
        (("latency", "links", 0), "colour", "$.latency.links[0]"),
    ],
    ids=["top-level", "table", "nested-table", "latency", "array-of-tables", "latency-link"],
)
def test_scenario_from_dict_unknown_key_raises_error_naming_it(
    path: tuple[str | int, ...], key: str, where: str | None
) -> None:
    # Arrange
    data = default_data()
    table: Any = data
    for step in path:
        table = table[step]
    table[key] = 1

    # Act
    message = load_error(data)

    # Assert
    assert f"unknown field `{key}`" in message
    if where is not None:
        assert where in message


def test_scenario_from_dict_unknown_regime_raises_error_naming_key() -> None:
    # Arrange
    data = default_data()
    data["broker"]["regimes"] = ["pfof", "dark-magic"]

    # Act
    message = load_error(data)

    # Assert
    assert "broker.regimes" in message
    assert "dark-magic" in message


def test_scenario_limits_default_to_one_bound_for_every_service_and_take_overrides() -> None:
    data = minimal_data()
    data["limits"] = {"services": {"sor": 200}, "lag_ms": 500}

    limits = scenario_from_dict(data).limits

    assert (limits.pending_for("sor"), limits.pending_for("broker")) == (200, 5_000)
    assert (limits.queued, limits.lag_ms) == (20_000, 500)


def test_scenario_limits_for_an_unknown_service_or_of_zero_raise_errors_naming_the_key() -> None:
    unknown = minimal_data() | {"limits": {"services": {"sorr": 10}}}
    zero = minimal_data() | {"limits": {"pending": 0}}

    assert "limits.services: 'sorr' is not a service" in load_error(unknown)
    assert "limits.pending" in load_error(zero)


def test_scenario_from_dict_duplicate_symbol_raises_error_naming_key() -> None:
    # Arrange
    data = default_data()
    data["symbols"].append({"symbol": "ACME", "price": "10.00"})

    # Act
    message = load_error(data)

    # Assert
    assert "symbols" in message
    assert "duplicate" in message


@pytest.mark.parametrize("window_ms", [0, 99, 301, 1_000])
def test_scenario_from_dict_window_outside_100_to_300_raises_error(window_ms: int) -> None:
    # Arrange
    data = default_data()
    data["auction"]["window_ms"] = window_ms

    # Act
    message = load_error(data)

    # Assert
    assert "auction.window_ms" in message


@pytest.mark.parametrize("window_ms", [100, 200, 300])
def test_scenario_from_dict_window_within_100_to_300_loads(window_ms: int) -> None:
    # Arrange
    data = default_data()
    data["auction"]["window_ms"] = window_ms

    # Act
    scenario = scenario_from_dict(data)

    # Assert
    assert scenario.auction.window_ms == window_ms


@pytest.mark.parametrize(
    ("table", "key", "value", "where"),
    [
        (("symbols", 0), "price", "52.4000001", "$.symbols[0]"),
        (("venues", 1), "taker_fee", "three mills", "$.venues[1]"),
        (("wholesalers", 0), "pfof_per_share", "nan", "$.wholesalers[0]"),
        (("auction",), "increment", "0.0000001", "$.auction"),
    ],
    ids=["symbol-price", "venue-fee", "pfof", "auction-increment"],
)
def test_scenario_from_dict_bad_dollar_amount_raises_error_naming_key(
    table: tuple[str | int, ...], key: str, value: str, where: str
) -> None:
    # Arrange
    data = default_data()
    target: Any = data
    for step in table:
        target = target[step]
    target[key] = value

    # Act
    message = load_error(data)

    # Assert
    assert f"{key}:" in message
    assert where in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"symbols": []}, "symbols"),
        ({"venues": []}, "venues"),
        ({"symbols": [{"symbol": "acme", "price": "1"}]}, "symbols[0].symbol"),
        ({"symbols": [{"symbol": "ACME", "price": "-1"}]}, "must be positive"),
        ({"seed": "one"}, "seed"),
        ({"latency": {"default": {"model": "gaussian"}}}, "latency.default.model"),
        ({"latency": {"default": {"base_us": -1}}}, "latency.default.base_us"),
        ({"auction": {"remainder_policy": "drop"}}, "auction.remainder_policy"),
        ({"auction": {"response_updates": "sometimes"}}, "auction.response_updates"),
        ({"agents": {"noise": {"market_share": 1.5}}}, "agents.noise.market_share"),
        ({"broker": {"max_order_qty": 0}}, "broker.max_order_qty"),
    ],
    ids=[
        "no-symbols",
        "no-venues",
        "lowercase-symbol",
        "negative-price",
        "seed-type",
        "latency-model",
        "negative-latency",
        "remainder-policy",
        "response-updates",
        "fraction-above-one",
        "broker-max-order-qty",
    ],
)
def test_scenario_from_dict_invalid_value_raises_error_naming_key(
    change: dict[str, Any], expected: str
) -> None:
    # Arrange
    data = minimal_data() | change

    # Act
    message = load_error(data)

    # Assert
    assert expected in message


def test_scenario_from_dict_missing_name_raises_error_naming_key() -> None:
    # Arrange
    data = minimal_data()
    del data["name"]

    # Act
    message = load_error(data)

    # Assert
    assert "`name`" in message


def test_load_scenario_file_round_trips_through_toml(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "scenario.toml"
    path.write_text(tomli_w.dumps(minimal_data()))

    # Act
    scenario = load_scenario(path)

    # Assert
    assert scenario == scenario_from_dict(minimal_data())


def test_load_scenario_missing_file_raises_scenario_error(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "absent.toml"

    # Act
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)

    # Assert
    assert str(path) in str(info.value)


def test_load_scenario_invalid_toml_raises_scenario_error(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "broken.toml"
    path.write_text('name = "unterminated\n')

    # Act / Assert
    with pytest.raises(ScenarioError, match=r"broken\.toml"):
        load_scenario(path)


def test_service_plan_default_lists_every_service_once(default_scenario: Scenario) -> None:
    # Arrange
    expected_roles = {
        "recorder",
        "value",
        "venue",
        "sip",
        "darkpool",
        "wholesaler",
        "auction",
        "sor",
        "broker",
        "agents",
    }

    # Act
    plan = service_plan(default_scenario)

    # Assert
    names = [name for name, _ in plan]
    assert len(names) == len(set(names))
    assert {role for _, role in plan} == expected_roles
    assert plan[0] == ("recorder", "recorder")
    assert [n for n, r in plan if r == "wholesaler"] == ["wh-a", "wh-b", "wh-c"]


def test_service_plan_duplicate_names_raises_scenario_error() -> None:
    # Arrange: a venue named like the broker
    scenario = scenario_from_dict(minimal_data() | {"venues": [{"name": "broker"}]})

    # Act / Assert
    with pytest.raises(ScenarioError, match="broker"):
        service_plan(scenario)


def test_resolve_loopback_every_endpoint_distinct(
    default_scenario: Scenario, tmp_path: Path
) -> None:
    # Arrange
    plan = service_plan(default_scenario)

    # Act
    config = resolve_loopback(default_scenario, tmp_path)

    # Assert
    assert [(s.name, s.role) for s in config.services] == plan
    binds = [config.control.bind] + [e.bind for s in config.services for e in s.endpoints.values()]
    assert len(binds) == len(set(binds))
    for spec in config.services:
        assert tuple(spec.endpoints) == ROLE_ENDPOINTS[spec.role]
        for endpoint in spec.endpoints.values():
            assert endpoint.bind == endpoint.connect
            assert endpoint.bind.startswith("tcp://127.0.0.1:")


def test_resolve_loopback_twice_never_reuses_a_port(
    default_scenario: Scenario, tmp_path: Path
) -> None:
    # Arrange: two labs side by side on one machine
    first = resolve_loopback(default_scenario, tmp_path / "a")

    # Act
    second = resolve_loopback(default_scenario, tmp_path / "b")

    # Assert
    def binds(config: RunConfig) -> set[str]:
        return {config.control.bind} | {
            e.bind for s in config.services for e in s.endpoints.values()
        }

    assert binds(first).isdisjoint(binds(second))


def test_run_config_helpers_find_services_and_endpoints(
    default_scenario: Scenario, tmp_path: Path
) -> None:
    # Arrange
    config = resolve_loopback(default_scenario, tmp_path)

    # Act
    venues = config.by_role("venue")
    orders = config.connect("lit-a", "orders")

    # Assert
    assert [v.name for v in venues] == ["lit-a", "lit-b", "lit-c"]
    assert orders == config.service("lit-a").endpoints["orders"].connect
    assert config.tape == config.service("recorder").endpoints["tape"].connect


@pytest.mark.parametrize(
    ("name", "endpoint"),
    [("nobody", "orders"), ("agents", "orders")],
    ids=["unknown-service", "unknown-endpoint"],
)
def test_run_config_connect_unknown_raises_scenario_error(
    default_scenario: Scenario, tmp_path: Path, name: str, endpoint: str
) -> None:
    # Arrange
    config = resolve_loopback(default_scenario, tmp_path)

    # Act / Assert
    with pytest.raises(ScenarioError, match=name):
        config.connect(name, endpoint)


def test_write_run_config_then_load_round_trips(default_scenario: Scenario, tmp_path: Path) -> None:
    # Arrange
    config = resolve_loopback(default_scenario, tmp_path)
    path = tmp_path / "config.toml"

    # Act
    write_run_config(config, path)
    loaded = load_run_config(path)

    # Assert
    assert loaded == config


def test_write_run_config_compose_then_load_round_trips(
    default_scenario: Scenario, tmp_path: Path
) -> None:
    # Arrange
    config = resolve_compose(default_scenario)
    path = tmp_path / "config.toml"

    # Act
    write_run_config(config, path)
    loaded = load_run_config(str(path))

    # Assert
    assert loaded == config


def test_load_run_config_unknown_key_raises_error_naming_it(
    default_scenario: Scenario, tmp_path: Path
) -> None:
    # Arrange
    data = msgspec.to_builtins(resolve_compose(default_scenario))
    data["services"][0]["colour"] = "red"
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(data))

    # Act / Assert
    with pytest.raises(ScenarioError, match="colour"):
        load_run_config(path)


def test_load_run_config_missing_file_raises_scenario_error(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "absent.toml"

    # Act / Assert
    with pytest.raises(ScenarioError, match=r"absent\.toml"):
        load_run_config(path)


def test_resolve_compose_connects_by_service_host_name(default_scenario: Scenario) -> None:
    # Arrange
    plan = service_plan(default_scenario)

    # Act
    config = resolve_compose(default_scenario)

    # Assert
    assert [(s.name, s.role) for s in config.services] == plan
    assert config.run_dir == "/run/flowlab"
    assert config.control.connect == f"tcp://orchestrator:{COMPOSE_CONTROL_PORT}"
    assert config.control.bind == f"tcp://*:{COMPOSE_CONTROL_PORT}"
    for spec in config.services:
        for kind, endpoint in spec.endpoints.items():
            assert endpoint.connect == f"tcp://{spec.name}:{COMPOSE_PORTS[kind]}"
            assert endpoint.bind == f"tcp://*:{COMPOSE_PORTS[kind]}"


def test_warm_start_is_taken_from_the_scenario_folder_and_must_exist(tmp_path: Path) -> None:
    from config.scenario import DEFAULT_SCENARIO

    text = DEFAULT_SCENARIO.read_text().replace(
        'warm_start = "default.dealers.json"', 'warm_start = "mine.dealers.json"'
    )
    (tmp_path / "s.toml").write_text(text)
    with pytest.raises(ScenarioError, match=r"dealers\.warm_start: no such file"):
        load_scenario(tmp_path / "s.toml")
    (tmp_path / "mine.dealers.json").write_text("{}")
    scenario = load_scenario(tmp_path / "s.toml")
    assert scenario.dealers.warm_start == str((tmp_path / "mine.dealers.json").resolve())
    # The built-in scenario's stays relative: found in the installed package.
    assert load_scenario().dealers.warm_start == "default.dealers.json"


def test_rules_default_is_2005_and_the_default_scenario_is_within_its_fee_cap() -> None:
    assert scenario_from_dict(minimal_data()).rules.reg_nms == "2005"


def test_rules_2024_refuses_a_taker_fee_above_the_cap_naming_the_venue() -> None:
    data = default_data()  # lit-a charges takers $0.0030
    data["rules"] = {"reg_nms": "2024"}
    message = load_error(data)
    assert "venues.lit-a.taker_fee" in message and "$0.001" in message


def test_rules_2024_accepts_fees_at_the_cap_and_sets_round_lots_by_price() -> None:
    data = minimal_data()
    data["rules"] = {"reg_nms": "2024"}
    data["venues"] = [{"name": "v", "taker_fee": "0.0010"}]
    data["symbols"] = [{"symbol": "LOW", "price": "250.00"}, {"symbol": "HIGH", "price": "250.01"}]
    scenario = scenario_from_dict(data)
    assert (scenario.round_lot("LOW"), scenario.round_lot("HIGH")) == (100, 40)


def test_rules_unknown_reg_nms_names_the_key() -> None:
    data = minimal_data()
    data["rules"] = {"reg_nms": "2023"}
    assert "reg_nms" in load_error(data)


def test_rules_2024_tick_constrained_symbol_quotes_in_half_pennies() -> None:
    data = minimal_data()
    data["rules"] = {"reg_nms": "2024"}
    data["venues"] = [{"name": "v", "taker_fee": "0.0010"}]
    data["symbols"] = [
        {"symbol": "TIGHT", "price": "20.00", "tick_constrained": True},
        {"symbol": "WIDE", "price": "20.00"},
    ]
    scenario = scenario_from_dict(data)
    assert (scenario.tick("TIGHT"), scenario.tick("WIDE")) == (5_000, 10_000)


def test_wholesaler_view_override_replaces_only_the_fields_it_sets() -> None:
    data = minimal_data()
    data["dealers"] = {"signal_weight": 0.0, "signal_noise_bps": 0.0, "learning_period_s": 2.0}
    data["wholesalers"] = [
        {"name": "wh-a", "signal_weight": 1.0},
        {"name": "wh-b"},
    ]

    scenario = scenario_from_dict(data)
    informed, plain = (w.dealer_spec(scenario.dealers) for w in scenario.wholesalers)

    assert (informed.signal_weight, informed.signal_noise_bps) == (1.0, 0.0)
    assert informed.learning_period_s == 2.0
    assert plain is scenario.dealers


def test_wholesaler_view_override_out_of_range_names_the_field() -> None:
    data = minimal_data()
    data["wholesalers"] = [{"name": "wh-a", "signal_weight": 1.5}]

    assert "signal_weight" in load_error(data)


def test_wholesaler_view_override_unset_is_not_written() -> None:
    scenario = scenario_from_dict(minimal_data() | {"wholesalers": [{"name": "wh-a"}]})

    written = msgspec.toml.encode(scenario.wholesalers[0]).decode()

    assert "signal_weight" not in written and "signal_noise_bps" not in written
