"""``flowlab calibrate``'s tape -> warm start file, on a hand-written tape; the file restores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import msgspec
import numpy as np
import pytest

from config.scenario import DEFAULT_SCENARIO, DealersConfig
from orchestration import calibrate
from orchestration.calibrate import calibration_json, default_out, describe, write_calibration
from orchestration.launcher import LabError
from orchestration.tape import TAPE_FILE
from protocol.codec import encode
from protocol.control import PnlReport
from protocol.dealers import ChannelState, DealerState, MarkupSettled
from services.dealer.desk import AUCTION, INTERNALIZE, Desk

ARMS = [round(a * 10_000) for a in DealersConfig().markups]  # 0, 1000, ..., 10000


def state(dealer: str, role: str, periods: int, channels: tuple[str, ...]) -> DealerState:
    return DealerState(
        dealer=dealer,
        role=role,
        arms=ARMS,
        channels=[
            ChannelState(
                channel=channel,
                periods=periods + k,
                position=4 + k,
                values=[100 * i for i in range(len(ARMS))],
                plays=[1] * (periods + k) + [0] * (len(ARMS) - periods - k),
                adverse={"ACME": [3, 2_000_000, 1_500_000, 4_000, 9_000_000]},
            )
            for k, channel in enumerate(channels)
        ],
        sender=dealer,
        ts_ns=1_000 + periods,
    )


def write_tape(run_dir: Path, entries: list[tuple[str, Any]]) -> None:
    with (run_dir / TAPE_FILE).open("wb") as f:
        for service, msg in entries:
            f.write(msgpack.packb([service, 0, encode(msg)]))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    settled = MarkupSettled(
        dealer="wh-a", channel="auction", period=0, markup_bp=5_000, shares=3, reward=9, held_bp=0
    )
    write_tape(
        tmp_path,
        [
            ("wh-a", settled),
            ("wh-b", state("wh-b", "wholesaler", 2, (INTERNALIZE, AUCTION))),
            ("agents", state("amm-0", "auction-responder", 5, (AUCTION,))),
            ("wh-a", state("wh-a", "wholesaler", 1, (INTERNALIZE, AUCTION))),
            ("wh-a", state("wh-a", "wholesaler", 3, (INTERNALIZE, AUCTION))),  # the last wins
            ("wh-a", PnlReport(name="wh-a", role="wholesaler", components={"total": 1})),
        ],
    )
    return tmp_path


def test_warm_start_file_holds_every_dealers_last_state_sorted(run_dir: Path) -> None:
    out = run_dir / "sub" / "x.dealers.json"

    states = write_calibration(run_dir, out)

    decoded = msgspec.json.decode(out.read_bytes(), type=dict[str, DealerState])
    assert list(decoded) == ["amm-0", "wh-a", "wh-b"] == list(states)
    assert decoded == states
    assert [c.periods for c in decoded["wh-a"].channels] == [3, 4]
    assert decoded["amm-0"].role == "auction-responder"
    assert out.read_bytes() == calibration_json(states)  # indented, sorted, newline-terminated


def test_the_file_is_a_warm_start_a_desk_restores(run_dir: Path) -> None:
    out = run_dir / "cal.json"
    write_calibration(run_dir, out)

    class Host:
        counters: dict[str, int] = {}

        def make(self, cls: type, **fields: Any) -> Any:
            return cls(**fields)

        def tape(self, payload: object, recv_ns: int = 0) -> None:
            pass

    desk = Desk.build(
        "wh-a",
        "wholesaler",
        DealersConfig(),
        (INTERNALIZE, AUCTION),
        np.random.default_rng(1),
        Host(),
        lambda _symbol: None,
    )

    assert desk.restore(str(out))
    assert [c.learner.periods for c in desk.channels.values()] == [3, 4]
    assert [c.learner.markup for c in desk.channels.values()] == [0.4, 0.5]


def test_describe_one_line_per_dealer_and_channel(run_dir: Path) -> None:
    states = calibrate.dealer_states(run_dir)

    lines = describe(states)

    assert len(lines) == 5
    assert "wh-a" in lines[1] and "internalize" in lines[1] and "3 periods learned" in lines[1]
    assert lines[1].endswith("holds 40% of the half-spread")


def test_a_tape_without_dealer_states_is_an_error(tmp_path: Path) -> None:
    write_tape(tmp_path, [("wh-a", PnlReport(name="wh-a", role="wholesaler", components={}))])

    with pytest.raises(LabError, match="no DealerState"):
        write_calibration(tmp_path, tmp_path / "cal.json")
    assert not (tmp_path / "cal.json").exists()


def test_default_out_next_to_the_scenario_or_the_built_in_default(tmp_path: Path) -> None:
    assert default_out(tmp_path / "my.toml") == tmp_path / "my.dealers.json"
    built_in = default_out(None)
    assert built_in.name == "default.dealers.json"
    assert built_in.parent in (DEFAULT_SCENARIO.parent, Path.cwd())
