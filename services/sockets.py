"""Sockets whose arrivals go straight to a callback, without a future per receive.

pyzmq's asyncio socket serves every awaited receive with a future: a non-blocking try, a
future and its callbacks, the socket registered for reading, the loop's wake-up, the receive,
the result, the task resumed, each with Python ``enum.Flag`` arithmetic on the way. A service
loop that then drains what else is queued through a synchronous shadow also meets the race
where the awaited receive finds its message already taken (``zmq.Again`` raised into the
await). Measured on this machine (``docs/PERFORMANCE.md``, "Arrivals without a future"), that
machinery cost more CPU per message than reading and handling the message.

``ServedSocket`` is pyzmq's asyncio socket (sends, parked sends, awaited receives all work as
before) with one addition: ``on_arrival(sock, reader)`` makes the socket's readiness call
``reader()`` directly, and the reader takes what is queued with the compiled receive. The
socket's descriptor is libzmq's, edge-triggered: after each reader call and after every send
on the socket (pyzmq's own, and ``services.latency.Link``'s direct send) the socket's events
are looked at again and the reader called on the loop's next turn while messages wait, so an
arrival whose edge a send consumed is never stranded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio
from zmq.backend import Socket as _CompiledSocket

# pyzmq's compiled calls and plain integer constants: the Python layer over them converts
# every flag and option through ``enum`` (a measurable cost per message)
_RECV = _CompiledSocket.recv
_GET = _CompiledSocket.get
_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)
_POLLOUT = int(zmq.POLLOUT)

Reader = Callable[[], None]


def recv_frames(shadow: zmq.Socket[Any], copy: bool = True) -> list[Any]:
    """The next whole multipart message of ``shadow`` (a synchronous socket), without
    blocking: ``zmq.Again`` when none is queued. libzmq delivers a multipart message whole, so
    once its first frame is read the rest is there."""
    parts = [_RECV(shadow, _NOBLOCK, copy)]
    while _GET(shadow, _RCVMORE):
        parts.append(_RECV(shadow, _NOBLOCK, copy))
    return parts


def pending_events(shadow: zmq.Socket[Any]) -> int:
    """The socket's ``ZMQ_EVENTS`` as a plain int (reading them also processes libzmq's
    pending commands)."""
    return int(_GET(shadow, _EVENTS))


class ServedSocket(zmq.asyncio.Socket):
    """pyzmq's asyncio socket; with a reader installed (``on_arrival``), arrivals call it."""

    _reader: Reader | None = None

    # pyzmq's internals (``_shadow_sock``, ``_state``...) are untyped: ``me`` is ``self``, as Any
    def _init_io_state(self, io_loop: Any = None) -> None:
        # pyzmq registers ``lambda: self._handle_events(0, 0)``; the method itself saves a call
        # per wake-up and keeps a pyzmq frame off the root of every sample of the services'
        # work (orchestration/bench/profile.py files stacks with one under "zmq")
        me: Any = self
        me._get_selector(io_loop).add_reader(me._fd, self._handle_events)

    def _handle_events(self, fd: int = 0, events: int = 0) -> None:
        me: Any = self
        reader = self._reader
        if reader is None:
            super()._handle_events(fd, events)  # type: ignore[misc]
            return
        shadow = me._shadow_sock
        if shadow.closed:
            return
        zmq_events = pending_events(shadow)
        if zmq_events & _POLLIN:
            reader()
            zmq_events = pending_events(shadow)
        # pyzmq's send handler also drops POLLOUT from the watched state once no send is
        # parked (one canceled or timed out too): called whenever POLLOUT is watched, else
        # a stale POLLOUT would reschedule this for ever
        if int(me._state) & _POLLOUT and zmq_events & _POLLOUT:
            me._handle_send()
        self._schedule_remaining_events()

    def _add_recv_event(self, *args: Any, **kwargs: Any) -> Any:
        # an awaited receive or poll would race the reader for the socket's messages (and
        # pyzmq would drop POLLIN from the watched state): refused
        if self._reader is not None:
            raise RuntimeError("a served socket's arrivals go to its reader: nothing may await it")
        return super()._add_recv_event(*args, **kwargs)  # type: ignore[misc]

    def _add_send_event(self, *args: Any, **kwargs: Any) -> Any:
        # pyzmq's asyncio send wakes awaited receives after a send that ends at once, not a
        # reader: look at the events after every send here too
        sent = super()._add_send_event(*args, **kwargs)  # type: ignore[misc]
        if self._reader is not None:
            self._schedule_remaining_events()
        return sent

    def _schedule_remaining_events(self, events: int | None = None) -> None:
        # pyzmq's, with integer arithmetic: called after every send and every wake-up
        me: Any = self
        state = int(me._state)
        if not state:
            return
        if events is None:
            events = pending_events(me._shadow_sock)
        if int(events) & state:
            me._call_later(0, self._handle_events)


class Context(zmq.asyncio.Context):
    """An asyncio context whose sockets are ``ServedSocket``s."""

    _socket_class = ServedSocket


def on_arrival(sock: zmq.asyncio.Socket, reader: Reader) -> None:
    """From now on ``reader()`` is called whenever ``sock`` has messages queued; it should
    take them with ``recv_frames`` (as many as it likes: it is called again while some
    remain, after the loop's other work had a turn)."""
    if not isinstance(sock, ServedSocket):
        raise TypeError(f"on_arrival needs a ServedSocket (services.sockets.Context), not {sock!r}")
    if sock._reader is not None:
        raise RuntimeError(f"{sock!r} already has a reader")
    sock._reader = reader
    me: Any = sock
    me._add_io_state(zmq.POLLIN)  # registers the descriptor and looks at once


def stop_arrivals(sock: zmq.asyncio.Socket) -> None:
    """No more calls to the socket's reader (it is left as pyzmq's plain asyncio socket)."""
    if isinstance(sock, ServedSocket) and sock._reader is not None:
        sock._reader = None
        me: Any = sock
        if not sock.closed and not me._recv_futures:
            me._drop_io_state(zmq.POLLIN)


def wakes_a_reader(sock: Any) -> bool:
    """Whether a send on ``sock`` must be followed by a look at its events: a receive is
    awaited on it, or a reader is installed (the descriptor is edge-triggered and a send can
    consume an arrival's edge). (Not ``getattr(sock, "_reader", None)``: on pyzmq's plain
    socket an unknown attribute is first looked up as a socket option, several µs a send.)"""
    if sock._recv_futures:
        return True
    return isinstance(sock, ServedSocket) and sock._reader is not None
