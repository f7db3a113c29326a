"""One lab run of an experiment (``RunPlan``) and what watches it run (``Monitor``).

Shared by ``orchestration.experiment`` (which plans and runs them) and ``orchestration.live``
(whose monitors show them), so neither of those imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One lab run of the experiment."""

    label: str
    replication: int
    regimes: tuple[str, ...]  # the arms the stream assigns orders to in this run
    stream_seed: int
    market_seed: int

    def describe(self, orders: int) -> dict[str, object]:
        return {
            "run": self.label,
            "replication": self.replication,
            "regimes": list(self.regimes),
            "stream_seed": self.stream_seed,
            "market_seed": self.market_seed,
            "orders": orders,
        }


class Monitor(Protocol):
    """What ``run_experiment`` tells about its runs (``orchestration.live`` implements it)."""

    def start_run(self, lab: object, plan: RunPlan, orders: int) -> None: ...
    def heartbeat(self, proc: object) -> None: ...
    def end_run(self, done: object) -> None: ...
    def note(self, text: str) -> None: ...
