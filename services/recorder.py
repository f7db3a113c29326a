"""The recorder: pulls every tape entry of the run and appends it to ``RUN_DIR/tape.msgpack``.

Entries arrive already encoded as MessagePack ``[service, recv_ns, payload]`` arrays, packed
several to a frame (a service's tape link: ``services.latency.pack``); the recorder finds each
entry in a frame and never decodes a payload: the file is their concatenation, read back with
``msgpack.Unpacker``. Under CURVE only the lab's own keys reach the tape, and an entry whose
``service`` is not its sender's key is refused (counted ``tape.refused``; docs/SECURITY.md).
Bytes that do not read as MessagePack are dropped with the rest of their frame (counted
``tape.unreadable``); an entry that reads but is not ``[service, ...]`` is written, for the
tape reader to skip and count.
PUSH/PULL blocks rather than drops, and the recorder is stopped last, so the tape is complete.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, BinaryIO

import msgpack
import zmq

from protocol.codec import VERSION
from services.runtime import Service, reject_logged
from services.security import frames_and_user
from services.sockets import recv_frames, stop_arrivals

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
        # A service's tape link packs a batch of entries into one frame (services/latency.py
        # ``pack``): each frame holds whole entries, one after the other.
        for frame in frames[1:]:
            data = bytes(frame)
            kept = self._entries_to_keep(data, user)
            self._file.write(data if kept is None else b"".join(kept))

    def _entries_to_keep(self, data: bytes, user: str | None) -> list[bytes] | None:
        """The parts of one frame to write, or None for all of it (the usual case): its
        entries, less those that do not speak for their sender's key (under CURVE:
        ``tape.refused``) and less bytes that do not read as whole MessagePack values (an
        invalid byte, a truncated tail: ``tape.unreadable``, dropped with the rest of the
        frame, since the tape reader resumes at the next byte and anything hidden there could
        not be attributed). Written entries are counted ``tape.entries``."""
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=len(data) + 1)
        unpacker.feed(data)
        cut: list[tuple[int, int]] = []
        start = kept = 0
        try:
            for entry in unpacker:
                end = unpacker.tell()
                if self.keys is not None and not self._is_senders(entry, user):
                    cut.append((start, end))
                else:
                    kept += 1
                start = end
        except (ValueError, TypeError, msgpack.UnpackException):
            pass  # from ``start`` on: unreadable (UnicodeDecodeError is a ValueError)
        if start < len(data):
            cut.append((start, len(data)))
            self.count("tape.unreadable")
            if reject_logged(self.counters["tape.unreadable"]):
                log.warning(
                    "%s: cannot record %d bytes of a tape frame from key %r: not MessagePack "
                    "entries (unreadable: %d)",
                    self.name,
                    len(data) - start,
                    user,
                    self.counters["tape.unreadable"],
                )
        self.count("tape.entries", kept)
        if not cut:
            return None
        parts: list[bytes] = []
        at = 0
        for begin, end in cut:
            parts.append(data[at:begin])
            at = end
        parts.append(data[at:])
        return parts

    def _is_senders(self, entry: object, user: str | None) -> bool:
        """Whether an entry speaks for its sender's key. One that is not ``[service, ...]``
        speaks for nobody: written, for the tape reader to skip and count as malformed."""
        assert self.keys is not None
        if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
            return True
        service = entry[0]
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
