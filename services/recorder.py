"""The recorder: pulls every tape entry of the run and appends it to ``RUN_DIR/tape.msgpack``.

Entries arrive already encoded as MessagePack ``[service, recv_ns, payload]`` arrays, so the
recorder never decodes a payload: the file is their concatenation, read back with
``msgpack.Unpacker``. Under CURVE only the lab's own keys reach the tape, and an entry whose
``service`` is not its sender's key is refused (counted ``tape.refused``; docs/SECURITY.md);
an entry whose head cannot be read is written, for the tape reader to skip and count.
PUSH/PULL blocks rather than drops, and the recorder is stopped last, so the tape is complete.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import zmq

from protocol.codec import VERSION
from services.runtime import Service, reject_logged
from services.security import frames_and_user
from services.sockets import recv_frames, stop_arrivals

_entry_head = msgspec.msgpack.Decoder(tuple[str, int, msgspec.Raw])

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
        # under CURVE: frames, for the key each entry came with
        self.receive_batches(self._pull, self._write_batch, name="tape", copy=self.keys is None)
        self._workers = (self.spawn(self._flush_periodically(), "flush"),)

    def _write(self, parts: list[bytes] | list[zmq.Frame]) -> None:
        frames, user = frames_and_user(parts)
        if not frames or frames[0] != VERSION:
            self.count("tape.bad_frames")
            log.warning("%s: cannot record a tape frame: missing version frame", self.name)
            return
        entries = frames[1:]
        if self.keys is not None:
            entries = [entry for entry in entries if self._is_senders(entry, user)]
        self._file.write(b"".join(entries))
        self.count("tape.entries", len(entries))

    def _is_senders(self, entry: bytes, user: str | None) -> bool:
        """Whether an entry speaks for its sender's key (unreadable heads pass, see above)."""
        assert self.keys is not None
        try:
            service = _entry_head.decode(entry)[0]
        except (msgspec.DecodeError, msgspec.ValidationError):
            return True
        if self.keys.owner_of(service.encode()) == user:
            return True
        self.count("tape.refused")
        if reject_logged(self.counters["tape.refused"]):
            log.warning(
                "%s: cannot record an entry of %r: sent with key %r (refused: %d)",
                self.name,
                service[:64],
                user,
                self.counters["tape.refused"],
            )
        return False

    def _write_batch(self, batch: list[list[Any]], _recv_ns: int) -> None:
        for parts in batch:
            self._write(parts)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            self._file.flush()

    async def _drain(self) -> None:
        # The workers go first: one already woken (a flush timer, a received frame) would
        # otherwise run after the file below is closed and fail the recorder.
        stop_arrivals(self._pull)
        for task in self._workers:
            task.cancel()
        # Everything the other services sent before exiting is queued here; take it all.
        while True:
            try:
                self._write(recv_frames(self._shadow, copy=self.keys is None))
            except zmq.Again:
                break
        self._file.flush()
        self._file.close()
