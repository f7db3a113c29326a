"""The CLI verbs' errors: one line on stderr, ``flowlab VERB: message``, and their exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from config.runconfig import write_run_config
from config.scenario import ScenarioError, load_scenario
from orchestration import cli, commands
from orchestration.endpoints import resolve_loopback
from protocol.control import StatusReply, StatusRequest
from services.security import create_keys


@pytest.mark.parametrize("verb", ["status", "down", "inject"])
def test_verbs_without_a_running_lab_say_so_in_one_line(
    verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([verb, "--runs", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"flowlab {verb}: no running lab at {tmp_path / 'current'} (start one with `flowlab up`)\n"
    )


def test_current_raises_lab_not_running(tmp_path: Path) -> None:
    with pytest.raises(commands.LabNotRunning, match="no running lab at"):
        commands._current(tmp_path, None)


def test_control_request_to_a_silent_orchestrator_times_out(tmp_path: Path) -> None:
    config = resolve_loopback(load_scenario(), tmp_path)  # nobody binds its control endpoint
    write_run_config(config, tmp_path / "config.toml")
    create_keys(config)
    request = StatusRequest(sender="cli", ts_ns=time.time_ns())

    with pytest.raises(commands.ControlTimeout, match=r"did not answer in 0\.1s") as info:
        commands._control_request(tmp_path, request, StatusReply, timeout_s=0.1)

    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, commands.USER_ERRORS)


def test_control_request_without_the_run_keys_names_the_missing_key(tmp_path: Path) -> None:
    config = resolve_loopback(load_scenario(), tmp_path)
    write_run_config(config, tmp_path / "config.toml")
    request = StatusRequest(sender="cli", ts_ns=time.time_ns())

    with pytest.raises(ScenarioError, match=r"cannot load key .*keys/\w[\w-]*\.key") as info:
        commands._control_request(tmp_path, request, StatusReply, timeout_s=0.1)

    assert isinstance(info.value, commands.USER_ERRORS)


def test_run_turns_ctrl_c_into_interrupted() -> None:
    async def until_interrupted() -> int:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(30)
        return 0

    with pytest.raises(commands.Interrupted):
        commands._run(until_interrupted())


def test_dispatch_reports_an_interrupted_verb_with_exit_code_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(_args: argparse.Namespace) -> int:
        raise commands.Interrupted

    monkeypatch.setattr(commands, "cmd_bench", interrupted)

    code = commands.dispatch(argparse.Namespace(verb="bench"))

    assert code == 130
    assert capsys.readouterr().err == "flowlab: interrupted; the lab was stopped\n"


def test_sweep_needs_a_grid_and_interference_is_a_grid_of_its_own() -> None:
    parser = cli.build_parser()
    with pytest.raises(commands.ScenarioError, match="give --set"):
        commands.cmd_sweep(parser.parse_args(["sweep"]))
    both = parser.parse_args(["sweep", "--interference", "--set", "auction.window_ms=100,300"])
    with pytest.raises(commands.ScenarioError, match="--interference is its own grid"):
        commands.cmd_sweep(both)
    sequential = parser.parse_args(["sweep", "--interference", "--design", "sequential"])
    with pytest.raises(commands.ScenarioError, match="the random design"):
        commands.cmd_sweep(sequential)


def test_status_watch_ends_on_ctrl_c_even_mid_request() -> None:
    """Ctrl-C while a status request is under way: the request finishes (a KeyboardInterrupt
    inside a zmq close could leave a context open and the CLI hung at exit), the view ends,
    exit 0, and the previous SIGINT handler is back."""
    import os
    import signal

    from protocol.control import StatusReply

    calls, finished = [], []

    def ask() -> StatusReply:
        calls.append(1)
        if len(calls) == 2:  # the first refresh: Ctrl-C lands inside the request
            os.kill(os.getpid(), signal.SIGINT)
        finished.append(1)  # not reached if the signal raised where it landed
        return StatusReply(sender="orchestrator", ts_ns=1, run_dir="r", started_ns=1, services=[])

    before = signal.getsignal(signal.SIGINT)
    assert commands._watch_status(ask) == 0
    assert len(calls) == len(finished) == 2  # the interrupted request finished; no third
    assert signal.getsignal(signal.SIGINT) is before
