"""The recorder on real sockets: every entry pushed before the stop is on the tape, a stop that
lands while its own workers are awake still exits cleanly, and garbage pushed to it is skipped
and counted when the tape is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgpack
import msgspec
import pytest
import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from orchestration.tape import build_tables, read_tape
from protocol.codec import VERSION, encode
from protocol.control import PnlReport
from services import recorder as recorder_module
from services.recorder import TAPE_FILE, Recorder
from services.security import ORCHESTRATOR, KeyRing, create_keys, secure_server
from tests.helpers import eventually, lab_socket

TINY = Path(__file__).with_name("scenarios") / "tiny.toml"


@asynccontextmanager
async def recorder_and_push(
    config: RunConfig,
) -> AsyncIterator[tuple[Recorder, zmq.asyncio.Socket, asyncio.Task[int]]]:
    """A running recorder of ``config`` (its readiness seen on a control ROUTER of our own) and
    a PUSH of our own to its tape."""
    create_keys(config)
    keys = KeyRing.of(config)
    ctx = zmq.asyncio.Context()
    control = ctx.socket(zmq.ROUTER)  # no ZAP handler here: any key the server key admits
    secure_server(control, keys, ORCHESTRATOR, "control")
    control.bind(config.control.bind)
    # lit-a's key: the tape admits only the lab's own (test_curve.py), and entries of lit-a only
    push = lab_socket(ctx, config, zmq.PUSH, config.scenario.recorder, "tape", key="lit-a")
    recorder = Recorder(config, "recorder", install_signals=False)
    running = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(control.recv_multipart(), 10)  # the readiness handshake
        yield recorder, push, running
    finally:
        push.close(0)
        control.close(0)
        ctx.term()


@pytest.mark.parametrize("round_", range(5))
async def test_recorder_keeps_every_entry_and_exits_zero_when_stopped_mid_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, round_: int
) -> None:
    # A zero flush interval keeps the flush worker always runnable, so the stop always races it.
    monkeypatch.setattr(recorder_module, "FLUSH_INTERVAL_S", 0.0)
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    async with recorder_and_push(config) as (recorder, push, running):
        entries = [msgspec.msgpack.encode(["lit-a", i, b"x" * (i % 7)]) for i in range(500)]
        for start in range(0, len(entries), 50):
            await push.send_multipart([VERSION, *entries[start : start + 50]])
        await eventually(lambda: recorder.counters.get("tape.entries", 0) >= len(entries) - 50)
        for _ in range(round_):
            await asyncio.sleep(0)
        recorder.stop("test")
        exit_code = await asyncio.wait_for(running, 10)
    assert exit_code == 0
    with (tmp_path / TAPE_FILE).open("rb") as tape:
        recorded = list(msgpack.Unpacker(tape, raw=False))
    assert [entry[1] for entry in recorded] == list(range(500))
    assert recorded[8] == ["lit-a", 8, b"x"]


async def test_garbage_pushed_to_the_recorder_is_skipped_and_counted_by_the_tape_reader(
    tmp_path: Path,
) -> None:
    # A raw PUSH client (issue 13: one garbage tape entry made `flowlab report` exit 1).
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    pnl = PnlReport(name="lit-a", role="venue", components={"fees": 2_500_000})
    async with recorder_and_push(config) as (recorder, push, running):
        good = msgspec.msgpack.encode(["lit-a", 0, encode(pnl)])
        await push.send_multipart(
            [
                VERSION,
                b"\xc1",  # starts no MessagePack value
                msgspec.msgpack.encode({"forged": True}),  # not an entry
                msgspec.msgpack.encode(["lit-a", 0, b"\x81\xa4type\xa4Nope"]),  # undecodable
                good,
            ]
        )
        await eventually(lambda: recorder.counters.get("tape.entries", 0) >= 3)
        recorder.stop("test")
        assert await asyncio.wait_for(running, 10) == 0

    tables = build_tables(tmp_path, config)

    # the byte that starts no MessagePack value is dropped by the recorder (nothing after it
    # could be attributed to a sender); the two malformed entries are skipped by the reader
    assert recorder.counters["tape.unreadable"] == 1
    assert len(tables["tape_anomalies"]) == 2
    assert tables["pnl"][["name", "component", "usd"]].values.tolist() == [["lit-a", "fees", 2.5]]


async def push_and_stop(
    config: RunConfig, messages: list[list[bytes]], entries: int
) -> tuple[dict[str, int], list[list[object]]]:
    """Push ``messages`` to a running recorder, wait until it has written ``entries``, stop it
    (exit code 0); its counters and what its tape file holds."""
    async with recorder_and_push(config) as (recorder, push, running):
        for message in messages:
            await push.send_multipart(message)
        await eventually(lambda: recorder.counters.get("tape.entries", 0) >= entries)
        counters = dict(recorder.counters)
        recorder.stop("test")
        assert await asyncio.wait_for(running, 10) == 0
    with (Path(config.run_dir) / TAPE_FILE).open("rb") as tape:
        return counters, list(msgpack.Unpacker(tape, raw=False))


async def test_entries_speaking_for_another_service_are_refused_and_counted(
    tmp_path: Path,
) -> None:
    # lit-a's key writing an entry as the broker (issue 13: pushed entries rewrote the report)
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    pnl = PnlReport(name="broker", role="broker", components={"pfof_revenue": 3_500_000_000})
    forged = msgspec.msgpack.encode(["broker", 0, encode(pnl)])
    own = msgspec.msgpack.encode(["lit-a", 1, encode(pnl)])

    counters, recorded = await push_and_stop(config, [[VERSION, forged, own]], 1)

    assert counters["tape.refused"] == 1
    assert [(entry[0], entry[1]) for entry in recorded] == [("lit-a", 1)]


async def test_a_packed_frame_keeps_its_entries_in_order_and_refuses_a_forged_one_among_them(
    tmp_path: Path,
) -> None:
    # A service's tape link packs a batch of entries into one frame (services/latency.py
    # ``pack``); the recorder finds each entry in it and checks each under CURVE.
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    entries = [msgspec.msgpack.encode(["lit-a", i, b"y" * i]) for i in range(6)]
    entries[3] = msgspec.msgpack.encode(["broker", 3, b"forged"])
    packed = [VERSION, b"".join(entries[:4]), b"".join(entries[4:])]

    counters, recorded = await push_and_stop(config, [packed], 5)

    assert counters["tape.refused"] == 1
    assert recorded == [["lit-a", i, b"y" * i] for i in (0, 1, 2, 4, 5)]


PNL = encode(PnlReport(name="broker", role="broker", components={"pfof_revenue": 1_000_000}))
FORGED = msgspec.msgpack.encode(["broker", 7, PNL])


@pytest.mark.parametrize(
    "frames",
    [
        [b"\xc1" + FORGED],  # a byte no MessagePack value starts with, then a forged entry
        [FORGED[:3], FORGED[3:]],  # one forged entry cut across two frames
        [b"\x93\xa3\xff\xfe\xfd\x07\xc4\x00" + FORGED],  # a service name not UTF-8, then it
    ],
    ids=["invalid-byte", "split-across-frames", "not-utf8"],
)
async def test_a_forged_entry_hidden_behind_unreadable_bytes_never_reaches_the_tape(
    tmp_path: Path, frames: list[bytes]
) -> None:
    # The tape reader resumes at the byte after anything it cannot read: an entry hidden
    # behind unreadable bytes would be read as the broker's. The recorder drops the rest of
    # a frame from the first byte it cannot read (found by the session's reviewer).
    config = resolve_loopback(load_scenario(TINY), tmp_path)
    own = msgspec.msgpack.encode(["lit-a", 1, PNL])

    counters, _ = await push_and_stop(config, [[VERSION, *frames], [VERSION, own]], 1)

    tape = [(service, recv_ns) for service, recv_ns, _ in read_tape(tmp_path)]
    assert counters["tape.unreadable"] >= 1
    assert ("broker", 7) not in tape and tape == [("lit-a", 1)]
