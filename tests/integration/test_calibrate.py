"""``flowlab calibrate`` end to end: a small lab learns, its dealers' states are saved, and a second
lab started from that warm start continues from them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec

from config.scenario import load_scenario
from orchestration.launcher import LabSupervisor
from orchestration.streams import generate_stream, write_stream
from orchestration.tape import read_tape
from protocol.dealers import DealerState, MarkupSettled
from tests.helpers import eventually

SCENARIO = """
name = "calib"
seed = 5

[[symbols]]
symbol = "ACME"
price = "50.00"

[[symbols]]
symbol = "BOLT"
price = "80.00"

[[venues]]
name = "lit-a"

[[venues]]
name = "lit-b"

[[wholesalers]]
name = "wh-a"

[[wholesalers]]
name = "wh-b"

[agents.noise]
traders = 2
rate_per_s = 5.0

[agents.auction_responders]
count = 1

[broker]
scorecard_period_s = 0.1   # the scorecard answers within 0.2 s, inside a 0.5 s learning period

[dealers]
learning_period_s = 0.5
"""
DEALERS = ["amm-0", "wh-a", "wh-b"]


def calibrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "calibrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def warm_lab(scenario_path: Path, runs: Path) -> tuple[dict[str, int], Path]:
    """A lab of the warm-started scenario: each wholesaler's ``dealer.warm_started`` counter
    (from its heartbeats), and the run dir."""
    scenario = load_scenario(scenario_path)
    lab = LabSupervisor(scenario, runs_root=runs)
    try:
        await lab.start()
        wholesalers = [lab.procs[w.name] for w in scenario.wholesalers]
        await lab.guard(
            eventually(lambda: all("dealer.warm_started" in p.counters for p in wholesalers), 10)
        )
        counters = {p.name: p.counters["dealer.warm_started"] for p in wholesalers}
        rows = generate_stream(scenario, ["pfof", "auction"], orders=80, rate_per_s=40, seed=3)
        await lab.inject(write_stream(rows, lab.run_dir / "stream.csv"), timeout_s=30)
        await lab.guard(asyncio.sleep(1.5))  # the last period with flow settles
    finally:
        await lab.stop()
    return counters, lab.run_dir


def test_calibrate_saves_every_dealer_and_a_warm_start_continues_from_it(tmp_path: Path) -> None:
    scenario = tmp_path / "calib.toml"
    scenario.write_text(SCENARIO)

    result = calibrate(
        "--scenario",
        str(scenario),
        "--duration",
        "4",
        "--rate",
        "40",
        "--runs",
        "runs",
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "calib.dealers.json"  # the default: next to the scenario
    assert f"wrote {out}" in result.stdout
    learned = msgspec.json.decode(out.read_bytes(), type=dict[str, DealerState])
    assert list(learned) == DEALERS
    for name, state in learned.items():
        assert max(c.periods for c in state.channels) > 0, name
        assert f"{name} " in result.stdout
    assert {c.channel for c in learned["wh-a"].channels} == {"internalize", "auction"}
    assert [c.channel for c in learned["amm-0"].channels] == ["auction"]

    warm = tmp_path / "warm.toml"
    warm.write_text(SCENARIO + 'warm_start = "calib.dealers.json"\n')
    counters, run_dir = asyncio.run(warm_lab(warm, tmp_path / "runs"))

    assert counters == {"wh-a": 1, "wh-b": 1}
    tape = [msg for _service, _ns, msg in read_tape(run_dir)]
    settled = Counter((m.dealer, m.channel) for m in tape if isinstance(m, MarkupSettled))
    final = {m.dealer: m for m in tape if isinstance(m, DealerState)}
    assert sorted(final) == DEALERS
    for name, state in final.items():
        before = {c.channel: c.periods for c in learned[name].channels}
        for channel in state.channels:
            # the learner went on from the calibrated count: one more per period settled here
            assert channel.periods == before[channel.channel] + settled[name, channel.channel]
    assert sum(settled.values()) > 0
