"""``flowlab calibrate``: run a lab so its dealers learn their markups, and keep what they learned.

The lab runs as ``flowlab compare --no-live`` runs it (``experiment.run_comparison``: one lab,
a generated stream, the report); then every dealer's ``DealerState`` on the tape (written at its
stop) is saved as a warm start: a JSON object ``{dealer: DealerState}`` that a scenario's
``[dealers] warm_start`` names, and that every dealer restores at its start
(``services.dealer.desk.Desk.restore``). A scenario that already has a warm start continues from
it, so calibrating again keeps learning.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from config.scenario import DEFAULT_SCENARIO, Scenario
from orchestration.experiment import RunResult, exit_code, run_comparison
from orchestration.faults import load_faults
from orchestration.launcher import LabError
from orchestration.streams import StreamOptions
from orchestration.tape import BP, read_tape
from protocol.dealers import DealerState

SUFFIX = ".dealers.json"


def dealer_states(run_dir: Path) -> dict[str, DealerState]:
    """Every dealer's state at its stop, by dealer name (sorted); the last one wins."""
    states = {
        msg.dealer: msg for _service, _ns, msg in read_tape(run_dir) if isinstance(msg, DealerState)
    }
    return dict(sorted(states.items()))


def calibration_json(states: dict[str, DealerState]) -> bytes:
    """A warm start file's content: ``{dealer: DealerState}`` as indented JSON, sorted."""
    encoded = msgspec.json.encode(dict(sorted(states.items())))
    return msgspec.json.format(encoded, indent=2) + b"\n"


def default_out(scenario_path: Path | None) -> Path:
    """``<scenario stem>.dealers.json`` next to the scenario file; for the built-in default,
    ``config/scenarios/default.dealers.json`` when that is a writable source tree, else in the
    current directory."""
    if scenario_path is not None:
        return scenario_path.with_name(scenario_path.stem + SUFFIX)
    folder = DEFAULT_SCENARIO.parent
    in_source_tree = (folder.parents[1] / "pyproject.toml").exists()
    if in_source_tree and os.access(folder, os.W_OK):
        return folder / (DEFAULT_SCENARIO.stem + SUFFIX)
    return Path.cwd() / (DEFAULT_SCENARIO.stem + SUFFIX)


def describe(states: dict[str, DealerState]) -> list[str]:
    """One line per dealer and channel: periods learned and the markup held."""
    lines = []
    for name, state in states.items():
        for channel in state.channels:
            held = state.arms[channel.position] / BP
            lines.append(
                f"  {name:<8} {state.role:<18} {channel.channel:<12} "
                f"{channel.periods:>5} periods learned, holds {held:.0%} of the half-spread"
            )
    return lines


def write_calibration(run_dir: Path, out: Path) -> dict[str, DealerState]:
    """Read the run's dealer states and write them to ``out``; raise when there are none."""
    states = dealer_states(run_dir)
    if not states:
        raise LabError(f"no DealerState on the tape of {run_dir}: no dealer reported at its stop")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(calibration_json(states))
    return states


def settle_seconds(scenario: Scenario) -> float:
    """After the last order: one learning period and one markout horizon, so the last period
    with flow can settle before the dealers stop."""
    return scenario.dealers.learning_period_s + scenario.dealers.markout_horizon_ms / 1e3


async def run_calibration(
    scenario: Scenario, *, runs: Path, options: StreamOptions
) -> list[RunResult]:
    """One lab of the scenario with a generated stream, reported like ``compare``."""
    if scenario.dealers.warm_start:
        print(f"flowlab calibrate: continuing from {scenario.dealers.warm_start}", flush=True)
    return await run_comparison(
        scenario, runs=runs, out=None, options=options, settle_s=settle_seconds(scenario)
    )


def finish(results: list[RunResult], out: Path) -> int:
    """Write the warm start of the (single) run, print what was learned; the exit code.
    A broken run (a fault) teaches nothing: no warm start is written."""
    if any(load_faults(r.run_dir)["faults"] for r in results):
        return exit_code(results, "calibrate")
    states = write_calibration(results[0].run_dir, out)
    print(f"calibration: {len(states)} dealers")
    print("\n".join(describe(states)))
    print(f"wrote {out}")
    print(f'use it: [dealers] warm_start = "{out.resolve()}" (or a path relative to the scenario)')
    return exit_code(results, "calibrate")
