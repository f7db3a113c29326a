"""The resolved run config: every service of a scenario with the endpoints it binds and others use.

The launcher writes it to ``RUN_DIR/config.toml``; every service process reads it back
(``flowlab service ROLE --config RUN_DIR/config.toml --name NAME``). The same shape serves
docker-compose, where endpoints are host names instead of loopback ports. How endpoints are
chosen lives in ``orchestration/endpoints.py``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from config.scenario import Scenario, ScenarioError, Spec


class Endpoint(Spec, frozen=True):
    bind: str
    connect: str


class ServiceSpec(Spec, frozen=True):
    name: str
    role: str
    endpoints: dict[str, Endpoint] = {}


class RunConfig(Spec, frozen=True):
    run_dir: str
    scenario: Scenario
    control: Endpoint
    services: list[ServiceSpec]
    # The wall-clock start of the lab's session day (services/session.py), set when the lab's
    # config is written; 0 (compose files, written long before the lab starts): each service
    # starts the day at its own start.
    session_origin_ns: int = 0

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise ScenarioError(f"services: no service named {name!r}")

    def by_role(self, role: str) -> list[ServiceSpec]:
        return [s for s in self.services if s.role == role]

    def connect(self, name: str, endpoint: str) -> str:
        spec = self.service(name)
        try:
            return spec.endpoints[endpoint].connect
        except KeyError:
            raise ScenarioError(f"services.{name}: has no {endpoint!r} endpoint") from None

    @property
    def tape(self) -> str:
        return self.connect(self.scenario.recorder, "tape")


def write_run_config(config: RunConfig, path: Path) -> None:
    path.write_bytes(msgspec.toml.encode(config))


def load_run_config(path: str | Path) -> RunConfig:
    try:
        return msgspec.toml.decode(Path(path).read_bytes(), type=RunConfig)
    except (OSError, msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        raise ScenarioError(f"cannot load run config {path}: {exc}") from exc
