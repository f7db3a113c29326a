"""Bare-transport baseline for ``flowlab bench``: the lab's sockets with nothing of the lab on them.

Every role is its own OS process, started with ``python -m orchestration.bench.transport ROLE``
and run on uvloop with ``zmq.asyncio`` over loopback TCP, like the lab's services:

- ``echo``   ROUTER; sends every message back to its sender unchanged.
- ``relay``  ROUTER in front, DEALER to the echo behind; forwards both ways without decoding
             (the client's routing identity rides along as an extra envelope frame).
- ``client`` DEALER; encodes a ``SubmitOrder`` per order (the lab's payload), decodes each reply
             with the typed decoder, and measures round trips: first one order in flight
             (latency), then up to ``--window`` in flight (throughput).

Paths: 2 processes (client <-> echo) and 3 processes (client -> relay -> echo -> relay ->
client, the shape of client -> broker -> wholesaler -> broker -> client in the lab).

Servers print ``READY <endpoint>`` once bound and exit when their stdin closes, so a dead driver
never leaves them behind; the client prints one JSON line with its figures and exits. With
``--batch`` the servers drain what is queued after each awaited receive and send it on in one
multipart message (what the lab's links do on a busy link); without it they do one awaited
receive and one send per message.

The order client (``orchestration.bench.client.measure``) is shared with the lab measurement
(``orchestration.bench.lab``), so both paths are driven by the same code. ``bench_bare`` runs the
three bare paths of one transport round; ``machine_floor_us`` is the machine's wake-up yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import msgspec
import uvloop
import zmq
import zmq.asyncio

from orchestration.bench.client import (
    BENCH_IDENTITY,
    Completed,
    PathFigures,
    latency_stats,
    make_order,
    measure,
)
from protocol.codec import VERSION, Decoder, encode
from protocol.orders import SubmitOrder

READY_TIMEOUT_S = 30.0
DRAIN_BATCH = 512
T = TypeVar("T")


class BareFigures(PathFigures, frozen=True, kw_only=True):
    """The client's figures over one bare path."""

    processes: int
    batch: bool
    payload_bytes: int


class BareResult(msgspec.Struct, frozen=True, kw_only=True):
    """One transport round's bare paths: 2 and 3 processes, and 3 processes batched."""

    two: BareFigures
    three: BareFigures
    three_batched: BareFigures


# ---------------------------------------------------------------------- server roles
def echo_completed() -> Completed:
    """Order ids in a reply of the bare path (the echoed orders, decoded with the typed decoder)."""
    decode = Decoder([SubmitOrder]).decode_payload

    def completed(frames: list[bytes]) -> list[str]:
        return [decode(p).order_id for p in frames[1:]]  # type: ignore[attr-defined]

    return completed


def _watch_stdin(stop: asyncio.Event) -> None:
    """Stop when the driver closes our stdin (or dies)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096):
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)


def _drained(sock: zmq.asyncio.Socket, shadow: zmq.Socket, first: list[bytes]) -> list[list[bytes]]:
    batch = [first]
    for _ in range(DRAIN_BATCH):
        try:
            batch.append(shadow.recv_multipart(zmq.NOBLOCK))
        except zmq.Again:
            break
    return batch


def _pack(batch: list[list[bytes]], envelope_len: int) -> list[list[bytes]]:
    """Consecutive messages with the same envelope leave as one ``[envelope, VERSION, p...]``."""
    out: list[list[bytes]] = []
    for frames in batch:
        env, body = frames[:envelope_len], frames[envelope_len + 1 :]
        if out and out[-1][:envelope_len] == env:
            out[-1].extend(body)
        else:
            out.append([*env, VERSION, *body])
    return out


async def _forward(
    src: zmq.asyncio.Socket,
    dst: zmq.asyncio.Socket,
    batch: bool,
    envelope_len: int,
    transform: Callable[[list[bytes]], list[bytes]],
) -> None:
    """Move every message from ``src`` to ``dst`` (``transform`` fixes its envelope)."""
    if not batch:
        while True:
            await dst.send_multipart(transform(await src.recv_multipart()))
    shadow: zmq.Socket[bytes] = zmq.Socket.shadow(src.underlying)
    while True:
        msgs = [transform(f) for f in _drained(src, shadow, await src.recv_multipart())]
        for frames in _pack(msgs, envelope_len):
            dst.send_multipart(frames)


def _socket(ctx: zmq.asyncio.Context, kind: int) -> zmq.asyncio.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if kind == zmq.ROUTER:
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    return sock


async def _serve(tasks: Callable[[zmq.asyncio.Context], tuple[str, list]]) -> None:
    ctx = zmq.asyncio.Context()
    stop = asyncio.Event()
    _watch_stdin(stop)
    endpoint, coros = tasks(ctx)
    running = [asyncio.ensure_future(c) for c in coros]
    stopped = asyncio.ensure_future(stop.wait())
    print("READY", endpoint, flush=True)
    await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    for task in [stopped, *running]:
        task.cancel()
    results = await asyncio.gather(*running, return_exceptions=True)
    await asyncio.gather(stopped, return_exceptions=True)
    ctx.destroy(linger=0)
    for r in results:
        if isinstance(r, Exception):
            raise r


def echo_role(bind: str, batch: bool) -> None:
    def tasks(ctx: zmq.asyncio.Context) -> tuple[str, list]:
        sock = _socket(ctx, zmq.ROUTER)
        sock.bind(bind)
        # [relay id, client id, VERSION, p] or [client id, VERSION, p]: back to the same sender.
        # The envelope length is unknown here; batching packs only identical leading frames.
        return sock.last_endpoint.decode(), [_echo(sock, batch)]  # type: ignore[union-attr]

    _run(_serve(tasks))


async def _echo(sock: zmq.asyncio.Socket, batch: bool) -> None:
    if not batch:
        while True:
            await sock.send_multipart(await sock.recv_multipart())
    shadow: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
    while True:
        msgs = _drained(sock, shadow, await sock.recv_multipart())
        env_len = msgs[0].index(VERSION)
        for frames in _pack(msgs, env_len):
            sock.send_multipart(frames)


def relay_role(bind: str, upstream: str, batch: bool) -> None:
    def tasks(ctx: zmq.asyncio.Context) -> tuple[str, list]:
        front = _socket(ctx, zmq.ROUTER)
        front.bind(bind)
        back = _socket(ctx, zmq.DEALER)
        back.connect(upstream)
        # front gives [client id, VERSION, p]; back carries it as is (the echo adds/strips ours);
        # replies come back as [client id, VERSION, p] and go out of the front unchanged.
        same = list
        return front.last_endpoint.decode(), [  # type: ignore[union-attr]
            _forward(front, back, batch, 1, same),
            _forward(back, front, batch, 1, same),
        ]

    _run(_serve(tasks))


def client_role(connect: str, n_lat: int, n_thr: int, window: int, warm: int) -> None:
    async def main() -> PathFigures:
        ctx = zmq.asyncio.Context()
        sock = _socket(ctx, zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, BENCH_IDENTITY)
        sock.connect(connect)
        try:
            return await measure(
                sock, echo_completed(), n_lat=n_lat, n_thr=n_thr, window=window, warm=warm
            )
        finally:
            ctx.destroy(linger=0)

    print(msgspec.json.encode(_run(main())).decode(), flush=True)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return uvloop.run(coro)


# ---------------------------------------------------------------------- driver side
class RoleProcess:
    """One bare-transport role process (``python -m orchestration.bench.transport ...``),
    stopped by its PID."""

    def __init__(self, *args: object) -> None:
        cmd = [sys.executable, "-m", "orchestration.bench.transport", *map(str, args)]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ready_endpoint(self, timeout: float = READY_TIMEOUT_S) -> str:
        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        line = self.p.stdout.readline().strip() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(
                f"cannot start bench role (pid {self.p.pid}): said {line!r} "
                f"after {timeout:.0f}s, exit code {self.p.poll()}"
            )
        return line.split(" ", 1)[1]

    def result(self, timeout: float) -> PathFigures:
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(
                f"bench client (pid {self.p.pid}) did not finish in {timeout:.0f}s"
            ) from None
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if self.p.returncode != 0 or not lines:
            raise RuntimeError(
                f"bench client (pid {self.p.pid}) failed: rc={self.p.returncode} {out[-400:]!r}"
            )
        return msgspec.json.decode(lines[-1], type=PathFigures)

    def stop(self, grace: float = 3.0) -> None:
        """Close its stdin (servers exit), then SIGTERM, then SIGKILL, by PID."""
        if self.p.stdin is not None and not self.p.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.p.stdin.close()
        if self.p.poll() is None:
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.terminate()
                try:
                    self.p.wait(2.0)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait()
        if self.p.stdout is not None:
            self.p.stdout.close()


def run_bare(
    *,
    processes: int,
    n_lat: int,
    n_thr: int,
    window: int,
    warm: int,
    batch: bool = False,
    timeout: float = 120.0,
) -> BareFigures:
    """Round trips over a bare path of ``processes`` (2 or 3) OS processes (client's figures)."""
    if processes not in (2, 3):
        raise ValueError(f"processes: must be 2 or 3, got {processes}")
    flag = ["--batch"] if batch else []
    kids: list[RoleProcess] = []
    try:
        kids.append(RoleProcess("echo", "--bind", "tcp://127.0.0.1:*", *flag))
        target = kids[-1].ready_endpoint()
        if processes == 3:
            kids.append(RoleProcess("relay", "--bind", "tcp://127.0.0.1:*", "--to", target, *flag))
            target = kids[-1].ready_endpoint()
        client = RoleProcess(
            "client",
            "--to",
            target,
            "--n-lat",
            n_lat,
            "--n-thr",
            n_thr,
            "--window",
            window,
            "--warm",
            warm,
        )
        kids.append(client)
        result = client.result(timeout)
    finally:
        for kid in reversed(kids):
            kid.stop()
    return BareFigures(
        **msgspec.structs.asdict(result),
        processes=processes,
        batch=batch,
        payload_bytes=len(encode(make_order(0))),
    )


def bench_bare(*, n_lat: int, n_thr: int, window: int, warm: int) -> BareResult:
    """Bare 2- and 3-process paths (one send per message), and the 3-process path batched."""
    two = run_bare(processes=2, n_lat=n_lat, n_thr=n_thr, window=window, warm=warm)
    three = run_bare(processes=3, n_lat=n_lat, n_thr=n_thr, window=window, warm=warm)
    batched = run_bare(processes=3, n_lat=0, n_thr=n_thr, window=window, warm=warm, batch=True)
    return BareResult(two=two, three=three, three_batched=batched)


def machine_floor_us(n: int = 2_000) -> float:
    """p50 round trip (µs) of a 64-byte ping-pong over a socketpair with a forked child.

    A yardstick of the machine's state (two wake-ups, no zmq); call it from a process with no
    live zmq context."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        a.close()
        try:
            for _ in range(n):
                b.sendall(b.recv(64))
        finally:
            os._exit(0)
    b.close()
    samples, clock, payload = [], time.perf_counter_ns, b"x" * 64
    try:
        for _ in range(n):
            t0 = clock()
            a.sendall(payload)
            a.recv(64)
            samples.append(clock() - t0)
    finally:
        a.close()
        os.waitpid(pid, 0)
    p50 = latency_stats(samples).p50_us
    assert p50 is not None
    return float(p50)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m orchestration.bench.transport", description=__doc__.splitlines()[0]
    )
    ap.add_argument("role", choices=["echo", "relay", "client", "run"])
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    ap.add_argument("--to", help="relay: the echo endpoint; client: the first hop")
    ap.add_argument("--batch", action="store_true", help="servers: drain and pack frames")
    ap.add_argument("--n-lat", type=int, default=2000)
    ap.add_argument("--n-thr", type=int, default=10000)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--warm", type=int, default=200)
    ap.add_argument("--processes", type=int, default=3, help="run: 2 or 3")
    a = ap.parse_args(argv)
    if a.role == "echo":
        echo_role(a.bind, a.batch)
    elif a.role == "relay":
        if not a.to:
            ap.error("relay needs --to")
        relay_role(a.bind, a.to, a.batch)
    elif a.role == "client":
        if not a.to:
            ap.error("client needs --to")
        client_role(a.to, a.n_lat, a.n_thr, a.window, a.warm)
    else:
        res = run_bare(
            processes=a.processes,
            n_lat=a.n_lat,
            n_thr=a.n_thr,
            window=a.window,
            warm=a.warm,
            batch=a.batch,
        )
        print(json.dumps(msgspec.to_builtins(res), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
