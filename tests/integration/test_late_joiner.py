"""The Clone pattern on the SIP: a late joiner's snapshot plus updates equals the live state."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import zmq
import zmq.asyncio

from config.runconfig import RunConfig
from config.scenario import load_scenario
from orchestration.launcher import LabSupervisor
from protocol.codec import VERSION, Decoder, encode
from protocol.marketdata import NBBO, SequenceHeartbeat, Snapshot, SnapshotRequest, Trade
from tests.helpers import lab_socket


class CloneClient:
    """Subscribe, snapshot, then apply updates newer than the snapshot (and nothing older)."""

    def __init__(self, ctx: zmq.asyncio.Context, config: RunConfig, sip: str, name: str) -> None:
        self.sub = lab_socket(ctx, config, zmq.SUB, sip, "md")
        self.snap = lab_socket(ctx, config, zmq.DEALER, sip, "snapshot", identity=name)
        self.state: dict[str, NBBO] = {}
        self.seq = -1
        self.gaps = 0
        self.trades = 0

    async def snapshot(self) -> Snapshot:
        await self.snap.send_multipart(
            [VERSION, encode(SnapshotRequest(sender="test", ts_ns=time.time_ns(), stream="nbbo"))]
        )
        reply = Decoder([Snapshot]).decode(await self.snap.recv_multipart())[0]
        assert isinstance(reply, Snapshot)
        return reply

    async def join(self) -> None:
        snap = await self.snapshot()
        self.state = {n.symbol: n for n in snap.nbbos}
        self.seq = snap.seq

    async def apply_until(self, seq: int) -> None:
        decoder = Decoder([NBBO, SequenceHeartbeat, Trade])
        while self.seq < seq:
            for msg in decoder.decode(await self.sub.recv_multipart()):
                if isinstance(msg, SequenceHeartbeat) or msg.seq <= self.seq:
                    continue
                self.gaps += msg.seq != self.seq + 1
                self.seq = msg.seq
                if isinstance(msg, NBBO):
                    self.state[msg.symbol] = msg
                else:
                    self.trades += 1

    def close(self) -> None:
        self.sub.close(linger=0)
        self.snap.close(linger=0)


def test_sip_late_joiner_snapshot_plus_updates_equals_live_state(tmp_path: Path) -> None:
    async def run() -> tuple[dict, dict, Snapshot, int]:
        lab = LabSupervisor(load_scenario(), runs_root=tmp_path)
        ctx = zmq.asyncio.Context()
        clients: list[CloneClient] = []
        try:
            await lab.start()
            early = CloneClient(ctx, lab.config, "sip", "early")
            clients.append(early)
            await early.join()
            await lab.guard(early.apply_until(early.seq + 300))  # the market moves on meanwhile
            late = CloneClient(ctx, lab.config, "sip", "late")
            clients.append(late)
            await late.join()
            referee = CloneClient(ctx, lab.config, "sip", "reference")
            clients.append(referee)
            reference = await referee.snapshot()
            await lab.guard(
                asyncio.gather(early.apply_until(reference.seq), late.apply_until(reference.seq))
            )
            # Both stop exactly at the reference's seq, so their states are comparable.
            assert early.trades > 0  # the consolidated tape flows in the same sequence
            return early.state, late.state, reference, early.gaps + late.gaps
        finally:
            for c in clients:
                c.close()
            ctx.destroy(linger=0)
            await lab.stop()

    early, late, reference, gaps = asyncio.run(asyncio.wait_for(run(), 90))

    live = {n.symbol: n for n in reference.nbbos}
    assert set(live) == set(load_scenario().symbol_names)
    assert (
        gaps == 0
    )  # no PUB/SUB drop at this rate (services re-snapshot on a gap; this client only counts)
    assert early == live
    assert late == live
