"""The recorder: pulls every tape entry of the run and appends it to ``RUN_DIR/tape.msgpack``.

Entries arrive already encoded as MessagePack ``[service, recv_ns, payload]`` arrays, so the
recorder never decodes: the file is their concatenation, read back with ``msgpack.Unpacker``.
PUSH/PULL blocks rather than drops, and the recorder is stopped last, so the tape is complete.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import BinaryIO

import zmq

from protocol.codec import VERSION
from services.runtime import Service

log = logging.getLogger(__name__)

TAPE_FILE = "tape.msgpack"
FLUSH_INTERVAL_S = 0.25


class Recorder(Service):
    role = "recorder"
    _workers: tuple[asyncio.Task[None], ...] = ()

    async def _setup(self) -> None:
        self._file: BinaryIO = (Path(self.config.run_dir) / TAPE_FILE).open("ab")
        self._pull = self.bind("tape", zmq.PULL)
        self._pull.setsockopt(zmq.RCVHWM, 0)
        self._shadow: zmq.Socket[bytes] = zmq.Socket.shadow(self._pull.underlying)
        self._workers = (
            self.spawn(self._record(), "record"),
            self.spawn(self._flush_periodically(), "flush"),
        )

    def _write(self, frames: list[bytes]) -> None:
        if not frames or frames[0] != VERSION:
            self.count("tape.bad_frames")
            log.warning("%s: cannot record a tape frame: missing version frame", self.name)
            return
        self._file.write(b"".join(frames[1:]))
        self.count("tape.entries", len(frames) - 1)

    async def _record(self) -> None:
        while True:
            self._write(await self._pull.recv_multipart())
            while True:
                try:
                    self._write(self._shadow.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self._file.flush()

    async def _drain(self) -> None:
        # The workers go first: one already woken (a flush timer, a received frame) would
        # otherwise run after the file below is closed and fail the recorder.
        for task in self._workers:
            task.cancel()
        # Everything the other services sent before exiting is queued here; take it all.
        while True:
            try:
                self._write(self._shadow.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        self._file.flush()
        self._file.close()
