"""Entry point of every role process.

``flowlab service ROLE --config RUN_DIR/config.toml --name NAME``.

Imports only the role's own module, so a process pays for what it uses (no pandas here).
"""

from __future__ import annotations

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
    config = load_run_config(config_path)
    ready = ready_file_or_env(ready_file)
    service = service_class(role)(config, name, ready_file=ready, restarts=restarts, **options)
    return uvloop.run(service.run())
