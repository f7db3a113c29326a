"""A sweep's grid: ``--set KEY=V1,V2,...`` over dotted scenario paths, and its points.

``KEY`` is a dotted path into the scenario as a dict, defaults included (``auction.window_ms``,
``agents.auction_responders.count``, ``wholesalers.0.pfof_per_share``; a list element by index
or by its ``name``: ``wholesalers.wh-a.pfof_per_share``; ``*`` for every element at once:
``wholesalers.*.pfof_per_share``). Each value is read as a TOML literal and
coerced to the type the key holds now (an integer for a float key becomes a float; any text for a
string key, such as a dollar amount, is kept as written). A key that does not exist is an error
here, before anything runs; a value the scenario refuses is that point's error, raised by the
scenario loader when the point's task validates it (``point_scenario``).
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from config.scenario import Scenario, ScenarioError, scenario_from_dict

# The arm mix of the random design: sweeping it is the interference check (--interference).
MIX_KEY = "stream.first_regime_share"
WARM_START_KEY = "dealers.warm_start"

# Keys a sweep sets in its own way: seeds come from the replication (common random numbers)
# and the arms from --regimes.
RESERVED = {
    "seed": "seeds derive from the base seed and the replication only (common random numbers); "
    "use --seed for the base seed",
    "broker.regimes": "the arms are set with --regimes",
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``--set``: a dotted key and the values it takes across the grid."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One point of the grid: its id (``p00``…) and the value of every swept key."""

    point: str
    values: dict[str, Any]

    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.values.items())


def parse_setting(text: str, scenario: Scenario) -> Setting:
    """``KEY=V1,V2,...`` checked against ``scenario`` (the key must exist and hold a value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ScenarioError(
            f"--set {text!r}: expected KEY=V1,V2,... (e.g. auction.window_ms=100,300)"
        )
    if key in RESERVED:
        raise ScenarioError(f"--set {key}: {RESERVED[key]}")
    data = scenario_data(scenario)
    found = [_lookup(data, concrete) for concrete in _expand(data, key)]  # every one exists
    current = found[0]
    if isinstance(current, dict | list):
        kind = "table" if isinstance(current, dict) else "list"
        raise ScenarioError(f"--set {key}: is a {kind}; set one of its keys (e.g. {key}.<key>)")
    values = tuple(_coerce(item.strip(), current) for item in raw.split(","))
    if len(set(map(repr, values))) != len(values):
        raise ScenarioError(f"--set {key}: a value is repeated in {raw!r}")
    return Setting(key, values)


def with_warm_start_from(point: SweepPoint, folder: Path) -> SweepPoint:
    """``point`` with a relative ``dealers.warm_start`` value taken from ``folder`` (the swept
    scenario file's), as ``load_scenario`` takes the scenario's own."""
    warm = point.values.get(WARM_START_KEY)
    if not isinstance(warm, str) or not warm or Path(warm).is_absolute():
        return point
    return SweepPoint(point.point, {**point.values, WARM_START_KEY: str(folder / warm)})


def grid(settings: list[Setting]) -> list[SweepPoint]:
    """Every combination of the settings' values, the first key varying slowest."""
    keys = [s.key for s in settings]
    if len(set(keys)) != len(keys):
        raise ScenarioError(f"--set: a key is given twice ({', '.join(keys)})")
    combos = list(itertools.product(*(s.values for s in settings)))
    width = max(2, len(str(len(combos) - 1)))
    return [
        SweepPoint(f"p{i:0{width}d}", dict(zip(keys, combo, strict=True)))
        for i, combo in enumerate(combos)
    ]


def apply_values(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the scenario dict ``data`` with every ``dotted key: value`` set."""
    out: dict[str, Any] = _deep_copy(data)
    for key, value in values.items():
        for concrete in _expand(out, key):
            *parents, last = concrete.split(".")
            node: Any = out
            for part in parents:
                node = node[_index(node, part, key)]
            node[_index(node, last, key)] = value
    return out


def _expand(data: dict[str, Any], key: str) -> list[str]:
    """``key`` with each ``*`` replaced by every index of the list it stands in."""
    parts = key.split(".")
    if "*" not in parts:
        return [key]
    at = parts.index("*")
    prefix = ".".join(parts[:at])
    node = _lookup(data, prefix) if prefix else data
    if not isinstance(node, list) or not node:
        raise ScenarioError(f"--set {key}: '*' must stand for the elements of a non-empty list")
    rest = ".".join(parts[at + 1 :])
    keys = [".".join(p for p in (prefix, str(i), rest) if p) for i in range(len(node))]
    return [concrete for k in keys for concrete in _expand(data, k)]


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """A scenario as the plain dict the grid changes (every default written out)."""
    data: dict[str, Any] = msgspec.to_builtins(scenario)
    return data


def point_scenario(data: dict[str, Any], point: SweepPoint) -> Scenario:
    """The scenario of a sweep point, validated by the scenario loader (``ScenarioError``)."""
    source = f"point {point.point} ({point.label()})"
    return scenario_from_dict(apply_values(data, point.values), source)


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node[_index(node, part, key)]
    return node


def _index(node: Any, part: str, key: str) -> Any:
    """The dict key or list index ``part`` names in ``node``; a clear error if there is none."""
    if isinstance(node, dict):
        if part not in node:
            known = ", ".join(sorted(node))
            raise ScenarioError(f"--set {key}: no key {part!r} here (keys: {known})")
        return part
    if isinstance(node, list):
        if part.lstrip("-").isdigit():
            i = int(part)
            if not 0 <= i < len(node):
                raise ScenarioError(
                    f"--set {key}: index {i} out of range (the list has {len(node)})"
                )
            return i
        names = [item.get("name") for item in node if isinstance(item, dict)]
        if part in names:
            return names.index(part)
        raise ScenarioError(f"--set {key}: {part!r} is neither an index nor a name ({names})")
    raise ScenarioError(f"--set {key}: {part!r} is below a value, not a table")


def _coerce(text: str, current: Any) -> Any:
    """``text`` as a TOML literal, as the type of ``current`` where that is unambiguous."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    if isinstance(current, str):
        return text  # strings (names, dollar amounts) are kept exactly as written
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
