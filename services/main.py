"""Entry point of every role process.

``flowlab service ROLE --config RUN_DIR/config.toml --name NAME`` (compose, a user), or the
same arguments to ``python -m services.main`` (the launcher: it skips the ``flowlab`` command
line's other verbs and package metadata, about 80 ms of start-up per process).

Imports only the role's own module, so a process pays for what it uses (no pandas here).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

READY_FILE_ENV = "FLOWLAB_READY_FILE"

ROLE_CLASSES = {
    "recorder": "services.recorder:Recorder",
    "value": "services.value:ValueFeed",
    "venue": "services.venue.service:Venue",
    "darkpool": "services.darkpool.service:DarkPool",
    "sip": "services.sip.service:Sip",
    "wholesaler": "services.wholesaler.service:Wholesaler",
    "auction": "services.auction.service:AuctionHouse",
    "broker": "services.broker.service:Broker",
    "sor": "services.sor.service:Sor",
    "agents": "services.agents:Agents",
    "injector": "services.injector:Injector",
}


def add_close_after(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--close-after",
        type=float,
        default=None,
        help="the close: seconds after the last order before every order still open (resting "
        "day limits) is canceled (default: the scenario's [stream] close_after_s)",
    )


def add_service_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of one role process (``flowlab service`` and ``python -m services.main``)."""
    p.add_argument("role", help="the role, one of the scenario's (venue, broker, sor, ...)")
    p.add_argument("--config", required=True, help="the run config (RUN_DIR/config.toml)")
    p.add_argument("--name", required=True, help="the service's name in the run config")
    p.add_argument(
        "--stream",
        default=None,
        help="injector: the stream CSV (no default: required for the injector)",
    )
    p.add_argument("--target", default="broker", help="injector: the service to send to")
    p.add_argument(
        "--restart",
        type=int,
        default=0,
        help="how many times the launcher's restart policy has started this service again "
        "(default: 0, the first start; above 0 it rejoins from its snapshots)",
    )
    p.add_argument("--timeout", type=float, default=30.0, help="injector: wait for terminal states")
    p.add_argument(
        "--ready-file",
        type=Path,
        default=None,
        help="write this file once the service is ready, refresh it with every heartbeat, remove "
        "it at stop, so `flowlab ready` can probe readiness (default: $FLOWLAB_READY_FILE, "
        "else none)",
    )
    add_close_after(p)


def serve_from_args(args: argparse.Namespace) -> int:
    """Run the role process ``args`` (``add_service_arguments``) names; its exit code."""
    options = {}
    if args.role == "injector":
        if not args.stream:
            print("flowlab service injector: --stream is required", file=sys.stderr)
            return 2
        options = {
            "stream": args.stream,
            "target": args.target,
            "timeout_s": args.timeout,
            "close_after_s": args.close_after,
        }
    return run_service(
        args.role,
        args.config,
        args.name,
        ready_file=args.ready_file,
        restarts=args.restart,
        **options,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.main", description="Run one role process of a lab."
    )
    add_service_arguments(parser)
    return serve_from_args(parser.parse_args(argv))


def service_class(role: str) -> type:
    try:
        module_name, _, cls_name = ROLE_CLASSES[role].partition(":")
    except KeyError:
        raise SystemExit(
            f"cannot start service: unknown role {role!r} (known: {', '.join(ROLE_CLASSES)})"
        ) from None
    return getattr(importlib.import_module(module_name), cls_name)


def ready_file_or_env(path: Path | None) -> Path | None:
    """``path``, else ``$FLOWLAB_READY_FILE`` (the image sets it), else None."""
    if path is not None:
        return path
    env = os.environ.get(READY_FILE_ENV)
    return Path(env) if env else None


def probe_ready(path: Path | None, max_age_s: float) -> int:
    """``flowlab ready``: 0 when the service's ready file exists and its last heartbeat refresh
    is under ``max_age_s`` old; else 1 with one line saying why (a HEALTHCHECK's log)."""
    path = ready_file_or_env(path)
    if path is None:
        print(f"not ready: no ready file (give --file or set {READY_FILE_ENV})", file=sys.stderr)
        return 1
    try:
        age_s = time.time() - path.stat().st_mtime
        who = path.read_text().strip()
    except OSError:
        print(f"not ready: {path} does not exist (starting, or stopped)", file=sys.stderr)
        return 1
    if age_s > max_age_s:
        print(
            f"not ready: {who}: last heartbeat {age_s:.1f}s ago (> {max_age_s}s)", file=sys.stderr
        )
        return 1
    print(f"ready: {who}")
    return 0


def run_service(
    role: str,
    config_path: str,
    name: str,
    ready_file: Path | None = None,
    restarts: int = 0,
    **options: Any,
) -> int:
    """Run one service until it stops; returns its exit code. ``ready_file``: see
    ``Service``; default ``$FLOWLAB_READY_FILE``. ``restarts``: the launcher's restart policy
    started it again (it rejoins from its snapshots)."""
    import uvloop

    from config.runconfig import load_run_config

    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
        stream=sys.stderr,
    )
    cls = service_class(role)  # an unknown role is refused before anything is read
    config = load_run_config(config_path)
    ready = ready_file_or_env(ready_file)
    service = cls(config, name, ready_file=ready, restarts=restarts, **options)
    return uvloop.run(service.run())


if __name__ == "__main__":
    sys.exit(main())
