"""Entry point of every role process.

``flowlab service ROLE --config RUN_DIR/config.toml --name NAME``.

Imports only the role's own module, so a process pays for what it uses (no pandas here).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

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


def run_service(role: str, config_path: str, name: str, **options: Any) -> int:
    """Run one service until it stops; returns its exit code."""
    import uvloop

    from config.runconfig import load_run_config

    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = load_run_config(config_path)
    service = service_class(role)(config, name, **options)
    return uvloop.run(service.run())
