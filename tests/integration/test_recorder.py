"""The recorder on real sockets: every entry pushed before the stop is on the tape, and a stop
that lands while its own workers are awake still exits cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgpack
import msgspec
import pytest
import zmq
import zmq.asyncio

from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from protocol.codec import VERSION
from services import recorder as recorder_module
from services.recorder import TAPE_FILE, Recorder
from tests.helpers import eventually

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"


@pytest.mark.parametrize("round_", range(5))
async def test_recorder_keeps_every_entry_and_exits_zero_when_stopped_mid_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, round_: int
) -> None:
    # A zero flush interval keeps the flush worker always runnable, so the stop always races it.
    monkeypatch.setattr(recorder_module, "FLUSH_INTERVAL_S", 0.0)
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    ctx = zmq.asyncio.Context()
    control = ctx.socket(zmq.ROUTER)
    control.bind(config.control.bind)
    push = ctx.socket(zmq.PUSH)
    push.connect(config.tape)
    recorder = Recorder(config, "recorder", install_signals=False)
    running = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(control.recv_multipart(), 10)  # the readiness handshake
        entries = [msgspec.msgpack.encode(["lit-a", i, b"x" * (i % 7)]) for i in range(500)]
        for start in range(0, len(entries), 50):
            await push.send_multipart([VERSION, *entries[start : start + 50]])
        await eventually(lambda: recorder.counters.get("tape.entries", 0) >= len(entries) - 50)
        for _ in range(round_):
            await asyncio.sleep(0)
        recorder.stop("test")
        exit_code = await asyncio.wait_for(running, 10)
    finally:
        push.close(0)
        control.close(0)
        ctx.term()
    assert exit_code == 0
    with (tmp_path / TAPE_FILE).open("rb") as tape:
        recorded = list(msgpack.Unpacker(tape, raw=False))
    assert [entry[1] for entry in recorded] == list(range(500))
    assert recorded[8] == ["lit-a", 8, b"x"]
